"""A model whose loading would run code is refused everywhere the package loads a registered model.

Whoever reaches MLflow can register a pickle/cloudpickle model, or a skops model whose
``MLmodel`` trusts its own types, and move ``champion`` to it. The API keeps serving the
previous champion and counts the refusal; ``promote`` refuses it too; the file its
loading would create never appears (real MLflow server, real uvicorn).
"""

from __future__ import annotations

import httpx
import pytest

from readmission import features, registry
from readmission.model_loader import ModelRefusedError, load_model_dir
from readmission.serving.records import EXAMPLE_RECORD
from tests.support.hostile import register_hostile
from tests.support.serving import ADMIN_TOKEN, UvicornThread, register_champion, serving_settings

pytestmark = pytest.mark.integration

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_a_hostile_champion_is_refused_and_the_previous_one_keeps_serving(
    tmp_path, mlflow_server, second_pipeline, genuine_raw, caplog
):
    from readmission.serving import create_app

    name = "serving-hostile-model"
    uri = mlflow_server.tracking_uri
    marker = tmp_path / "code-ran"
    good = register_champion(uri, name, second_pipeline, threshold=0.5)
    settings = serving_settings(tmp_path, uri, model_name=name)
    app = create_app(settings)
    manager = app.state.manager
    hostile: dict[str, str] = {}
    with UvicornThread(app) as server, httpx.Client(base_url=server.url, timeout=120) as http:
        assert manager.wait_until_loaded(60)
        before = http.post("/predict", json=EXAMPLE_RECORD).json()
        for serialization, reason in (("cloudpickle", "unsafe_format"), ("pickle", "unsafe_format"),
                                      ("skops", "untrusted_types")):  # fmt: skip
            hostile[serialization] = register_hostile(uri, name, marker, serialization)
            reload = http.post("/reload-model", headers=AUTH)
            assert reload.status_code == 503, reload.text
            assert f"still serving version {good}" in reload.json()["detail"]
            assert not marker.exists(), f"loading the {serialization} champion ran its code"
            answer = http.post("/predict", json=EXAMPLE_RECORD)
            assert answer.status_code == 200, answer.text
            assert answer.json()["model_version"] == good
            assert answer.json()["readmission_risk"] == before["readmission_risk"]
            assert [r for (v, _), r in manager.refused.items() if v == hostile[serialization]] == [reason]
        ready = http.get("/ready").json()
        assert (ready["ready"], ready["model_name"], ready["model_version"]) == (True, name, good)
        metrics = http.get("/metrics").text
        assert 'readmission_model_refusals_total{reason="unsafe_format"} 2.0' in metrics
        assert 'readmission_model_refusals_total{reason="untrusted_types"} 1.0' in metrics
        assert 'readmission_model_reloads_total{result="refused"} 3.0' in metrics
        # the poller neither downloads a refused version again nor counts it twice
        assert manager.refresh() == (good, good)
        assert 'readmission_model_refusals_total{reason="untrusted_types"} 1.0' in http.get("/metrics").text
    assert any("REFUSED model" in r.message and f"still serving version {good}" in r.message for r in caplog.records), (
        "the refusal is logged"
    )

    # promote re-scores the champion: the hostile one is refused there too, and never made champion
    validation = features.clean(genuine_raw.sample(600, random_state=3)).frame
    with pytest.raises(registry.RegistryError, match=r"\(champion\) is refused"):
        registry.promote_if_better(good, validation, settings=settings)
    with pytest.raises(registry.RegistryError, match="refused"):
        registry.force_champion(hostile["cloudpickle"], settings=settings)
    assert not marker.exists()
    assert registry.alias_version(registry_client(uri), name, "champion") == hostile["skops"]


def registry_client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(uri, registry_uri=uri)


def test_the_loader_ignores_the_trusted_types_a_model_lists_for_itself(tmp_path):
    import mlflow.sklearn

    from tests.support.hostile import FileOnLoad

    marker = tmp_path / "code-ran"
    trusted = [f"{FileOnLoad.__module__}.{FileOnLoad.__qualname__}"]
    mlflow.sklearn.save_model(
        FileOnLoad(marker), str(tmp_path / "model"), skops_trusted_types=trusted, pip_requirements=["scikit-learn"]
    )
    marker.unlink()  # MLflow loads a skops model once while saving it
    with pytest.raises(ModelRefusedError, match=r"does not trust: tests\.support\.hostile\.FileOnLoad") as refused:
        load_model_dir(tmp_path / "model")
    assert refused.value.reason == "untrusted_types"
    assert not marker.exists()
