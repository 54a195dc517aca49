"""The serving metrics keep one model-info series per outcome's model."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from readmission.serving.metrics import ServingMetrics


def served(metrics: ServingMetrics) -> set[tuple[str, str]]:
    families = text_string_to_metric_families(metrics.exposition().decode())
    return {
        (sample.labels["name"], sample.labels["version"])
        for family in families
        if family.name == "readmission_model_info"
        for sample in family.samples
    }


def test_each_outcome_model_keeps_its_own_info_series() -> None:
    metrics = ServingMetrics()
    metrics.set_model("readmission", "3", "champion", "mlflow", 1.0)
    metrics.set_model("readmission-30d", "1", "champion", "mlflow", 2.0)
    assert served(metrics) == {("readmission", "3"), ("readmission-30d", "1")}
    metrics.set_model("readmission", "4", "champion", "mlflow", 3.0)  # a new champion replaces only its own series
    assert served(metrics) == {("readmission", "4"), ("readmission-30d", "1")}
