"""The form, labels and CSV reading derive from the schema and agree with it."""

from __future__ import annotations

import gzip

import pytest

from readmission import schema, validation
from readmission.config import DATA_CSV
from readmission.ui import batch, form, i18n

pytestmark = pytest.mark.unit

FORM_COLUMNS = [c.name for c in schema.COLUMNS if c.kind not in (schema.Kind.IDENTIFIER, schema.Kind.TARGET)]


def test_form_has_every_input_column_once_in_a_known_section():
    assert [f.name for f in form.FIELDS] == FORM_COLUMNS
    assert set(form.SECTIONS) == set(form.SECTION_ORDER)
    assert all(form.SECTIONS[s] for s in form.SECTION_ORDER)
    assert sum(len(fields) for fields in form.SECTIONS.values()) == len(FORM_COLUMNS)


def test_defaults_make_a_valid_record():
    record = form.to_record({})
    assert form.problems(record) == []
    assert validation.check_record({**record, "encounter_id": 1, "patient_nbr": 1}) == []


def test_select_options_are_the_schema_levels_and_codes():
    for field in form.FIELDS:
        column = schema.BY_NAME[field.name]
        if field.widget is form.Widget.SELECT:
            expected = set(column.levels) or set(schema.allowed_codes(field.name))
            options = set(field.options) - {form.NOT_RECORDED}
            assert options == expected, field.name
            assert (form.NOT_RECORDED in field.options) == column.nullable, field.name
        if field.widget is form.Widget.NUMBER:
            assert (field.minimum, field.maximum) == (column.minimum, column.maximum)


def test_not_recorded_becomes_null_and_codes_are_normalised():
    record = form.to_record({"race": form.NOT_RECORDED, "diag_1": " v45 ", "diag_3": "", "time_in_hospital": 3.0})
    assert record["race"] is None
    assert record["diag_1"] == "V45"
    assert record["diag_3"] is None
    assert record["time_in_hospital"] == 3
    assert isinstance(record["time_in_hospital"], int)


@pytest.mark.parametrize(
    ("code", "group"),
    [("428", "Circulatory"), ("250.02", "Diabetes"), ("V45", "Other"), ("", "Missing"), ("486", "Respiratory")],
)
def test_diagnosis_group_of_typed_codes(code, group):
    assert form.icd9_problem(code) is None
    assert form.diagnosis_group(code) == group


def test_invalid_icd9_is_reported():
    assert form.icd9_problem("heart failure") is not None
    assert "diag_1" in " ".join(form.problems(form.to_record({"diag_1": "4280000"})))


@pytest.mark.parametrize("lang", ["es", "en"])
def test_every_code_and_level_has_a_readable_label(lang):
    for field in form.FIELDS:
        assert i18n.field_label(field.name, lang)
        for option in field.options:
            label = i18n.level_label(field.name, option, lang)
            assert label
            if isinstance(option, int):
                assert label.startswith(f"{option} · ")
                assert len(label) > len(f"{option} · ")


def test_spanish_and_english_differ_where_it_matters():
    assert i18n.t("submit", "es") != i18n.t("submit", "en")
    assert i18n.code_label("admission_source_id", 7, "en") == "7 · Emergency Room"
    assert i18n.code_label("admission_source_id", 7, "es") == "7 · Servicio de urgencias"
    assert i18n.level_label("race", form.NOT_RECORDED, "es") == "No registrado"


def test_csv_rows_become_valid_raw_records():
    """The first 2,000 genuine rows read by the UI are exactly what the schema accepts."""
    with gzip.open(DATA_CSV, "rt") as handle:
        text = "".join(handle.readline() for _ in range(2001))
    records = batch.to_records(batch.read_csv(text.encode()))
    assert len(records) == 2000
    assert all(validation.check_record(record) == [] for record in records)
    assert "readmitted" not in records[0]


def test_csv_without_required_columns_is_refused():
    with pytest.raises(batch.MissingColumnsError, match="age"):
        batch.read_csv(b"race,gender\nCaucasian,Female\n")


def test_unparseable_cells_are_sent_as_written_for_the_api_to_reject():
    column = schema.BY_NAME["time_in_hospital"]
    assert batch._cell(column, "3") == 3
    assert batch._cell(column, "3.0") == 3
    assert batch._cell(column, "three") == "three"
    assert batch._cell(column, None) is None


def test_death_or_hospice_discharge_is_explained_before_calling_the_api():
    record = form.to_record({"discharge_disposition_id": 11})
    assert any("death discharge" in problem for problem in form.problems(record))
    assert form.problems(form.to_record({"discharge_disposition_id": 1})) == []


def test_top_factors_become_labelled_bars():
    lang = "es"
    from readmission.ui import pages

    factors = [
        {"field": "number_inpatient", "value": 3, "contribution": 0.4, "description": "x"},
        {"field": "discharge_disposition_id", "value": 3, "contribution": -0.2, "description": "x"},
        {"field": "prior_visits", "value": 5, "contribution": 0.1, "description": "x"},
    ]
    table = pages.factors_table(factors, lang)
    labels = table.iloc[:, 0].tolist()
    assert labels[0].startswith("Hospitalizaciones (último año): 3")
    assert "Destino al alta: 3 · " in labels[1]
    assert labels[2] == "Visitas de cualquier tipo (último año): 5"
    assert table.iloc[:, 1].tolist() == [0.4, -0.2, 0.1]


def test_model_page_reads_each_outcome_and_tolerates_a_model_without_intervals():
    from readmission.ui import pages

    both = {"version": "3", "outcomes": {"any": {"version": "3"}, "within_30_days": {"version": "5"}}}
    assert list(pages.outcome_models(both)) == ["any", "within_30_days"]
    older = {"version": "2", "target": "any", "metrics": {"val_roc_auc": 0.6}}  # an API before two outcomes
    assert pages.outcome_models(older) == {"any": older}
    assert pages.interval_table({"intervals": None}, "en") is None
    bounds = {"roc_auc": {"estimate": 0.7, "low": 0.69, "high": 0.71}}
    table = pages.interval_table({"intervals": {"split": "test", "metrics": bounds}}, "es")
    assert table is not None
    assert table.to_dict("records") == [
        {"Métrica": i18n.t("metric_roc_auc", "es"), "Estimación": 0.7, "Límite inferior 95 %": 0.69,
         "Límite superior 95 %": 0.71}
    ]  # fmt: skip
    assert i18n.t("ci_low", "es") != i18n.t("ci_low", "en")
