"""Both outcomes through the API: calibrated risks, base-rate bands and exact top factors (real MLflow server)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, VotingClassifier

from readmission import features, modeling, schema
from readmission.modeling.report import evaluate
from readmission.serving.records import EXAMPLE_RECORD
from tests.support.serving import serving_settings

pytestmark = pytest.mark.integration


def _log_and_register(tracking_uri: str, name: str, report, target: str) -> str:
    import mlflow
    from mlflow import MlflowClient

    from readmission.modeling import run_log

    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    mlflow.set_experiment("serving-outcomes")
    metadata = {
        "threshold": report.threshold,
        "target": target,
        "bands": report.bands.as_dict(),
        "calibration": report.calibration,
        "metrics": {},
    }
    example = pd.DataFrame([EXAMPLE_RECORD] * 2, columns=list(schema.INPUT_COLUMNS))
    with mlflow.start_run():
        info = run_log.log_model(report.pipeline, example, metadata)
    version = str(mlflow.register_model(info.model_uri, name, tags={"target": target}).version)
    MlflowClient(tracking_uri, registry_uri=tracking_uri).set_registered_model_alias(name, "champion", version)
    return version


@pytest.fixture(scope="module")
def two_champions(mlflow_server, genuine_raw) -> dict[str, str]:
    """A small calibrated two-member HistGradientBoosting bag per outcome, registered as each one's champion."""
    from tests.support.splits import grouped_splits

    small_splits = grouped_splits(genuine_raw, train_rows=3000)
    names = {"any": "outcomes-any", "within_30_days": "outcomes-30d"}
    for target, name in names.items():
        train, validation = (
            modeling.patient_ordered(small_splits["train"]).assign(
                label=lambda f, t=target: features.label(f["readmitted"], t).to_numpy()
            ),
            small_splits["validation"].assign(label=lambda f, t=target: features.label(f["readmitted"], t).to_numpy()),
        )
        members = [(f"s{s}", HistGradientBoostingClassifier(max_iter=40, max_leaf_nodes=15, random_state=s))
                   for s in (1, 2)]  # fmt: skip
        bag = modeling.make_pipeline(VotingClassifier(members, voting="soft"), top_specialties=10)
        bag.fit(train[list(schema.INPUT_COLUMNS)], train["label"].to_numpy())
        report = evaluate(bag, validation=validation, test=None, seed=0, target=target,
                          base_rate=float(train["label"].mean()), replicates=20)  # fmt: skip
        _log_and_register(mlflow_server.tracking_uri, name, report, target)
    return names


def test_predict_returns_both_calibrated_outcomes_with_bands_and_exact_factors(
    tmp_path, mlflow_server, two_champions
) -> None:
    from fastapi.testclient import TestClient

    from readmission.serving import create_app

    settings = serving_settings(
        tmp_path, mlflow_server.tracking_uri, model_name=two_champions["any"],
        model_name_30d=two_champions["within_30_days"],
    )  # fmt: skip
    app = create_app(settings)
    with TestClient(app) as client:
        for manager in app.state.outcomes.managers.values():
            assert manager.wait_until_loaded(120), manager.unavailable_reason()
        plain = client.post("/predict", json=EXAMPLE_RECORD).json()
        assert set(plain["outcomes"]) == {"any", "within_30_days"}
        for target, entry in plain["outcomes"].items():
            assert entry["outcome"] == features.OUTCOME_DEFINITIONS[target]
            assert entry["relative_risk"] == pytest.approx(entry["risk"] / entry["base_rate"])
            assert "factors" not in entry
        assert plain["outcomes"]["within_30_days"]["base_rate"] < plain["outcomes"]["any"]["base_rate"]
        assert plain["readmission_risk"] == plain["outcomes"]["any"]["risk"]

        answer = client.post("/predict?explain=true", json=EXAMPLE_RECORD).json()
        for target, entry in answer["outcomes"].items():
            assert entry["risk"] == pytest.approx(plain["outcomes"][target]["risk"])
            factors = entry["factors"]
            assert len(factors) == 5
            assert all(f["field"] in schema.BY_NAME or f["field"] in ("prior_visits", "diabetes_medications")
                       for f in factors)  # fmt: skip
            sizes = [abs(f["contribution"]) for f in factors]
            assert sizes == sorted(sizes, reverse=True)
            # the factors are the explainer's exact contributions for this record
            model = app.state.outcomes.managers[target].current
            frame = pd.DataFrame([EXAMPLE_RECORD], columns=list(schema.INPUT_COLUMNS))
            table = model.explainer.contributions(frame)
            for factor in factors:
                assert factor["contribution"] == pytest.approx(float(table[factor["field"]].iloc[0]), abs=1e-9)
            raw = model.explainer.raw_output(model.explainer.encode(frame))
            assert table.sum(axis=1).iloc[0] + model.explainer.expected_value == pytest.approx(raw[0], abs=1e-9)

        batch = client.post("/predict/batch?explain=true", json={"records": [EXAMPLE_RECORD] * 2}).json()
        assert batch["scored"] == 2
        first = batch["predictions"][0]["outcomes"]
        for target in ("any", "within_30_days"):
            assert first[target]["risk"] == pytest.approx(plain["outcomes"][target]["risk"], abs=1e-12)
            assert [f["field"] for f in first[target]["factors"]] == [
                f["field"] for f in answer["outcomes"][target]["factors"]
            ]
        info = client.get("/model-info").json()
        assert set(info["outcomes"]) == {"any", "within_30_days"}
        assert (
            info["outcomes"]["within_30_days"]["bands"]["high_from"]
            >= 1.5 * info["outcomes"]["within_30_days"]["base_rate"] - 1e-12
        )
        assert np.isfinite(info["outcomes"]["any"]["base_rate"])
