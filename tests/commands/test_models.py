"""`readmission train` on the embedded defaults: SQLite clean tables, local SQLite MLflow store."""

from __future__ import annotations

import json

import mlflow
import pytest
from typer.testing import CliRunner

from readmission import storage
from readmission.config import get_settings

pytestmark = pytest.mark.model


def test_train_twice_on_embedded_defaults(small_splits, tmp_path, monkeypatch) -> None:
    from readmission.cli import app

    for name in ("MLFLOW_TRACKING_URI", "CLEAN_DATABASE_URL", "DATASET_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("TRAIN_MAX_CONFIGURATIONS", "1")
    get_settings.cache_clear()
    try:
        settings = get_settings()
        engine = storage.clean_engine(settings.resolved_clean_database_url)
        with engine.begin() as conn:
            for split, table in storage.SPLIT_TABLES.items():
                storage.replace_table(conn, storage.clean_table(table), small_splits[split])
        runner = CliRunner()
        first = runner.invoke(app, ["train"])
        assert first.exit_code == 0, first.output
        first_result = json.loads(first.output[first.output.index("{") :])
        assert first_result["promotion"]["promoted"] is True
        assert settings.resolved_mlflow_tracking_uri.startswith("sqlite:///")
        assert (tmp_path / "mlflow" / "mlflow.db").exists()
        assert any((tmp_path / "mlflow" / "artifacts").rglob("MLmodel"))

        second = runner.invoke(app, ["train"])
        assert second.exit_code == 0, second.output
        second_result = json.loads(second.output[second.output.index("{") :])
        assert second_result["version"] != first_result["version"]
        assert second_result["promotion"]["promoted"] is False  # same data, same model: not better
        assert second_result["promotion"]["outcomes"]["any"]["champion"] == first_result["version"]

        mlflow.set_tracking_uri(settings.resolved_mlflow_tracking_uri)
        model = mlflow.sklearn.load_model(f"models:/{settings.model_name}@champion")
        x = small_splits["test"].drop(columns=["readmitted", "label"]).head(3)
        assert model.predict_proba(x).shape == (3, 2)
    finally:
        get_settings.cache_clear()
