"""`ml_pipeline` as a reconstructable job, so tests can re-execute a failed run from its failure."""

import dagster as dg

from forecast_assets.definitions import build_defs
from forecast_assets_tests.conftest import TEST_RUN_CONFIG, count_whole_graph_run, settings_for_tests


def ml_pipeline_job(**settings) -> dg.JobDefinition:
    """ml_pipeline of the definitions built for these settings (keyword arguments of Settings)."""
    return build_defs(settings_for_tests(**settings)).resolve_job_def("ml_pipeline")


def reconstructable(settings: dict):
    return dg.build_reconstructable_job(__name__, "ml_pipeline_job", reconstructable_kwargs=settings)


def run(instance: dg.DagsterInstance, tags: dict, settings: dict, up_to: str | None = None):
    """A run of ml_pipeline with the tests' config: the whole graph, or `up_to` an asset and its upstream."""
    job = reconstructable(settings)
    if up_to is None:
        count_whole_graph_run()
        return dg.execute_job(job, instance=instance, run_config=TEST_RUN_CONFIG, tags=tags)
    defs = build_defs(settings_for_tests(**settings))
    selected = dg.AssetSelection.assets(up_to).upstream().resolve(defs.resolve_asset_graph())
    ops = {defs.resolve_assets_def(key).op.name for key in selected}
    config = {"ops": {op: c for op, c in TEST_RUN_CONFIG["ops"].items() if op in ops}}
    return dg.execute_job(job, instance=instance, run_config=config, tags=tags, asset_selection=sorted(selected))


def reexecute_from_failure(instance: dg.DagsterInstance, run_id: str, settings: dict):
    parent = instance.get_run_by_id(run_id)
    partition_tags = {k: v for k, v in parent.tags.items() if k.startswith("dagster/asset_partition_range")}
    return dg.execute_job(
        reconstructable(settings),
        instance=instance,
        run_config=parent.run_config,
        tags=partition_tags,  # as the UI does: the re-execution covers the same weeks
        reexecution_options=dg.ReexecutionOptions.from_failure(run_id, instance),
    )
