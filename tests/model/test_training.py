"""Training pieces without MLflow: pipelines, sweep, threshold, manifest, signature."""

from __future__ import annotations

import numpy as np
import pytest

from readmission import evaluation, schema, tracking, training

pytestmark = pytest.mark.model


def test_assembled_pipeline_equals_end_to_end_fit(small_splits) -> None:
    train, validation = small_splits["train"], small_splits["validation"]
    result = training.sweep(train, validation, families=(training.LOGISTIC,), budget_seconds=0)
    assembled = result.best.pipeline
    direct = training.make_pipeline(training._classifier(training.LOGISTIC, {"C": 0.1}, 42), 10, "scale")
    direct.fit(train[list(schema.INPUT_COLUMNS)], train["label"])
    x = validation[list(schema.INPUT_COLUMNS)]
    np.testing.assert_allclose(assembled.predict_proba(x), direct.predict_proba(x), rtol=1e-9, atol=1e-12)
    assert [name for name, _ in assembled.steps] == ["features", "encode", "model"]


def test_specialty_encoder_keeps_top_n_plus_other(small_splits) -> None:
    pipeline = training.sweep(
        small_splits["train"], small_splits["validation"], families=(training.LOGISTIC,), budget_seconds=0
    ).best.pipeline
    specialty = pipeline.named_steps["encode"].named_transformers_["specialty"]
    assert len(specialty.get_feature_names_out()) == 11
    assert specialty.infrequent_categories_[0] is not None


def test_time_budget_skips_later_configurations(small_splits) -> None:
    result = training.sweep(
        small_splits["train"], small_splits["validation"], families=(training.HIST_GB,), budget_seconds=0
    )
    assert len(result.candidates) == 1
    assert len(result.skipped) == len(training.HIST_GB_GRID) - 1


def test_empty_or_single_class_split_is_a_clear_error(small_splits) -> None:
    train = small_splits["train"]
    with pytest.raises(training.NoTrainingDataError, match="train split is empty"):
        training.sweep(train.head(0), small_splits["validation"])
    with pytest.raises(training.NoTrainingDataError, match="single class"):
        training.sweep(train, small_splits["validation"].assign(label=0))


def test_threshold_maximises_f1() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    proba = np.array([0.1, 0.2, 0.6, 0.4, 0.7, 0.9])
    threshold = evaluation.choose_threshold(y, proba)
    assert threshold == pytest.approx(0.4)
    assert evaluation.score(y, proba, threshold)["f1"] == pytest.approx(6 / 7)


def test_manifest_files_reads_the_export_manifest() -> None:
    manifest = {
        "data_version": "abc",
        "target": "any",
        "splits": {"train": {"uri": "s3://b/abc/train.parquet", "sha256": "00ff", "rows": 3}},
    }
    assert training.manifest_files(manifest)["train"]["sha256"] == "00ff"
    assert training.data_version({}, manifest) == "abc"


def test_signature_equals_the_raw_record_schema() -> None:
    inputs = tracking.model_signature().inputs
    assert inputs.input_names() == list(schema.INPUT_COLUMNS)
    for spec in inputs.inputs:
        column = schema.BY_NAME[spec.name]
        assert spec.required is not column.nullable
        assert spec.type.name == ("long" if column.is_integer else "string")


def test_group_metric_names_are_mlflow_safe() -> None:
    assert evaluation.metric_key("test", "group", "age", "[70-80)", "roc_auc") == "test_group_age_70-80_roc_auc"
    assert evaluation.metric_key("test", "group", "gender", "Unknown/Invalid", "roc_auc").count("/") == 0
