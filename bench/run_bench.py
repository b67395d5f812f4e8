"""Benchmarks that print figures: ml_pipeline end to end on make_sales.py data, against the noise floor,
and (with --peer) against the original design's Spark code on the same data, back to back.

usage: python bench/run_bench.py [--sizes S M L] [--peer] [--profile full]

For each size: generate the data with ../shared/bench/make_sales.py (once, cached in bench/out/data),
land it in a fresh warehouse's raw-data, run `dagster job execute -m forecast_assets -j ml_pipeline` over
every week of the data in one run, and print per-asset wall times (from the run's event log), the run's
wall time, peak RSS of its process tree and JVMs started, every model's and baseline's holdout RMSE, WAPE,
MASE, and the best RMSE over the noise floor. Targets are printed with their verdicts, never asserted.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED_BENCH = (REPO / ".." / "shared" / "bench").resolve()
OUT = REPO / "bench" / "out"
SIZES = {"S": (20, 730), "M": (100, 1095), "L": (1000, 1095)}
PYTHON = sys.executable


def generate(size: str) -> Path:
    products, days = SIZES[size]
    target = OUT / "data" / f"sales_{size}.parquet"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                PYTHON,
                str(SHARED_BENCH / "make_sales.py"),
                str(target),
                "--products",
                str(products),
                "--days",
                str(days),
            ],
            check=True,
        )
    return target


class TreeSampler(threading.Thread):
    """Samples the summed RSS of a process tree (and which of its processes are JVMs) every 0.5 s."""

    def __init__(self, root_pid: int):
        super().__init__(daemon=True)
        self.root, self.peak_rss, self.jvms, self.done = root_pid, 0, set(), False

    def _children(self) -> dict[int, int]:
        parents = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                    parents[int(entry.name)] = int(fields[1])
                except (OSError, IndexError):
                    continue
        tree, frontier = {self.root}, [self.root]
        while frontier:
            pid = frontier.pop()
            for child, parent in parents.items():
                if parent == pid and child not in tree:
                    tree.add(child)
                    frontier.append(child)
        return {pid: parents.get(pid, 0) for pid in tree}

    def run(self) -> None:
        while not self.done:
            total = 0
            for pid in self._children():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    total += (
                        int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) * 1024
                    )
                    command = Path(f"/proc/{pid}/cmdline").read_bytes()
                    # spark-submit first runs a short-lived launcher JVM that only prints the real command
                    if Path(f"/proc/{pid}/exe").resolve().name == "java" and b"launcher.Main" not in command:
                        self.jvms.add(pid)
                except (OSError, StopIteration):
                    continue
            self.peak_rss = max(self.peak_rss, total)
            time.sleep(0.5)


def timed(command: list[str], env: dict, log: Path) -> tuple[float, int, int, int]:
    """Run a command; return wall seconds, peak RSS of its tree, JVMs started, exit code."""
    with log.open("w") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        sampler = TreeSampler(process.pid)
        sampler.start()
        code = process.wait()
        sampler.done = True
        sampler.join()
    return time.perf_counter() - started, sampler.peak_rss, len(sampler.jvms), code


def week_range(sales: Path) -> dict[str, str]:
    from forecast_assets.partitions import weekly_partitions

    dates = pd.read_parquet(sales, columns=["data_venda"])["data_venda"]
    first, last = pd.Timestamp(dates.min()), pd.Timestamp(dates.max())
    keys = [
        k for k in weekly_partitions.get_partition_keys() if first - pd.Timedelta(days=6) <= pd.Timestamp(k) <= last
    ]
    return {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}


def step_times(home: Path) -> dict[str, float]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs(limit=1)
        stats = instance.get_run_step_stats(run.run_id)
        return {s.step_key: (s.end_time or 0) - (s.start_time or 0) for s in stats}


def noise_floor(sales: Path, report: dict) -> float:
    expected = pd.read_parquet(str(sales) + ".expected.parquet", columns=["data_venda", "oracle_var"])
    first, last = pd.Timestamp(report["holdout"]["first_date"]), pd.Timestamp(report["holdout"]["last_date"])
    days = pd.to_datetime(expected["data_venda"])
    return float(np.sqrt(expected.loc[(days >= first) & (days <= last), "oracle_var"].mean()))


def run_ours(size: str, profile: str) -> dict:
    sales = generate(size)
    work = OUT / size
    shutil.rmtree(work, ignore_errors=True)
    (work / "home").mkdir(parents=True)
    (work / "warehouse" / "raw-data").mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", work / "home" / "dagster.yaml")
    shutil.copy(sales, work / "warehouse" / "raw-data" / "sales.parquet")
    config = work / "run.yaml"
    config.write_text(
        json.dumps(
            {
                "ops": {
                    m: {"config": {"profile": profile}}
                    for m in ("random_forest_model", "linear_regression_model", "gradient_boosting_model")
                }
            }
        )
    )
    env = {
        **os.environ,
        "DAGSTER_HOME": str(work / "home"),
        "FORECAST_STORAGE": "local",
        "FORECAST_WAREHOUSE": str(work / "warehouse"),
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    command = [
        str(Path(PYTHON).parent / "dagster"),
        "job",
        "execute",
        "-m",
        "forecast_assets",
        "-j",
        "ml_pipeline",
        "-c",
        str(config),
        "--tags",
        json.dumps(week_range(sales)),
    ]
    wall, rss, jvms, code = timed(command, env, work / "run.log")
    result = {"size": size, "wall_s": wall, "peak_rss_gb": rss / 2**30, "jvms": jvms, "ok": code == 0}
    if code != 0:
        print(f"[{size}] ml_pipeline FAILED (exit {code}); see {work / 'run.log'}")
        return result
    os.environ["DAGSTER_HOME"] = str(work / "home")
    result["steps"] = step_times(work / "home")
    manifest = json.loads((work / "warehouse" / "ml-experiments" / "model_comparison" / "_manifest.json").read_text())
    report = json.loads((work / "warehouse" / "ml-experiments" / manifest["current"]["__all__"]["key"]).read_text())
    result["report"] = report
    result["noise_floor"] = noise_floor(sales, report)
    result["rows"] = len(pd.read_parquet(sales, columns=["produto"]))
    return result


def print_ours(r: dict) -> None:
    print(
        f"\n=== {r['size']}: {SIZES[r['size']][0]} products x {SIZES[r['size']][1]} days, {r.get('rows', '?')} rows ==="
    )
    print(
        f"run wall time {r['wall_s']:.1f} s, peak RSS {r['peak_rss_gb']:.2f} GB, JVMs started {r['jvms']}, ok={r['ok']}"
    )
    if not r["ok"]:
        return
    for step, seconds in sorted(r["steps"].items(), key=lambda kv: -kv[1]):
        print(f"  {step:<55}{seconds:>8.1f} s")
    report, floor = r["report"], r["noise_floor"]
    print(f"  {'holdout':<20}{'rmse':>10}{'wape':>8}{'mase':>8}{'rmse/floor':>12}")
    for group in ("models", "baselines"):
        for name, entry in report[group].items():
            m = entry["metrics"]
            print(f"  {name:<20}{m['rmse']:>10.3f}{m['wape']:>8.3f}{m['mase']:>8.3f}{m['rmse'] / floor:>12.3f}")
    best = report["models"][report["best_model"]]["metrics"]["rmse"]
    print(f"  noise floor {floor:.3f}; best ({report['best_model']}) rmse / floor = {best / floor:.3f}")


def run_peer(size: str) -> dict:
    sales = generate(size)
    work = OUT / f"peer_{size}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    command = [
        PYTHON,
        str(SHARED_BENCH / "original_workflow.py"),
        str(sales),
        str(work / "out"),
        "--split",
        "time",
        "--grid",
        "original",
        "--driver-memory",
        "6g",
    ]
    wall, rss, jvms, code = timed(command, {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1"}, work / "run.log")
    lines = [line for line in (work / "run.log").read_text().splitlines() if line.startswith("{")]
    return {
        "wall_s": wall,
        "peak_rss_gb": rss / 2**30,
        "jvms": jvms,
        "ok": code == 0,
        "result": json.loads(lines[-1]) if lines else None,
    }


def defs_load() -> tuple[float, bool]:
    code = (
        "import time; t=time.perf_counter(); import forecast_assets; forecast_assets.defs.resolve_asset_graph();"
        "from pyspark import SparkContext; print(time.perf_counter()-t, SparkContext._gateway is None)"
    )
    out = subprocess.run([PYTHON, "-W", "ignore", "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    seconds, no_jvm = out.stdout.split()
    return float(seconds), no_jvm == "True"


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="*", default=["S", "M", "L"], choices=list(SIZES))
    ap.add_argument("--peer", action="store_true", help="run the original workflow on M back to back with ours")
    ap.add_argument("--profile", default="full", choices=["full", "small"])
    a = ap.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB; "
        f"{time.strftime('%Y-%m-%d %H:%M %Z')}"
    )
    load_s, no_jvm = defs_load()
    print(
        f"forecast_assets.defs loads in {load_s:.2f} s, JVM started: {not no_jvm}  "
        f"[target <= 3 s and no JVM: {verdict(load_s <= 3 and no_jvm)}]"
    )
    results = {}
    sizes = ["M"] if a.peer else a.sizes
    for size in sizes:
        results[size] = run_ours(size, a.profile)
        print_ours(results[size])
    if "M" in results and results["M"]["ok"]:
        m = results["M"]
        ratio = m["report"]["models"][m["report"]["best_model"]]["metrics"]["rmse"] / m["noise_floor"]
        print(f"\nM best rmse / noise floor = {ratio:.3f}  [target <= 1.10: {verdict(ratio <= 1.10)}]")
    if "L" in results and "M" in results:
        l_ok = results["L"]["ok"]
        ratio = results["L"]["wall_s"] / results["M"]["wall_s"]
        print(
            f"L completed: {l_ok}, peak RSS {results['L']['peak_rss_gb']:.2f} GB, L/M time {ratio:.2f}  "
            f"[target: no OOM within 24 GB and <= 8x M: {verdict(l_ok and ratio <= 8)}]"
        )
    if a.peer:
        peer = run_peer("M")
        m = results["M"]
        print("\n=== original workflow on M (--split time --grid original --driver-memory 6g) ===")
        print(f"wall {peer['wall_s']:.1f} s, peak RSS {peer['peak_rss_gb']:.2f} GB, ok={peer['ok']}")
        if peer["result"]:
            print(json.dumps(peer["result"]["timings"]))
            peer_best = min(v["rmse"] for v in peer["result"]["results"].values())
            ours_best = m["report"]["models"][m["report"]["best_model"]]["metrics"]["rmse"]
            speed = m["wall_s"] / peer["wall_s"]
            print(f"ours / original wall time = {speed:.2f}  [target <= 0.5: {verdict(speed <= 0.5)}]")
            expected = pd.read_parquet(str(generate("M")) + ".expected.parquet", columns=["data_venda", "oracle_var"])
            days = pd.to_datetime(expected["data_venda"])
            peer_floor = float(np.sqrt(expected.loc[days >= days.quantile(0.8), "oracle_var"].mean()))
            ours_ratio, peer_ratio = ours_best / m["noise_floor"], peer_best / peer_floor
            print(
                f"best rmse / noise floor of its own holdout: ours {ours_ratio:.3f} (last 4 weeks), original "
                f"{peer_ratio:.3f} (last 20% of dates, floor {peer_floor:.3f}); ratio ours / original = "
                f"{ours_ratio / peer_ratio:.3f} (raw rmse ratio {ours_best / peer_best:.3f})"
            )


if __name__ == "__main__":
    main()
