"""readmission.pushmetrics against a real Pushgateway (Debian ``prometheus-pushgateway``), and without one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from readmission import pushmetrics
from readmission.config import Settings
from readmission.drift import FeatureDrift
from tests.support import services

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with services.pushgateway_server(tmp_path_factory.mktemp("pushgateway")) as url:
        yield url


def samples(url: str) -> dict[tuple[str, frozenset], float]:
    text = httpx.get(url + "/metrics", timeout=5).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.labels.get("job") == pushmetrics.JOB
    }


def value(found: dict, name: str, **labels: str) -> float:
    wanted = {"job": pushmetrics.JOB, "instance": "", **labels}
    matches = [v for (n, lab), v in found.items() if n == name and wanted == dict(lab)]
    assert len(matches) == 1, (name, labels, sorted(n for n, _ in found))
    return matches[0]


def settings(url: str | None, tmp_path: Path) -> Settings:
    return Settings(pushgateway_url=url, push_timeout_seconds=2, local_dir=tmp_path)


def test_drift_ingestion_and_champion_figures_reach_the_gateway(gateway: str, tmp_path: Path) -> None:
    config = settings(gateway, tmp_path)
    results = [FeatureDrift("age", 0.35, 0.0, 0.0, 0.0, 100), FeatureDrift("diag_1", 0.05, 0.02, 0.01, 0.0, 100)]
    assert pushmetrics.push_drift(3, results, 0.35, config)
    assert pushmetrics.push_ingestion(
        {"received": 100, "inserted": 90, "duplicate": 5, "quarantined": 5}, {"received": 300, "quarantined": 7},
        {"race": 4, "age": 3}, 3, config,
    )  # fmt: skip
    assert pushmetrics.push_champion("2", {"val_roc_auc": 0.66, "test_brier": 0.22, "val_f1": 0.5}, config)
    found = samples(gateway)
    assert value(found, "readmission_data_drift_psi", feature="age") == 0.35
    assert value(found, "readmission_data_unseen_ratio", feature="diag_1") == 0.02
    assert value(found, "readmission_data_drift_psi_threshold") == config.drift_psi_threshold
    assert value(found, "readmission_pipeline_batch_rows", outcome="quarantined") == 5
    assert value(found, "readmission_pipeline_rows_total", outcome="received") == 300
    assert value(found, "readmission_pipeline_quarantined_rows_total", field="race") == 4
    assert value(found, "readmission_champion_version") == 2
    assert value(found, "readmission_model_version_metric", version="2", split="val", metric="roc_auc") == 0.66
    assert not any(n == "readmission_model_version_metric" and ("metric", "f1") in lab for n, lab in found)


def test_every_candidate_of_both_outcomes_is_pushed_with_its_validation_metrics(gateway: str, tmp_path: Path) -> None:
    config = settings(gateway, tmp_path)
    tried = {
        "any": [
            {"name": "logistic_1", "family": "logistic", "selected": False,
             "metrics": {"val_roc_auc": 0.66, "val_brier": 0.23, "val_pr_auc": 0.61, "val_log_loss": 0.65}},
            {"name": "hist_gb_1", "family": "hist_gb", "selected": False, "metrics": {"val_roc_auc": 0.69}},
            {"name": "hist_gb_bag", "family": "hist_gb", "selected": True, "metrics": {"val_roc_auc": 0.70}},
        ],
        "within_30_days": [
            {"name": "logistic_1", "family": "logistic", "selected": True, "metrics": {"val_roc_auc": 0.65}},
            {"name": "hist_gb_1", "family": "hist_gb", "selected": False,
             "metrics": {"val_roc_auc": 0.64, "test_roc_auc": 0.9, "val_group_race_x_roc_auc": 0.5}},
        ],
    }  # fmt: skip
    models = {"any": {"val_roc_auc": 0.70, "test_roc_auc": 0.71, "test_ece": 0.01, "test_group_age_x_roc_auc": 0.6}}
    assert pushmetrics.push_training(12.5, tried, models, config)
    found = samples(gateway)
    candidate = "readmission_candidate_metric"
    for outcome, candidates in tried.items():
        for each in candidates:
            labels = {"outcome": outcome, "candidate": each["name"], "family": each["family"]}
            assert value(found, candidate, **labels, split="val", metric="roc_auc") == each["metrics"]["val_roc_auc"]
            assert value(found, "readmission_candidate_selected", **labels) == int(each["selected"])
    labels = {"outcome": "any", "candidate": "logistic_1", "family": "logistic", "split": "val"}
    assert value(found, candidate, **labels, metric="brier") == 0.23
    assert value(found, candidate, **labels, metric="log_loss") == 0.65
    pushed = [dict(lab) for n, lab in found if n == candidate]
    assert len(pushed) == 4 + 1 + 1 + 1 + 1  # test and per-group keys are not candidate series
    assert value(found, "readmission_training_metric", outcome="any", split="test", metric="ece") == 0.01
    assert not any(n == "readmission_training_metric" and ("metric", "group_age_x_roc_auc") in lab for n, lab in found)
    assert value(found, "readmission_training_duration_seconds") == 12.5


def test_each_task_keeps_its_own_outcome_and_a_failure_is_pushed_then_raised(gateway: str, tmp_path: Path) -> None:
    config = settings(gateway, tmp_path)
    with pushmetrics.observe_task("fetch_batch", config):
        pass
    with pytest.raises(RuntimeError, match="boom"), pushmetrics.observe_task("store_raw", config):
        raise RuntimeError("boom")
    with pytest.raises(LookupError), pushmetrics.observe_task("check_source", config, skipped=(LookupError,)):
        raise LookupError("nothing to do")
    found = samples(gateway)
    assert value(found, "readmission_pipeline_task_outcome", task="fetch_batch", outcome="success") == 1
    assert value(found, "readmission_pipeline_task_outcome", task="store_raw", outcome="failure") == 1
    assert value(found, "readmission_pipeline_task_outcome", task="store_raw", outcome="success") == 0
    assert value(found, "readmission_pipeline_task_outcome", task="check_source", outcome="skipped") == 1
    assert value(found, "readmission_pipeline_task_duration_seconds", task="store_raw") >= 0


def test_a_down_gateway_is_logged_and_counted_never_raised(
    gateway: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    down = settings(f"http://127.0.0.1:{services.free_port()}", tmp_path)
    before = pushmetrics.push_failures
    with pushmetrics.observe_task("train_models", down):
        pass  # the task itself succeeds although its push fails
    assert pushmetrics.push_run_finished(True, "skip", down) is False
    assert pushmetrics.push_failures == before + 2
    assert "metrics not pushed" in caplog.text
    # The next push that gets through carries the count.
    assert pushmetrics.push_run_finished(True, "skip", settings(gateway, tmp_path))
    found = samples(gateway)
    assert value(found, "readmission_pipeline_push_failures_total") == before + 2
    assert value(found, "readmission_pipeline_retrained") == 0
    assert value(found, "readmission_pipeline_last_run_success") == 1


def test_without_a_gateway_url_pushes_are_off(tmp_path: Path) -> None:
    before = pushmetrics.push_failures
    assert pushmetrics.push_run_finished(True, settings=settings(None, tmp_path)) is False
    assert pushmetrics.push_failures == before
