"""The model contract: a model trained with other feature code is refused, the current one keeps serving.

Every logged model records ``features.FEATURE_VERSION``; the API (and promotion) refuse a
model whose recorded version is not the running one (real MLflow server, real uvicorn).
"""

from __future__ import annotations

import httpx
import mlflow
import mlflow.sklearn
import numpy as np
import pytest
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

from readmission import features, registry
from readmission.model_loader import FEATURE_VERSION_REASON, ModelRefusedError, load_model_dir
from readmission.modeling import run_log
from readmission.serving.records import EXAMPLE_RECORD
from tests.support.serving import ADMIN_TOKEN, UvicornThread, register_champion, serving_settings

OTHER_VERSION = "0123456789abcdef"


def _save(path, metadata):
    model = LogisticRegression().fit(np.array([[0.0], [1.0]]), np.array([0, 1]))
    mlflow.sklearn.save_model(model, str(path), metadata=metadata, pip_requirements=["scikit-learn"])


@pytest.mark.unit
@pytest.mark.parametrize("metadata", [{"feature_version": OTHER_VERSION}, {}, None])
def test_a_model_of_other_or_unknown_feature_code_is_refused(tmp_path, metadata) -> None:
    _save(tmp_path / "model", metadata)
    with pytest.raises(ModelRefusedError, match=f"this code is version {features.FEATURE_VERSION}") as refused:
        load_model_dir(tmp_path / "model")
    assert refused.value.reason == FEATURE_VERSION_REASON


@pytest.mark.unit
def test_a_model_of_the_running_feature_code_loads(tmp_path) -> None:
    _save(tmp_path / "model", {"feature_version": features.FEATURE_VERSION})
    assert load_model_dir(tmp_path / "model").metadata["feature_version"] == features.FEATURE_VERSION


@pytest.mark.integration
def test_the_api_refuses_a_champion_of_other_feature_code_and_keeps_serving(
    tmp_path, mlflow_server, second_pipeline, genuine_raw, caplog
) -> None:
    from readmission.serving import create_app

    name, uri = "serving-feature-version", mlflow_server.tracking_uri
    good = register_champion(uri, name, second_pipeline, threshold=0.5)
    with mlflow.start_run():  # the same pipeline, recorded as trained with other feature code
        info = mlflow.sklearn.log_model(
            second_pipeline,
            name="model",
            metadata={"threshold": 0.5, "feature_version": OTHER_VERSION},
            pip_requirements=run_log.pip_requirements(),
            skops_trusted_types=run_log.SKOPS_TRUSTED_TYPES,
        )
    stale = str(mlflow.register_model(info.model_uri, name).version)
    client = MlflowClient(uri, registry_uri=uri)
    app = create_app(serving_settings(tmp_path, uri, model_name=name))
    with UvicornThread(app) as server, httpx.Client(base_url=server.url, timeout=120) as http:
        assert app.state.manager.wait_until_loaded(60)
        client.set_registered_model_alias(name, "champion", stale)
        reload = http.post("/reload-model", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert reload.status_code == 503, reload.text
        assert f"still serving version {good}" in reload.json()["detail"]
        answer = http.post("/predict", json=EXAMPLE_RECORD)
        assert answer.status_code == 200, answer.text
        assert answer.json()["model_version"] == good
        metrics = http.get("/metrics").text
        assert f'readmission_model_refusals_total{{reason="{FEATURE_VERSION_REASON}"}} 1.0' in metrics
    assert any("REFUSED model" in r.message and "feature code version" in r.message for r in caplog.records)

    # promotion: a champion of other feature code cannot be re-scored by this code; the challenger takes over
    validation = features.clean(genuine_raw.sample(600, random_state=5)).frame
    decision = registry.promote_if_better(good, validation, settings=serving_settings(tmp_path, uri, model_name=name))
    assert decision["promoted"] is True
    assert "other feature code" in decision["reason"]
    assert registry.alias_version(client, name, "champion") == good
