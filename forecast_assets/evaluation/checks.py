"""The gate: a blocking check in front of production_model."""

import dagster as dg

from forecast_assets.evaluation.assets import GATE_CHECK
from forecast_assets.ledger import PRODUCTION
from forecast_assets.ml.report import ComparisonReport


@dg.asset_check(asset="model_comparison", name=GATE_CHECK, blocking=True, required_resource_keys={"ml_models_io"})
def best_model_beats_baselines(context: dg.AssetCheckExecutionContext, model_comparison: dict) -> dg.AssetCheckResult:
    """Promotion gate: the best candidate must beat the best of the baselines by at least `min_improvement`
    and the champion (the production model that serves, re-scored on the same holdout) by at least
    `champion_min_improvement`, on the gate metric (mean over the holdout origins). A refused candidate is a
    warning while something can serve: the champion keeps serving, or, with no production model yet, the
    best baseline is promoted so that a first run still forecasts. It blocks (an error) only when a production
    model is stored but could not be re-scored, and the candidate did not beat the baselines."""
    gate = ComparisonReport.of(model_comparison).gate
    # What the warehouse holds decides, not this instance's event log (a fresh DAGSTER_HOME on an old warehouse);
    # a production model of another target (valor_total, quantidade) makes this the target's first run.
    first = not context.resources.ml_models_io.read_manifest(PRODUCTION).current or bool(gate.champion_other_target)
    champion = gate.champion
    serves = gate.best_model if gate.passed else champion["model"] if champion else gate.best_baseline
    return dg.AssetCheckResult(
        passed=gate.passed,
        severity=dg.AssetCheckSeverity.WARN if first or champion else dg.AssetCheckSeverity.ERROR,
        description=gate.words(first_run=first),
        metadata={
            "best_model": gate.best_model,
            "best_baseline": gate.best_baseline or "none",
            "champion": f"{champion['model']} (version {champion['version']})" if champion else "none",
            "decided_by": gate.decided_by,
            "metric": gate.metric,
            "best_model_value": gate.best_model_value,
            "best_baseline_value": gate.best_baseline_value,
            "champion_value": gate.champion_value,
            "ratio_to_best_baseline": gate.ratio_to_best_baseline,
            "ratio_to_champion": gate.ratio_to_champion,
            "min_improvement": gate.min_improvement,
            "champion_min_improvement": gate.champion_min_improvement,
            "promotes": gate.best_model if gate.passed else (gate.best_baseline if first else "nothing"),
            "serves": serves if (gate.passed or first or champion) else "the stored production model (blocked)",
        },
    )
