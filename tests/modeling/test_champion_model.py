"""The registered champion scores raw records; behavioural tests of a trained model."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest

from readmission import schema
from readmission.data_api.loading import to_records
from readmission.modeling import run_log

pytestmark = [pytest.mark.integration, pytest.mark.model]


@pytest.fixture(scope="module")
def champion(champion_model):
    tracking_uri, model_name, _version = champion_model
    mlflow.set_tracking_uri(tracking_uri)
    return mlflow.sklearn.load_model(f"models:/{model_name}@champion")


def test_pyfunc_scores_raw_records_as_the_data_api_serves_them(champion_model, genuine_raw) -> None:
    tracking_uri, model_name, _version = champion_model
    mlflow.set_tracking_uri(tracking_uri)
    rows = genuine_raw[genuine_raw["race"].isna() & genuine_raw["medical_specialty"].isna()].head(5)
    records = to_records(rows)  # as the data API serves them: None for missing
    assert records[0]["race"] is None
    model = mlflow.pyfunc.load_model(f"models:/{model_name}@champion")
    proba = np.asarray(model.predict(pd.DataFrame.from_records(records)[list(schema.INPUT_COLUMNS)]))
    assert proba.shape == (5, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_logged_signature_and_metadata(champion_model) -> None:
    tracking_uri, model_name, version = champion_model
    mlflow.set_tracking_uri(tracking_uri)
    info = mlflow.models.get_model_info(f"models:/{model_name}@champion")
    assert info.signature == run_log.model_signature()
    assert 0 < info.metadata["threshold"] < 1
    assert info.metadata["data_version"]
    assert info.metadata["target"] == "any"
    tags = mlflow.MlflowClient(tracking_uri).get_model_version(model_name, version).tags
    assert float(tags["threshold"]) == pytest.approx(info.metadata["threshold"], abs=1e-6)


def test_more_prior_inpatient_visits_does_not_lower_average_risk(champion, small_splits) -> None:
    frame = run_log.raw_input_frame(small_splits["test"])
    base = champion.predict_proba(frame)[:, 1].mean()
    more = champion.predict_proba(frame.assign(number_inpatient=frame["number_inpatient"] + 3))[:, 1].mean()
    assert more >= base


def test_identifiers_change_nothing(champion, small_splits) -> None:
    frame = run_log.raw_input_frame(small_splits["test"])
    base = champion.predict_proba(frame)
    other = frame.assign(encounter_id=frame["encounter_id"] + 987_654, patient_nbr=frame["patient_nbr"] + 1)
    np.testing.assert_array_equal(champion.predict_proba(other), base)


def test_one_record_equals_the_batch(champion, small_splits) -> None:
    frame = run_log.raw_input_frame(small_splits["test"].head(20))
    batch = champion.predict_proba(frame)[:, 1]
    single = [champion.predict_proba(frame.iloc[[i]])[0, 1] for i in range(len(frame))]
    np.testing.assert_allclose(single, batch, rtol=1e-12)
