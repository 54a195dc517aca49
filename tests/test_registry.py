"""Logging and the registry against a real `mlflow server` (MariaDB backend, S3 artifacts)."""

from __future__ import annotations

import secrets

import mlflow
import numpy as np
import pytest
from typer.testing import CliRunner

from readmission import modeling, pipeline, registry
from readmission.config import Settings, get_settings

pytestmark = [pytest.mark.integration, pytest.mark.model]


@pytest.fixture(scope="module")
def settings(mlflow_server, tmp_path_factory) -> Settings:
    return Settings(
        local_dir=tmp_path_factory.mktemp("registry"),
        mlflow_tracking_uri=mlflow_server.tracking_uri,
        mlflow_experiment_name="registry-tests",
        model_name=f"registry-test-{secrets.token_hex(3)}",
        model_name_30d=f"registry-test-30d-{secrets.token_hex(3)}",
        train_max_configurations=1,
    )


@pytest.fixture(scope="module")
def first(settings, small_splits) -> modeling.TrainResult:
    """A good model (logistic + one HistGradientBoosting configuration)."""
    manifest = {
        "data_version": "test-v1",
        "target": "any",
        "splits": {
            name: {"uri": f"s3://datasets/test-v1/{name}.parquet", "sha256": f"{i:064x}", "rows": len(frame)}
            for i, (name, frame) in enumerate(small_splits.items())
        },
    }
    return pipeline.train_run(
        small_splits["train"],
        small_splits["validation"],
        small_splits["test"],
        manifest,
        settings=settings,
        families=(modeling.LOGISTIC, modeling.HIST_GB),
    )


@pytest.fixture(scope="module")
def decisions(settings, small_splits, first) -> dict[str, dict]:
    """First model promoted; then a deliberately worse one (shuffled labels) registered and checked."""
    promoted_first = registry.promote_if_better(first.version, small_splits["validation"], settings=settings)
    rng = np.random.default_rng(0)
    noisy = small_splits["train"].assign(readmitted=rng.permutation(small_splits["train"]["readmitted"].to_numpy()))
    worse = pipeline.train_run(
        noisy, small_splits["validation"], small_splits["test"], settings=settings, families=(modeling.LOGISTIC,)
    )
    rejected = registry.promote_if_better(worse.version, small_splits["validation"], settings=settings)
    return {"first": promoted_first, "worse": {"version": worse.version, **rejected}}


def client(settings: Settings) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(settings.resolved_mlflow_tracking_uri)


def test_run_has_metrics_params_lineage_and_artifacts(settings, first) -> None:
    run = client(settings).get_run(first.run_id)
    metrics = run.data.metrics
    for split in ("val", "test"):
        for name in ("roc_auc", "pr_auc", "brier", "log_loss", "accuracy", "f1"):
            assert f"{split}_{name}" in metrics
    assert 0.6 < metrics["val_roc_auc"] < 0.8
    assert any(key.startswith("test_group_race_") for key in metrics)
    assert any(key.startswith("test_group_age_") for key in metrics)
    assert run.data.params["data_version"] == "test-v1"
    assert run.data.params["candidates_tried"] >= "2"
    inputs = {d.dataset.name: d.dataset for d in run.inputs.dataset_inputs}
    assert inputs["train@test-v1"].digest == f"{0:064x}"[:36]
    assert "s3://datasets/test-v1/train.parquet" in inputs["train@test-v1"].source
    for split in ("val", "test"):
        assert metrics[f"{split}_ece"] < 0.06
        assert 0 < metrics[f"{split}_band_high_share"] <= 0.2 + 1e-9
        assert f"{split}_calibration_slope" in metrics
    assert metrics["val_band_high_share"] <= 0.2
    assert metrics["test_roc_auc_ci_low"] < metrics["test_roc_auc"] < metrics["test_roc_auc_ci_high"]
    assert metrics["test_brier_ci_low"] < metrics["test_brier"] < metrics["test_brier_ci_high"]
    assert {f"val_calibration_brier_{m}" for m in ("none", "sigmoid", "isotonic")} <= set(metrics)
    artifacts = {a.path for a in client(settings).list_artifacts(first.run_id)}
    assert {"model_card.md", "per_group.csv", "calibration.csv", "candidates.json", "plots"} <= artifacts
    assert {"bands_val.csv", "bands_test.csv", "bootstrap_intervals.json"} <= artifacts
    plots = {a.path for a in client(settings).list_artifacts(first.run_id, "plots")}
    for name in ("roc", "pr", "calibration", "confusion_matrix", "permutation_importance"):
        assert f"plots/test_{name}.png" in plots
    assert "plots/test_reliability.png" in plots
    card = mlflow.artifacts.load_text(f"runs:/{first.run_id}/model_card.md")
    assert "## Per-group results" in card
    for section in ("## Calibration", "## Risk bands", "## Uncertainty", "maximise F1"):
        assert section in card
    assert "## Limitations" in card


