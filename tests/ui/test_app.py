"""The clinician app in Streamlit's AppTest, against a running inference API."""

from __future__ import annotations

import gzip
import re
import socket
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from readmission import schema
from readmission.config import DATA_CSV, REPO_ROOT, get_settings
from readmission.ui.i18n import band_label, outcome_label, t
from tests.support import services

APP = REPO_ROOT / "streamlit" / "app.py"
TIMEOUT = 120  # the first run imports pandas/scikit-learn; later runs take well under a second


@pytest.fixture
def app_for(monkeypatch: pytest.MonkeyPatch):
    """An AppTest of streamlit/app.py talking to the API at the given URL."""

    def make(api_url: str, **env: str) -> AppTest:
        monkeypatch.setenv("API_URL", api_url)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()

    yield make
    get_settings.cache_clear()


def _texts(at: AppTest) -> str:
    return "\n".join(str(m.value) for m in [*at.markdown, *at.caption, *at.info, *at.error, *at.warning])


def _risk(at: AppTest) -> float:
    """The percentage shown on the result card."""
    for markdown in at.markdown:
        match = re.search(r'class="risk-value"[^>]*>(\d+(?:\.\d)?)%', str(markdown.value))
        if match:
            return float(match.group(1))
    raise AssertionError("no risk shown")


def _uci_csv(rows: int) -> str:
    with gzip.open(DATA_CSV, "rt") as handle:
        return "".join(handle.readline() for _ in range(rows + 1))


@pytest.mark.integration
def test_form_submit_shows_risk_band_threshold_and_model(app_for, inference_api):
    at = app_for(inference_api)
    assert not at.exception
    at.text_input(key="field_diag_1").set_value("250.13")
    at.number_input(key="field_number_inpatient").set_value(3)
    at.selectbox(key="field_admission_source_id").set_value(7)
    at.run()
    assert "Grupo: **Diabetes**" in _texts(at)
    at.button(key="submit").click().run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    risk = _risk(at)
    assert 0 <= risk <= 100
    text = _texts(at)
    assert t("threshold", "es") in text
    assert "@champion" in text
    # The language switch keeps the inputs and the result.
    at.radio(key="lang").set_value("en").run()
    assert _risk(at) == risk
    assert t("threshold", "en") in _texts(at)
    assert at.text_input(key="field_diag_1").value == "250.13"


@pytest.mark.integration
def test_changed_inputs_mark_the_result_stale(app_for, inference_api):
    at = app_for(inference_api)
    at.button(key="submit").click().run()
    _risk(at)
    at.number_input(key="field_time_in_hospital").set_value(9).run()
    assert t("stale", "es") in _texts(at)


def test_invalid_icd9_code_is_explained_before_calling_the_api(app_for):
    at = app_for(f"http://127.0.0.1:{services.free_port()}")
    at.text_input(key="field_diag_2").set_value("diabetes").run()
    assert t("icd9_invalid", "es") in _texts(at)
    at.button(key="submit").click().run()
    assert "diag_2" in at.error[0].value
    with pytest.raises(AssertionError, match="no risk"):
        _risk(at)


def test_api_down_gives_a_friendly_message(app_for):
    at = app_for(f"http://127.0.0.1:{services.free_port()}")  # nothing listens there
    at.button(key="submit").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [t("api_down", "es")]
    at.radio(key="page").set_value("page_model").run()
    assert not at.exception
    assert [e.value for e in at.error] == [t("api_down", "es")]


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A port that accepts connections and never answers: a hung API."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_slow_api_gives_a_friendly_message(app_for, silent_server):
    at = app_for(silent_server, UI_TIMEOUT_SECONDS="1")
    at.radio(key="lang").set_value("en").run()
    at.button(key="submit").click().run()
    assert not at.exception
    assert [w.value for w in at.warning] == [t("api_slow", "en")]


@pytest.mark.integration
def test_csv_of_1000_rows_with_one_bad_row(app_for, inference_api):
    lines = _uci_csv(1000).splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    bad = lines[7].rstrip("\n").split(",")  # file row 7
    bad[header.index("age")] = "[100-110)"
    lines[7] = ",".join(bad) + "\n"
    at = app_for(inference_api, UI_BATCH_CHUNK_SIZE="300")
    at.radio(key="page").set_value("page_batch").run()
    at.file_uploader(key="batch_file").set_value(("patients.csv", "".join(lines).encode(), "text/csv"))
    at.run()
    at.button(key="score_batch").click().run()
    assert not at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.progress[0].value == 100
    assert "1000 de 1000" in at.progress[0].text
    discharge = header.index("discharge_disposition_id")
    not_covered = {
        row for row, line in enumerate(lines[1:], start=1)
        if int(line.split(",")[discharge]) in schema.NOT_READMITTABLE_DISCHARGE_IDS
    }  # fmt: skip
    assert not_covered
    assert 7 not in not_covered
    assert at.success[0].value == t("batch_done", "es", scored=999 - len(not_covered), rejected=1 + len(not_covered))
    scored, rejected = at.dataframe[0].value, at.dataframe[1].value
    assert len(scored) == 999 - len(not_covered)
    assert 7 not in set(scored["row"])
    assert {"encounter_id", "patient_nbr", "readmission_risk", "prediction", "risk_band"} <= set(scored.columns)
    reasons = dict(zip(rejected.iloc[:, 0], rejected.iloc[:, 1], strict=True))
    assert "age" in reasons[7]
    assert all("discharge" in reasons[row] for row in not_covered)
    download = at.get("download_button")[0]
    assert download.proto.label == t("download", "es")


