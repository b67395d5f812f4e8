"""The run console: one line per step start and end, the assets' messages, nothing of the engine's events."""

import re

import dagster as dg
import pytest

from forecast_assets.cli import run_config
from forecast_assets.definitions import build_defs
from forecast_assets.progress import progress_console
from forecast_assets.settings import Settings
from forecast_assets.training.assets import chosen


def test_a_run_prints_one_line_per_step_start_and_end_and_the_assets_messages(capsys):
    @dg.asset
    def first(context: dg.AssetExecutionContext) -> int:
        context.log.info("grid point 1 of 2 scored, rmse 1.234")
        context.log.debug("a detail")
        return 1

    @dg.asset
    def second(context: dg.AssetExecutionContext, first: int) -> int:
        context.log.warning("something to look at")
        raise RuntimeError("storage went away\nsecond line")

    job = dg.define_asset_job("progress_test").resolve(
        asset_graph=dg.Definitions(assets=[first, second]).resolve_asset_graph()
    )
    job = dg.Definitions(
        assets=[first, second], jobs=[dg.define_asset_job("progress_test")], loggers={"console": progress_console}
    ).resolve_job_def("progress_test")
    result = job.execute_in_process(run_config={"loggers": {"console": {}}}, raise_on_error=False)
    assert not result.success
    lines = capsys.readouterr().out.strip().splitlines()
    texts = [re.sub(r"^\d\d:\d\d:\d\d  ", "", line) for line in lines]
    assert re.fullmatch(r"first\s+started", texts[0])
    assert any(re.fullmatch(r"first\s+grid point 1 of 2 scored, rmse 1.234", t) for t in texts)
    assert any(re.fullmatch(r"first\s+done in \d+\.\d s", t) for t in texts)
    assert any(re.fullmatch(r"second\s+WARNING: something to look at", t) for t in texts)
    assert any(re.fullmatch(r"second\s+FAILED: RuntimeError: storage went away", t) for t in texts), texts
    assert not [t for t in texts if "a detail" in t or "HANDLED_OUTPUT" in t or "LOADED_INPUT" in t or "Handled" in t]


@pytest.mark.parametrize(("console", "loggers"), [("steps", {"console": {}}), ("full", None)])
def test_make_runs_config_names_the_step_console_unless_told_otherwise(console, loggers):
    settings = Settings.from_env({"FORECAST_CONSOLE": console, "FORECAST_PROFILE": "small"})
    config = run_config(settings)
    assert config.get("loggers") == loggers
    assert {op: c["config"]["profile"] for op, c in config["ops"].items()} == dict.fromkeys(
        (c.asset_name for c in chosen(settings)), "small"
    )
    job = build_defs(settings).resolve_job_def("ml_pipeline")
    assert job.loggers["console"] is progress_console