def test_version_has_tags_metadata_and_challenger(settings, first) -> None:
    version = client(settings).get_model_version(settings.model_name, first.version)
    assert version.tags["data_version"] == "test-v1"
    assert float(version.tags["threshold"]) == pytest.approx(first.threshold, abs=1e-6)
    assert float(version.tags["val_roc_auc"]) == pytest.approx(first.metrics["val_roc_auc"], abs=1e-6)
    info = mlflow.models.get_model_info(f"models:/{settings.model_name}/{first.version}")
    assert info.metadata["threshold"] == pytest.approx(first.threshold)
    assert info.metadata["data_version"] == "test-v1"
    assert info.metadata["target"] == "any"
    assert "test_roc_auc" in info.metadata["metrics"]
    bands = info.metadata["bands"]
    assert bands["medium_from"] == pytest.approx(bands["base_rate"])
    assert bands["high_from"] >= 1.4 * bands["base_rate"]
    assert info.metadata["calibration"]["method"] in ("none", "sigmoid", "isotonic")
    # the logged model returns calibrated risk: its classifier is the calibrated wrapper
    model = registry.load_model(settings.model_name, first.version)
    assert type(model.steps[-1][1]).__name__ == "CalibratedClassifier"


def test_first_becomes_champion_and_worse_is_not_promoted(settings, first, decisions) -> None:
    assert decisions["first"]["promoted"] is True
    assert decisions["first"]["reason"] == "first model"
    worse = decisions["worse"]
    assert worse["promoted"] is False
    assert worse["challenger_val_roc_auc"] < worse["champion_val_roc_auc"]
    assert worse["val_roc_auc_delta_low"] < 0
    c = client(settings)
    tags = c.get_model_version(settings.model_name, worse["version"]).tags
    assert tags["promotion_promote"] == "False"
    assert float(tags["promotion_delta_low"]) < float(tags["promotion_delta_high"])
    assert "interval" in tags["promotion_check"]
    assert c.get_model_version_by_alias(settings.model_name, "champion").version == first.version
    assert c.get_model_version_by_alias(settings.model_name, "challenger").version == worse["version"]
    assert c.get_model_version(settings.model_name, worse["version"]).tags["promotion_decision"] == "rejected"


def test_forced_promote_then_rollback(settings, first, decisions) -> None:
    worse = decisions["worse"]["version"]
    result = registry.force_champion(worse, settings=settings)
    c = client(settings)
    assert result["champion"] == worse
    assert c.get_model_version_by_alias(settings.model_name, "champion").version == worse
    assert c.get_model_version_by_alias(settings.model_name, "previous_champion").version == first.version
    assert "forced_promotion" in c.get_model_version(settings.model_name, worse).tags

    rolled = registry.rollback(settings=settings)
    assert rolled == {"model_name": settings.model_name, "champion_before": worse, "champion": first.version}
    assert c.get_model_version_by_alias(settings.model_name, "champion").version == first.version
    with pytest.raises(registry.RegistryError, match="no previous champion"):
        registry.rollback(settings=settings)
    with pytest.raises(registry.RegistryError, match="no version 999"):
        registry.force_champion("999", settings=settings)
    unknown = settings.model_copy(update={"model_name": f"unknown-{secrets.token_hex(3)}"})
    with pytest.raises(registry.RegistryError, match="not registered"):
        registry.rollback(settings=unknown)