def test_csv_missing_columns_is_explained(app_for):
    at = app_for(f"http://127.0.0.1:{services.free_port()}")
    at.radio(key="page").set_value("page_batch").run()
    at.file_uploader(key="batch_file").set_value(("x.csv", b"race,gender\nCaucasian,Female\n", "text/csv")).run()
    at.button(key="score_batch").click().run()
    assert not at.exception
    assert at.error[0].value.startswith(t("missing_columns", "es"))


@pytest.mark.integration
def test_model_page_shows_what_model_info_says(app_for, inference_api):
    import httpx

    info = httpx.get(f"{inference_api}/model-info", timeout=10).json()
    at = app_for(inference_api)
    at.radio(key="page").set_value("page_model").run()
    assert not at.exception
    assert not at.error
    shown = {m.label: m.value for m in at.metric}
    assert shown[t("model_version", "es")] == str(info.get("model_version", info.get("version")))
    assert t("metrics", "es") in _texts(at)


@pytest.mark.integration
@pytest.mark.parametrize("lang", ["es", "en"])
def test_model_page_shows_both_models_with_their_bootstrap_intervals(app_for, two_outcome_api, lang):
    import httpx

    info = httpx.get(f"{two_outcome_api}/model-info", timeout=10).json()
    models = info["outcomes"]
    assert list(models) == ["any", "within_30_days"]
    for entry in models.values():
        assert entry["intervals"]["split"] == "test"
        assert entry["intervals"]["level"] == 0.95
        for name in ("roc_auc", "pr_auc", "brier"):
            bounds = entry["intervals"]["metrics"][name]
            assert bounds["low"] < bounds["estimate"] < bounds["high"], (name, bounds)
        assert entry["intervals"]["metrics"]["roc_auc"]["estimate"] == pytest.approx(entry["metrics"]["test_roc_auc"])
        assert 0 <= entry["calibration_metrics"]["val"]["ece"] < 0.2
        assert [row["band"] for row in entry["band_rates"]["test"]] == ["low", "medium", "high"]
        assert sum(row["share"] for row in entry["band_rates"]["test"]) == pytest.approx(1.0)
    assert {k: info[k] for k in ("version", "intervals")} == {k: models["any"][k] for k in ("version", "intervals")}

    at = app_for(two_outcome_api)
    at.radio(key="lang").set_value(lang).run()
    at.radio(key="page").set_value("page_model").run()
    assert not at.exception
    assert not at.error
    texts = _texts(at)
    for target in models:
        assert outcome_label(target, lang) in texts
    assert t("intervals_title", lang, split=t("split_test", lang)) in texts
    shown = [m.value for m in at.metric if m.label == t("model_version", lang)]
    assert shown == [str(entry["version"]) for entry in models.values()]
    names = [m.value for m in at.metric if m.label == t("model_name", lang)]
    assert names == [entry["name"] for entry in models.values()]
    ece = [m.value for m in at.metric if m.label == t("ece", lang, split=t("split_test", lang))]
    assert ece == [f"{entry['calibration_metrics']['test']['ece']:.3f}" for entry in models.values()]
    tables = [frame.value for frame in at.dataframe if t("ci_low", lang) in frame.value.columns]
    assert len(tables) == len(models)
    for table, entry in zip(tables, models.values(), strict=True):
        rows = table.set_index(t("metric", lang))
        for name in ("roc_auc", "pr_auc", "brier"):
            bounds = entry["intervals"]["metrics"][name]
            row = rows.loc[t(f"metric_{name}", lang)]
            assert row[t("estimate", lang)] == pytest.approx(bounds["estimate"])
            assert row[t("ci_low", lang)] == pytest.approx(bounds["low"])
            assert row[t("ci_high", lang)] == pytest.approx(bounds["high"])
    bands = [frame.value for frame in at.dataframe if t("observed_rate", lang) in frame.value.columns]
    assert len(bands) == 2 * len(models)  # validation and test per model
    assert list(bands[1][t("band", lang)]) == [band_label(b, lang) for b in ("low", "medium", "high")]
    test_rates = [row["observed_rate"] for row in models["any"]["band_rates"]["test"]]
    assert list(bands[1][t("observed_rate", lang)]) == pytest.approx(test_rates)
