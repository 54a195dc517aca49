"""Training pieces without MLflow: pipelines, sweep, threshold, manifest, signature."""

from __future__ import annotations

import numpy as np
import pytest

from readmission import datasets, evaluation, schema
from readmission.modeling import candidates, run_log, search
from tests.support.splits import grouped_splits

pytestmark = pytest.mark.model


def test_assembled_pipeline_equals_end_to_end_fit(small_splits) -> None:
    train, validation = small_splits["train"], small_splits["validation"]
    result = search.sweep(train, validation, families=(candidates.LOGISTIC,), max_configurations=1)
    assembled = result.best.pipeline
    direct = candidates.make_pipeline(candidates.classifier(candidates.LOGISTIC, {"C": 0.1}, 42), 10, "scale")
    ordered = candidates.patient_ordered(train)  # the row order the sweep fits in (target-encoder folds)
    direct.fit(ordered[list(schema.INPUT_COLUMNS)], ordered["label"])
    x = validation[list(schema.INPUT_COLUMNS)]
    np.testing.assert_allclose(assembled.predict_proba(x), direct.predict_proba(x), rtol=1e-9, atol=1e-12)
    assert [name for name, _ in assembled.steps] == ["features", "encode", "model"]


def test_specialty_encoder_keeps_top_n_plus_other(small_splits) -> None:
    pipeline = search.sweep(
        small_splits["train"], small_splits["validation"], families=(candidates.LOGISTIC,), max_configurations=1
    ).best.pipeline
    specialty = pipeline.named_steps["encode"].named_transformers_["specialty"]
    assert len(specialty.get_feature_names_out()) == 11
    assert specialty.infrequent_categories_[0] is not None


def test_the_configuration_count_limits_the_candidates_tried(small_splits) -> None:
    train, validation = small_splits["train"], small_splits["validation"]
    one = search.sweep(train, validation, families=(candidates.HIST_GB,), max_configurations=1)
    assert [c.name for c in one.candidates] == ["hist_gb_1"]
    assert one.candidates[0].params == candidates.HIST_GB_GRID[0]  # the grid's first (best-first) configuration
    assert len(one.skipped) == len(candidates.HIST_GB_GRID)  # the later configurations and the seed bag
    assert f"'seeds': {candidates.BAG_SEEDS}" in one.skipped[-1]
    two = search.sweep(train, validation, families=(candidates.HIST_GB, candidates.LOGISTIC), max_configurations=2)
    assert [c.name for c in two.candidates] == ["hist_gb_1", "hist_gb_2", "logistic_1"]
    assert [c.params for c in two.candidates[:2]] == list(candidates.HIST_GB_GRID[:2])
    with pytest.raises(ValueError, match="at least 1"):
        search.sweep(train, validation, families=(candidates.LOGISTIC,), max_configurations=0)


def test_settings_count_configurations_not_seconds() -> None:
    from readmission.config import Settings

    assert Settings().train_max_configurations == len(candidates.HIST_GB_GRID) + 1  # by default: all, and the bag
    assert not any("time" in name and "train" in name for name in Settings.model_fields)


def test_seed_bag_soft_votes_the_best_configuration_with_other_seeds(small_splits) -> None:
    from sklearn.ensemble import VotingClassifier

    result = search.sweep(small_splits["train"], small_splits["validation"], families=(candidates.HIST_GB,))
    *grid, bag = result.candidates
    best = max(grid, key=lambda c: c.val_roc_auc)
    assert bag.params == {**best.params, "seeds": candidates.BAG_SEEDS}
    model = bag.pipeline.named_steps["model"]
    assert isinstance(model, VotingClassifier)
    assert len(model.estimators_) == candidates.BAG_SEEDS
    assert model.estimators_[0].estimator is best.pipeline.named_steps["model"]  # kept, not refitted
    assert [m.random_state for m in model.estimators_[1:]] == [43, 44]
    x = small_splits["validation"][list(schema.INPUT_COLUMNS)]
    members = [
        candidates.make_pipeline(m, 10).set_params(encode=bag.pipeline.named_steps["encode"]) for m in model.estimators_
    ]
    mean = np.mean([member.predict_proba(x)[:, 1] for member in members], axis=0)
    np.testing.assert_allclose(bag.pipeline.predict_proba(x)[:, 1], mean, rtol=1e-12)
    assert len({round(member.predict_proba(x)[0, 1], 9) for member in members}) == candidates.BAG_SEEDS


def test_target_encoder_folds_keep_a_patient_on_one_side(genuine_raw) -> None:
    from sklearn.model_selection import KFold

    train = grouped_splits(genuine_raw)["train"]

    def straddling(frame) -> int:
        patients = frame["patient_nbr"].to_numpy()
        folds = KFold(candidates.TARGET_ENCODER_FOLDS).split(frame)
        return sum(len(set(patients[fit_rows]) & set(patients[held_out])) for fit_rows, held_out in folds)

    ordered = candidates.patient_ordered(train)
    assert sorted(ordered["encounter_id"]) == sorted(train["encounter_id"])
    # only a patient whose rows meet a fold boundary can straddle: at most one per boundary, counted twice
    assert straddling(ordered) <= 2 * (candidates.TARGET_ENCODER_FOLDS - 1)
    assert straddling(train.sample(frac=1, random_state=0)) > 1000  # what ungrouped folds would leak
    by_number = train.sort_values("patient_nbr", ignore_index=True)  # contiguous numbers are an era, not a sample
    assert not np.array_equal(candidates.patient_ordered(by_number)["patient_nbr"], by_number["patient_nbr"])


def test_empty_or_single_class_split_is_a_clear_error(small_splits) -> None:
    train = small_splits["train"]
    with pytest.raises(search.NoTrainingDataError, match="train split is empty"):
        search.sweep(train.head(0), small_splits["validation"])
    with pytest.raises(search.NoTrainingDataError, match="single class"):
        search.sweep(train, small_splits["validation"].assign(label=0))


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
    assert datasets.manifest_files(manifest)["train"]["sha256"] == "00ff"
    assert datasets.data_version({}, manifest) == "abc"


def test_signature_equals_the_raw_record_schema() -> None:
    inputs = run_log.model_signature().inputs
    assert inputs.input_names() == list(schema.INPUT_COLUMNS)
    for spec in inputs.inputs:
        column = schema.BY_NAME[spec.name]
        assert spec.required is not column.nullable
        assert spec.type.name == ("long" if column.is_integer else "string")


def test_group_metric_names_are_mlflow_safe() -> None:
    assert evaluation.metric_key("test", "group", "age", "[70-80)", "roc_auc") == "test_group_age_70-80_roc_auc"
    assert evaluation.metric_key("test", "group", "gender", "Unknown/Invalid", "roc_auc").count("/") == 0
