"""Benchmarks that print figures: ml_pipeline end to end on make_sales.py data (retail and marketplace profiles),
against the baselines and the oracle's realized error on the same rows, and (with --peer) against the original
design's Spark code on the same data and the same product-days, back to back.

usage: python bench/run_bench.py [--sizes M] [--profiles retail marketplace] [--peer] [--profile full]

For each profile and size: generate the data with ../shared/bench/make_sales.py (once, cached in bench/out/data),
land it in a fresh warehouse's raw-data, run `dagster job execute -m forecast_assets -j ml_pipeline` over every
week of the data in one run, and print per-asset wall times (from the run's event log), the run's wall time,
peak RSS of its process tree and JVMs started; then, per horizon and overall, every model's and baseline's
WAPE and RMSE, its ratio to the best baseline (on the gate metric) and its RMSE over the oracle's realized RMSE
on the very holdout rows it was scored on (the sidecar's oracle_mean). Targets are printed with verdicts.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from forecast_assets.settings import Settings  # noqa: E402
from forecast_assets.training.assets import chosen

REPO = Path(__file__).resolve().parents[1]
SHARED_BENCH = (REPO / ".." / "shared" / "bench").resolve()
OUT = REPO / "bench" / "out"
SIZES = {"S": (20, 730), "M": (100, 1095), "L": (1000, 1095)}
PROFILES = ("retail", "marketplace")
PYTHON = sys.executable


def generate(size: str, profile: str = "retail") -> Path:
    products, days = SIZES[size]
    target = OUT / "data" / f"sales_{profile}_{size}.parquet"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        command = [PYTHON, str(SHARED_BENCH / "make_sales.py"), str(target), "--products", str(products)]
        command += ["--days", str(days), "--profile", profile]
        subprocess.run(command, check=True)
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


def first_day(sales: Path):
    return pd.Timestamp(pd.read_parquet(sales, columns=["data_venda"])["data_venda"].min()).date()


def week_range(sales: Path) -> dict[str, str]:
    from forecast_assets.partitions import weekly_partitions

    weeks = weekly_partitions(Settings(history_start=first_day(sales)).first_week)

    dates = pd.read_parquet(sales, columns=["data_venda"])["data_venda"]
    first, last = pd.Timestamp(dates.min()), pd.Timestamp(dates.max())
    keys = [k for k in weeks.get_partition_keys() if first - pd.Timedelta(days=6) <= pd.Timestamp(k) <= last]
    return {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}


def step_times(home: Path) -> dict[str, float]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs(limit=1)
        stats = instance.get_run_step_stats(run.run_id)
        return {s.step_key: (s.end_time or 0) - (s.start_time or 0) for s in stats}


def current_version(warehouse: Path, bucket: str, asset: str) -> Path:
    manifest = json.loads((warehouse / bucket / asset / "_manifest.json").read_text())
    return warehouse / bucket / manifest["current"]["__all__"]["key"]


def holdout_rows(warehouse: Path) -> pd.DataFrame:
    """The holdout rows every model and baseline was scored on."""
    rows = pd.read_parquet(
        current_version(warehouse, "ml-data", "feature_dataset"),
        columns=["produto", "origin_date", "horizon", "forecast_date", "target", "split"],
    )
    rows = rows[rows["split"] == "holdout"].drop(columns="split")
    rows["forecast_date"] = pd.to_datetime(rows["forecast_date"]).dt.date
    rows["origin_date"] = pd.to_datetime(rows["origin_date"]).dt.date
    return rows


def oracle_rows(rows: pd.DataFrame, expected_file: Path) -> pd.DataFrame:
    """The holdout rows with the oracle's expected value for each (make_sales.py's sidecar)."""
    expected = pd.read_parquet(expected_file, columns=["produto", "data_venda", "oracle_mean"])
    expected["forecast_date"] = pd.to_datetime(expected["data_venda"]).dt.date
    return rows.merge(expected[["produto", "forecast_date", "oracle_mean"]], on=["produto", "forecast_date"])


def rmse(actual, predicted) -> float:
    return float(np.sqrt(np.mean((np.asarray(actual) - np.asarray(predicted)) ** 2)))


def fresh_warehouse(work: Path, sales: Path) -> dict:
    """An empty DAGSTER_HOME and local warehouse under `work` with `sales` landed in raw-data; the environment
    of a run against them (the history starting at the data's first day)."""
    shutil.rmtree(work, ignore_errors=True)
    (work / "home").mkdir(parents=True)
    (work / "warehouse" / "raw-data").mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", work / "home" / "dagster.yaml")
    shutil.copy(sales, work / "warehouse" / "raw-data" / "sales.parquet")
    return {
        **os.environ,
        "DAGSTER_HOME": str(work / "home"),
        "FORECAST_STORAGE": "local",
        "FORECAST_WAREHOUSE": str(work / "warehouse"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "FORECAST_HISTORY_START": str(first_day(sales)),
    }


def run_ours(size: str, profile: str, grid: str, sales: Path | None = None) -> dict:
    """ml_pipeline over every week of `sales` (default: make_sales.py's `profile` at `size`) in a fresh
    warehouse, the history starting at the data's first day."""
    sales = sales or generate(size, profile)
    work = OUT / f"{profile}_{size}"
    env = fresh_warehouse(work, sales)
    config = work / "run.yaml"
    config.write_text(
        json.dumps(
            {
                "ops": {c.asset_name: {"config": {"profile": grid}} for c in chosen(Settings())},
            }
        )
    )
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
    result = {
        "size": size,
        "profile": profile,
        "sales": sales,
        "wall_s": wall,
        "peak_rss_gb": rss / 2**30,
        "jvms": jvms,
    }
    result["ok"] = code == 0
    if code != 0:
        print(f"[{profile} {size}] ml_pipeline FAILED (exit {code}); see {work / 'run.log'}")
        return result
    os.environ["DAGSTER_HOME"] = str(work / "home")
    result["steps"] = step_times(work / "home")
    result["report"] = json.loads(current_version(work / "warehouse", "ml-experiments", "model_comparison").read_text())
    result["holdout"] = holdout_rows(work / "warehouse")
    expected = Path(str(sales) + ".expected.parquet")
    result["oracle"] = oracle_rows(result["holdout"], expected) if expected.exists() else None
    result["rows"] = len(pd.read_parquet(sales, columns=["produto"]))
    return result


def print_ours(r: dict) -> None:
    products, days = SIZES.get(r["size"], ("?", "?"))
    print(f"\n=== {r['profile']} {r['size']}: {products} products x {days} days, {r.get('rows', '?')} rows ===")
    print(
        f"run wall time {r['wall_s']:.1f} s, peak RSS {r['peak_rss_gb']:.2f} GB, JVMs started {r['jvms']}, ok={r['ok']}"
    )
    if not r["ok"]:
        return
    for step, seconds in sorted(r["steps"].items(), key=lambda kv: -kv[1]):
        print(f"  {step:<55}{seconds:>8.1f} s")
    report, oracle = r["report"], r["oracle"]
    gate = report["gate"]
    metric = gate["metric"]
    horizons = [str(h) for h in range(1, report["holdout"]["horizon_days"] + 1)]
    if oracle is None:  # real data: no oracle
        print(f"  holdout: {len(r['holdout'])} rows; gate: {gate['description']}")
        return
    oracle_rmse = {h: rmse(g["target"], g["oracle_mean"]) for h, g in oracle.groupby(oracle["horizon"].astype(str))}
    oracle_rmse["all"] = rmse(oracle["target"], oracle["oracle_mean"])
    oracle_wape = float(np.abs(oracle["target"] - oracle["oracle_mean"]).sum() / oracle["target"].abs().sum())
    print(
        f"  holdout: {len(report['holdout']['origins'])} origins x {report['holdout']['horizon_days']} days, "
        f"{len(oracle)} rows; gate metric {metric}, best baseline {gate['best_baseline']}; "
        f"oracle realized rmse {oracle_rmse['all']:.3f}, wape {oracle_wape:.3f}"
    )
    print(f"  {'':<22}{'wape':>7}{'rmse':>9}{'vs best':>9}{'vs oracle':>10}   rmse/oracle by horizon 1..H")
    entries = {**report["models"], **report["baselines"]}
    for name, entry in sorted(entries.items(), key=lambda kv: kv[1]["origin_mean"][metric]):
        m = entry["origin_mean"]
        by_h = " ".join(f"{entry['by_horizon'][h]['rmse'] / oracle_rmse[h]:.2f}" for h in horizons)
        print(
            f"  {name:<22}{m['wape']:>7.3f}{m['rmse']:>9.3f}{entry['ratio_to_best_baseline']:>8.3f}x"
            f"{entry['metrics']['rmse'] / oracle_rmse['all']:>9.3f}x   {by_h}"
        )
    print(f"  gate: {gate['description']}")


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
        "work": work,
        "wall_s": wall,
        "peak_rss_gb": rss / 2**30,
        "jvms": jvms,
        "ok": code == 0,
        "result": json.loads(lines[-1]) if lines else None,
    }


def peer_on_our_rows(peer: dict, ours: dict) -> dict:
    """The original's best model on our next-day holdout rows (horizon 1: the Mondays after each origin), every
    product-day zero-filled: its forecast for day D is its prediction on the product's row of D - 1, and zero
    where it has none (it forecasts only products that sold the day before)."""
    from pyspark.ml.util import DefaultParamsReader
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.driver.memory", "4g")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    results = peer["result"]["results"]
    best = min(results, key=lambda name: results[name]["rmse"])
    model = DefaultParamsReader.loadParamsInstance(str(peer["work"] / "out" / f"{best}_model"), spark)
    data = spark.read.parquet(str(peer["work"] / "out" / "features_dataset"))
    predicted = (
        model.transform(data)
        .select("produto", F.date_add(F.to_date("data_venda"), 1).alias("forecast_date"), "prediction")
        .toPandas()
    )
    spark.stop()
    rows = ours["oracle"][ours["oracle"]["horizon"] == 1].merge(predicted, on=["produto", "forecast_date"], how="left")
    covered = rows["prediction"].notna().mean()
    rows["prediction"] = rows["prediction"].fillna(0.0)
    oracle = rmse(rows["target"], rows["oracle_mean"])
    wape = float(np.abs(rows["target"] - rows["prediction"]).sum() / rows["target"].abs().sum())
    return {
        "model": best,
        "rows": len(rows),
        "covered": covered,
        "rmse": rmse(rows["target"], rows["prediction"]),
        "wape": wape,
        "oracle_rmse": oracle,
    }


def run_peer_libraries(name: str, sales: Path) -> dict | None:
    """../shared/bench/peers.py (statsforecast and mlforecast/LightGBM, in their own cached virtualenv) on the
    same data: each method refitted at each of our holdout origins, scored on the rows our protocol keeps."""
    python = subprocess.run(
        [str(REPO / "scripts" / "build-peer-venv.sh")], check=True, capture_output=True, text=True
    ).stdout.strip()
    out = OUT / "peers"
    out.mkdir(parents=True, exist_ok=True)
    command = [python, str(SHARED_BENCH / "peers.py"), str(sales), "--name", name, "--out", str(out)]
    command += ["--threads", "1"]  # its fallback model does not pickle for n_jobs > 1
    expected = Path(str(sales) + ".expected.parquet")
    if expected.exists():
        command += ["--sidecar", str(expected)]
    log = out / f"{name}.log"
    with log.open("w") as sink:
        code = subprocess.run(command, stdout=sink, stderr=subprocess.STDOUT, env=os.environ).returncode
    if code != 0:
        print(f"[{name}] peers.py FAILED (exit {code}); see {log}")
        return None
    return {
        "results": json.loads((out / f"{name}_results.json").read_text()),
        "rows": pd.read_parquet(out / f"{name}_rows.parquet"),
    }


def same_rows(ours: dict, peers: dict) -> str:
    """Whether the peers were scored on exactly our holdout rows, with the same actual values."""
    mine = ours["holdout"].rename(columns={"origin_date": "origin", "forecast_date": "date"})
    theirs = peers["rows"][["produto", "origin", "date", "actual"]].copy()
    theirs["origin"], theirs["date"] = pd.to_datetime(theirs["origin"]).dt.date, pd.to_datetime(theirs["date"]).dt.date
    theirs["produto"] = theirs["produto"].astype(str)
    joined = mine.merge(theirs, on=["produto", "origin", "date"], how="outer", indicator=True)
    both = joined["_merge"] == "both"
    differ = float((joined.loc[both, "target"] - joined.loc[both, "actual"]).abs().max() or 0.0)
    return (
        f"{int(both.sum())} rows in both, {int((joined['_merge'] == 'left_only').sum())} only ours, "
        f"{int((joined['_merge'] == 'right_only').sum())} only the peers'; actual values differ by at most {differ:.2g}"
    )


def print_peer_table(name: str, ours: dict, peers: dict | None) -> dict:
    """One table: every candidate, baseline and peer method on the same rows, by RMSE averaged over the origins;
    returns the figures the targets read."""
    report = ours["report"]
    gate = report["gate"]
    served = gate["best_model"] if gate["passed"] else (gate.get("best_baseline") or "?")

    def row(name: str, kind: str, origin_mean: dict, pooled: dict, seconds: float | None) -> tuple:
        return (name, kind, origin_mean["rmse"], pooled["wape"], pooled["weekly_wape"], seconds)

    rows = []
    for kind, entries in (("candidate", report["models"]), ("baseline", report["baselines"])):
        for model, entry in entries.items():
            seconds = entry.get("training_seconds") if kind == "candidate" else 0.0
            rows.append(row(model, kind, entry["origin_mean"], entry["metrics"], seconds))
    if peers:
        for method, r in peers["results"]["results"].items():
            if method != "zero":
                kind = "oracle" if method == "oracle" else "peer"
                rows.append(row(method, kind, r["origin_mean"], r["pooled"], r["wall_s"] if kind == "peer" else None))
    rows.sort(key=lambda row: row[2])
    print(f"\n=== {name}: candidates, baselines and peer libraries on the same holdout rows ===")
    if peers:
        print(f"  rows: {same_rows(ours, peers)}")
    else:
        print("  (no peer results)")
    print(f"  {'method':<28}{'kind':<11}{'rmse (origin mean)':>19}{'wape':>8}{'weekly wape':>13}{'time s':>9}")
    for model, kind, value, wape, weekly, seconds in rows:
        mark = "  <- serves" if model == served else ""
        shown = "" if seconds is None else f"{seconds:.1f}"
        print(f"  {model:<28}{kind:<11}{value:>19.3f}{wape:>8.4f}{weekly:>13.4f}{shown:>9}{mark}")
    figures = {"served": served, "served_rmse": next(r[2] for r in rows if r[0] == served)}
    peer_rows = [r for r in rows if r[1] == "peer"]
    if peer_rows:
        best_peer = peer_rows[0]
        figures["best_peer"], figures["best_peer_rmse"] = best_peer[0], best_peer[2]
        ratio = figures["served_rmse"] / best_peer[2]
        print(
            f"  what serves ({served}) / best peer ({best_peer[0]}) = {ratio:.3f}  "
            f"[target <= 1: {verdict(ratio <= 1.0)}]"
        )
        best_baseline = min((r for r in rows if r[1] == "baseline"), key=lambda r: r[2])
        if best_peer[2] < 0.98 * best_baseline[2]:
            beats = figures["served_rmse"] < best_peer[2]
            print(
                f"  the best peer beats the best baseline ({best_baseline[0]}) by "
                f"{1 - best_peer[2] / best_baseline[2]:.1%}: what serves beats it too  [{verdict(beats)}]"
            )
    oracle = [r for r in rows if r[1] == "oracle"]
    if oracle:
        ratio = figures["served_rmse"] / oracle[0][2]
        figures["oracle_ratio"] = ratio
        print(f"  what serves / the oracle's realized rmse (origin mean) = {ratio:.3f}")
    return figures


def run_original(retail: dict) -> dict | None:
    """The original design's workflow on retail M, right after ours (back to back: the wall-time ratio)."""
    return run_peer("M") if retail["ok"] else None


def print_original(retail: dict, peer: dict) -> None:
    print("\n=== original workflow on retail M (--split time --grid original --driver-memory 6g) ===")
    print(f"wall {peer['wall_s']:.1f} s, peak RSS {peer['peak_rss_gb']:.2f} GB, ok={peer['ok']}")
    if peer["result"]:
        print(json.dumps(peer["result"]["timings"]))
        speed = retail["wall_s"] / peer["wall_s"]
        print(
            f"ours / original wall time = {speed:.3f}  [the accuracy issue's budget <= 0.55: "
            f"{verdict(speed <= 0.55)}; the performance target <= 0.40: {verdict(speed <= 0.40)}]"
        )
        same = peer_on_our_rows(peer, retail)
        report = retail["report"]
        print(
            f"same product-days (our {same['rows']} next-day holdout rows, zero-filled; the original has a "
            f"forecast for {same['covered']:.1%} of them, zero elsewhere); "
            f"oracle realized rmse {same['oracle_rmse']:.3f}:"
        )
        print(
            f"  original {same['model']:<22} rmse {same['rmse']:.3f} "
            f"({same['rmse'] / same['oracle_rmse']:.3f}x oracle), wape {same['wape']:.3f}"
        )
        for name, entry in report["models"].items():
            h1 = entry["by_horizon"]["1"]
            print(
                f"  ours     {name:<22} rmse {h1['rmse']:.3f} "
                f"({h1['rmse'] / same['oracle_rmse']:.3f}x oracle), wape {h1['wape']:.3f}"
            )


def defs_load() -> tuple[float, bool]:
    code = (
        "import time; t=time.perf_counter(); import forecast_assets; forecast_assets.defs().resolve_asset_graph();"
        "from pyspark import SparkContext; print(time.perf_counter()-t, SparkContext._gateway is None)"
    )
    out = subprocess.run([PYTHON, "-W", "ignore", "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    seconds, no_jvm = out.stdout.split()
    return float(seconds), no_jvm == "True"


def verdict(ok: bool) -> str:
    return "MET" if ok else "NOT MET"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="*", default=["M"], choices=list(SIZES))
    ap.add_argument("--profiles", nargs="*", default=list(PROFILES), choices=list(PROFILES))
    ap.add_argument(
        "--peer",
        action="store_true",
        help="the original workflow on retail M, back to back with ours; statsforecast and mlforecast on every "
        "data set (retail and marketplace M, and the real data sets of --real)",
    )
    ap.add_argument("--skip-original", action="store_true", help="with --peer: not the original workflow")
    ap.add_argument("--real", type=Path, help="a folder of public real data sets as downloaded (bench/real_data.py)")
    ap.add_argument("--profile", default="full", choices=["full", "small"], help="the grids: full or small")
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
    runs = [(p, "M") for p in a.profiles] if a.peer else [(p, s) for p in a.profiles for s in a.sizes]
    results, original = {}, None
    for profile, size in runs:
        results[profile, size] = run_ours(size, profile, a.profile)
        print_ours(results[profile, size])
        if a.peer and profile == "retail" and not a.skip_original:  # the original right after ours: back to back
            original = run_original(results[profile, size])
    if a.real:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from real_data import prepare

        for name, sales in prepare(a.real).items():
            results[name, "real"] = run_ours("real", name, a.profile, sales=sales)
            print_ours(results[name, "real"])
    if a.peer:
        for (profile, size), result in results.items():
            if result["ok"]:
                sales = result["sales"]
                print_peer_table(f"{profile} {size}", result, run_peer_libraries(f"{profile}_{size}", sales))
    retail = results.get(("retail", "M"))
    if retail and retail["ok"]:
        report, oracle = retail["report"], retail["oracle"]
        gate = report["gate"]
        served = gate["best_model"] if gate["passed"] else gate["best_baseline"]
        entry = {**report["models"], **report["baselines"]}[served]
        floor = float(np.mean([rmse(g["target"], g["oracle_mean"]) for _, g in oracle.groupby("origin_date")]))
        ratio = entry["origin_mean"]["rmse"] / floor
        print(
            f"\nretail M: what serves ({served}) rmse / oracle realized rmse, origin means = "
            f"{entry['origin_mean']['rmse']:.3f} / {floor:.3f} = {ratio:.3f}  "
            f"[target <= 1.03: {verdict(ratio <= 1.03)}]"
        )
    market = results.get(("marketplace", "M"))
    if market and market["ok"]:
        report = market["report"]
        wape = {n: e["origin_mean"]["wape"] for n, e in report["baselines"].items()}
        best_baseline = min(wape, key=wape.get)
        gate = report["gate"]
        promoted = gate["best_model"] if gate["passed"] else None
        if promoted:
            ratio = report["models"][promoted]["origin_mean"]["wape"] / wape[best_baseline]
            print(
                f"marketplace M: promoted {promoted}, wape / best baseline's ({best_baseline}) = {ratio:.3f}  "
                f"[target <= 0.95: {verdict(ratio <= 0.95)}]"
            )
        else:
            print(f"marketplace M: no model promoted ({gate['description']}); best wape baseline {best_baseline}")
    if ("retail", "L") in results and ("retail", "M") in results:
        large, medium = results["retail", "L"], results["retail", "M"]
        ratio = large["wall_s"] / medium["wall_s"]
        print(
            f"L completed: {large['ok']}, peak RSS {large['peak_rss_gb']:.2f} GB, L/M time {ratio:.2f}  "
            f"[target: no OOM within 24 GB and <= 8x M: {verdict(large['ok'] and ratio <= 8)}]"
        )
    if a.peer and retail and original:
        print_original(retail, original)


if __name__ == "__main__":
    main()