def test_models_command_lists_versions_and_aliases(settings, first, decisions, monkeypatch) -> None:
    from readmission.cli import app

    monkeypatch.setenv("MLFLOW_TRACKING_URI", settings.resolved_mlflow_tracking_uri)
    monkeypatch.setenv("MODEL_NAME", settings.model_name)
    monkeypatch.setenv("LOCAL_DIR", str(settings.local_dir))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["models"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert "champion" in lines[first.version]
    assert "challenger" in lines[decisions["worse"]["version"]]
    rows = registry.list_versions(settings=settings)
    assert [row["version"] for row in rows][-1] == first.version
    assert rows[-1]["val_roc_auc"] == pytest.approx(first.metrics["val_roc_auc"], abs=1e-6)


@pytest.fixture(scope="module")
def gate(mlflow_server, tmp_path_factory, small_splits) -> dict[str, dict]:
    """A noise champion, then a clearly better model, then the same model retrained with another seed."""
    settings = Settings(
        local_dir=tmp_path_factory.mktemp("gate"),
        mlflow_tracking_uri=mlflow_server.tracking_uri,
        mlflow_experiment_name="gate-tests",
        model_name=f"gate-test-{secrets.token_hex(3)}",
    )
    train, validation = small_splits["train"], small_splits["validation"]
    rng = np.random.default_rng(1)
    noise = train.assign(readmitted=rng.permutation(train["readmitted"].to_numpy()))
    families = (modeling.HIST_GB,)
    out = {}
    for name, frame, seed in (("noise", noise, 42), ("better", train, 42), ("equal", train, 7)):
        run = pipeline.train_run(frame, validation, settings=settings.model_copy(update={"random_seed": seed}),
                                 families=families)  # fmt: skip
        out[name] = {"version": run.version, **registry.promote_if_better(run.version, validation, settings=settings)}
    out["settings"] = {"model_name": settings.model_name}
    return out


def test_promotion_gate_promotes_a_clearly_better_model_but_not_an_equal_one(gate) -> None:
    assert gate["noise"]["promoted"] is True
    better = gate["better"]
    assert better["promoted"] is True, better["reason"]
    assert better["val_roc_auc_delta_low"] > 0
    equal = gate["equal"]
    assert equal["promoted"] is False, equal["reason"]
    assert equal["val_roc_auc_delta_low"] < 0 < abs(equal["challenger_val_roc_auc"] - equal["champion_val_roc_auc"])
    assert equal["champion"] == better["version"]


def test_the_30_day_outcome_is_its_own_model(settings, small_splits, first) -> None:
    run = pipeline.train_run(
        small_splits["train"], small_splits["validation"], small_splits["test"], settings=settings,
        families=(modeling.LOGISTIC,), target="within_30_days",
    )  # fmt: skip
    name = settings.model_name_for("within_30_days")
    version = client(settings).get_model_version(name, run.version)
    assert version.tags["target"] == "within_30_days"
    info = mlflow.models.get_model_info(f"models:/{name}/{run.version}")
    base = info.metadata["bands"]["base_rate"]
    assert 0.05 < base < 0.2  # readmitted within 30 days: about 11 %
    assert info.metadata["bands"]["high_from"] >= 1.5 * base
    decision = registry.promote_if_better(run.version, small_splits["validation"],
                                          settings=settings.for_target("within_30_days"))  # fmt: skip
    assert decision["reason"] == "first model"  # its own champion, not compared with the `any` model
