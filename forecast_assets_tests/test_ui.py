"""The Dagster UI in a real browser and the daemon: `dagster dev` (webserver and daemon, as `make dev` runs them)
on a loopback port over a DAGSTER_HOME that the run the daemon's sensor launched for a dropped sales file filled,
driven through Debian's chromium, headless, by Playwright.
Screenshots go to $FORECAST_SCREENSHOTS (default ./screenshots), which `.ci/run` lists."""

import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from devtools.minio_server import REPO, free_port
from forecast_assets.landing.demo import demo_week
from forecast_assets_tests.conftest import ASSET_GROUPS, TEST_WEEKS, count_whole_graph_run

pytestmark = pytest.mark.browser


def chromium() -> str:
    found = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium")
    if found:
        return found
    script = REPO / "scripts" / "install-chromium.sh"
    return subprocess.run([str(script)], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture(scope="module")
def screenshots() -> Path:
    folder = Path(os.environ.get("FORECAST_SCREENSHOTS", REPO / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """`make dev` (webserver and daemon, as a user starts it) over an empty DAGSTER_HOME and warehouse with the
    automation running; a sales file dropped in the landing area; the run the daemon's new-files sensor launches
    fills both. The suite's one daemon session: its run is the daemon's behaviour and the pages' content."""
    root = tmp_path_factory.mktemp("ui")
    home, warehouse, log_path = root / "home", root / "warehouse", root / "dev.log"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {
        "FORECAST_STORAGE": "local",
        "FORECAST_WAREHOUSE": str(warehouse),
        "SPARK_DRIVER_MEMORY": "2g",
        "FORECAST_AUTOMATION": "running",
        "FORECAST_PROFILE": "small",
        "FORECAST_CV_FOLDS": "2",
        "FORECAST_HOLDOUT_WEEKS": "2",
        "FORECAST_MIN_IMPROVEMENT": "0",
        "FORECAST_STATISTICAL": "none",  # tested in test_pipeline; ~40 s a run here
        "FORECAST_DRIFT_RETRAIN_AFTER": "1000",  # no drift-triggered run while the pages are tested
    }
    weeks = pd.date_range(TEST_WEEKS[0], TEST_WEEKS[1], freq="7D")
    (warehouse / "raw-data" / "uploads").mkdir(parents=True)
    sales = pd.concat([demo_week(w.date()) for w in weeks])
    sales.to_csv(warehouse / "raw-data" / "uploads" / "sales.csv", index=False)
    port = free_port()
    log = open(log_path, "w")  # noqa: SIM115 (closed below)
    server = subprocess.Popen(  # `make dev`, as a user starts it, on this home and a free port
        ["make", "-s", "dev", f"DAGSTER_HOME={home}", f"DEV_ARGS=-h 127.0.0.1 -p {port}"],
        cwd=REPO,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, log_path.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=2):
                    break
            except OSError:
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(1)
        count_whole_graph_run()  # the run the sensor launches
        with dg.DagsterInstance.from_config(str(home)) as instance:
            deadline, run = time.monotonic() + 600, None
            while time.monotonic() < deadline and not (run and run.is_finished):
                time.sleep(3)
                runs = instance.get_runs(
                    filters=dg.RunsFilter(job_name="ml_pipeline", tags={"forecast/trigger": "new_sales_file"})
                )
                run = runs[0] if runs else None
        yield url, home, log_path, server, run
    finally:
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def page(ui):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        page.goto(f"{ui[0]}/assets", wait_until="networkidle")
        page.get_by_role("button", name="Skip").click()  # the first-visit dialog
        yield page
        browser.close()


def metadata_row(page, key: str):
    row = page.locator("tr", has=page.locator("td").filter(has_text=re.compile(rf"^\s*{key}\s*$"))).first
    row.scroll_into_view_if_needed()
    return row


def show_markdown_image(page, key: str, screenshot: Path) -> None:
    """Open a markdown metadata entry (the UI's "[Show Markdown]") and find its PNG plot."""
    metadata_row(page, key).get_by_text("[Show Markdown]").click()
    image = page.locator("img[src^='data:image/png']").first
    image.wait_for(state="visible")
    assert image.evaluate("img => img.naturalWidth") > 300
    page.wait_for_timeout(500)  # the dialog fades in
    page.screenshot(path=screenshot)
    page.keyboard.press("Escape")


def materialize(page, url: str, asset: str) -> None:
    """The asset page's Materialize button."""
    page.goto(f"{url}/assets/{asset}", wait_until="networkidle")
    page.get_by_role("button").filter(has_text=re.compile(r"^\s*Materialize\s*$")).first.click()


def latest_ui_run(instance: dg.DagsterInstance, until, timeout: float) -> dg.DagsterRun | None:
    """The latest run of the implicit asset job (what Materialize launches) once `until(run)` holds."""
    deadline, run = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        runs = instance.get_runs(filters=dg.RunsFilter(job_name="__ASSET_JOB"), limit=1)
        run = runs[0] if runs else None
        if run is not None and until(run):
            return run
        time.sleep(0.5)
    return run


@pytest.mark.daemon
def test_the_daemon_launches_a_successful_run_for_a_dropped_sales_file(ui):
    url, home, log_path, _, run = ui
    assert run is not None, log_path.read_text()[-3000:]
    assert run.status == dg.DagsterRunStatus.SUCCESS, log_path.read_text()[-3000:]
    assert run.tags["forecast/file"] == "uploads/sales.csv"
    assert run.tags["dagster/asset_partition_range_start"] == TEST_WEEKS[0]
    assert run.tags["dagster/asset_partition_range_end"] == TEST_WEEKS[1]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for asset in ("production_model", "sales_forecast", "drift_score"):
            assert instance.get_latest_materialization_event(dg.AssetKey(asset)).run_id == run.run_id, asset


def test_the_catalog_lists_every_asset_and_the_lineage_shows_the_groups(ui, page, screenshots):
    page.goto(f"{ui[0]}/assets", wait_until="networkidle")
    for name in ASSET_GROUPS:
        page.get_by_text(name, exact=True).first.wait_for(state="visible")
    page.screenshot(path=screenshots / "01-catalog.png")
    page.goto(f"{ui[0]}/asset-groups", wait_until="networkidle")
    for group in ("ingestion", "features", "training", "evaluation", "serving", "monitoring"):
        page.get_by_text(group, exact=True).first.wait_for(state="visible")
    page.screenshot(path=screenshots / "02-lineage.png")


def test_model_comparison_shows_a_sortable_metric_table_and_its_plots(ui, page, screenshots):
    page.goto(f"{ui[0]}/assets/model_comparison", wait_until="networkidle")
    metrics = metadata_row(page, "metrics")
    metrics.get_by_text("Show schema").wait_for(state="visible")  # a table with a schema, not markdown text
    for name in ("random_forest", "seasonal_naive", "zero"):
        metrics.get_by_text(name, exact=True).first.wait_for(state="visible")
    page.screenshot(path=screenshots / "03-model-comparison-metrics.png")
    show_markdown_image(page, "holdout_plot", screenshots / "04-model-comparison-holdout-plot.png")


def test_sales_forecast_shows_history_and_forecast_per_category(ui, page, screenshots):
    page.goto(f"{ui[0]}/assets/sales_forecast", wait_until="networkidle")
    metadata_row(page, "interval_widths").get_by_text("Show schema").wait_for(state="visible")
    show_markdown_image(page, "forecast_plot", screenshots / "05-sales-forecast-plot.png")


def test_materialize_on_drift_score_runs_in_one_process_in_the_spark_pool_and_succeeds(ui, page, screenshots):
    url, home, log_path, _, _ = ui
    query = '{ assetNodeOrError(assetKey: {path: ["drift_score"]}) { ... on AssetNode { pools } } }'
    request = urllib.request.Request(
        f"{url}/graphql", data=json.dumps({"query": query}).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert json.loads(response.read())["data"]["assetNodeOrError"]["pools"] == ["spark"]
    materialize(page, url, "drift_score")  # the button sends launchPipelineExecution for __ASSET_JOB
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = latest_ui_run(instance, lambda run: run.is_finished, timeout=300)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS, log_path.read_text()[-3000:]
        events = [e for e in instance.all_logs(run.run_id) if e.dagster_event]
        assert "STEP_WORKER_STARTING" not in {e.dagster_event.event_type_value for e in events}
        assert len({e.dagster_event.pid for e in events if e.dagster_event.is_step_event}) == 1
        assert {e.step_key for e in events if e.dagster_event.is_step_event} == {"drift_score"}
    page.goto(f"{url}/runs/{run.run_id}", wait_until="networkidle")
    page.get_by_text("Success", exact=False).first.wait_for(state="visible")
    page.screenshot(path=screenshots / "06-drift-score-run.png")


def test_make_dev_stops_on_sigterm_with_a_run_in_flight(ui, page):
    """(Last in this module: it stops the server.) SIGTERM to `make dev` stops the webserver, the daemon and the
    run in flight: make exits, no process of theirs is left, and the run is not left 'started'."""
    url, home, log_path, server, _ = ui
    materialize(page, url, "drift_score")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = latest_ui_run(instance, lambda run: run.status == dg.DagsterRunStatus.STARTED, timeout=120)
        assert run is not None and run.status == dg.DagsterRunStatus.STARTED, log_path.read_text()[-3000:]
        descendants = _descendants(server.pid)
        assert len(descendants) >= 4  # scripts/dev.sh, dagster dev, its webserver and daemon, the run's process
        server.terminate()
        server.wait(timeout=90)
        assert server.returncode in (0, 2, -15), log_path.read_text()[-3000:]  # make reports the recipe's end
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in descendants):
            time.sleep(1)
        assert not [pid for pid in descendants if _alive(pid)], log_path.read_text()[-3000:]
        stopped = instance.get_run_by_id(run.run_id)
    # Interrupted (failed or canceled), or finished if it was about to: never left "started" with no process.
    assert stopped.is_finished, stopped.status


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
