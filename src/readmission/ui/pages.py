"""The Streamlit pages: one patient, a CSV batch, the model in use.

Thin rendering over :mod:`form`, :mod:`batch`, :mod:`client` and :mod:`i18n`; every
call to the API goes through :class:`ApiClient` and every failure ends in a friendly
message (never a traceback).
"""

from __future__ import annotations

import html
import logging
from typing import Any

import pandas as pd
import streamlit as st

from readmission import schema
from readmission.config import Settings, get_settings
from readmission.ui import batch, form
from readmission.ui.client import ApiClient, ApiError
from readmission.ui.i18n import (
    DEFAULT_LANG,
    LANGUAGES,
    Lang,
    band_label,
    field_label,
    icd9_group_label,
    level_label,
    outcome_label,
    t,
)

log = logging.getLogger(__name__)

PAGES: tuple[str, ...] = ("page_single", "page_batch", "page_model")
BAND_COLOURS = {"low": "#2e7d32", "medium": "#ef8f00", "high": "#c62828"}
_CSS = """
<style>
.risk-card {border-radius: 0.75rem; padding: 1rem 1.25rem; background: #f7f9fc; border: 1px solid #e3e8ef;}
.risk-value {font-size: 3rem; font-weight: 700; line-height: 1.1;}
.risk-band {display: inline-block; padding: 0.15rem 0.7rem; border-radius: 1rem; color: white;
            font-weight: 600; margin-left: 0.5rem; vertical-align: middle; font-size: 1rem;}
.gauge {position: relative; height: 14px; border-radius: 7px; margin: 1.2rem 0 0.4rem 0;
        background: linear-gradient(90deg, #2e7d32 0%, #f9c74f 50%, #c62828 100%);}
.gauge-marker {position: absolute; top: -7px; width: 4px; height: 28px; background: #1f2937;
               border-radius: 2px; transform: translateX(-2px);}
.gauge-threshold {position: absolute; top: -4px; height: 22px; border-left: 2px dashed #1f2937;}
.gauge-scale {display: flex; justify-content: space-between; font-size: 0.75rem; color: #6b7280;}
.risk-meta {font-size: 0.85rem; color: #4b5563; margin-top: 0.6rem;}
</style>
"""


# --------------------------------------------------------------------------- shared pieces


@st.cache_resource
def _client(base_url: str, timeout: float) -> ApiClient:
    return ApiClient(base_url, timeout=timeout, batch_timeout=6 * timeout)


def api_client(settings: Settings) -> ApiClient:
    return _client(settings.api_url, settings.ui_timeout_seconds)


@st.cache_data(ttl=60, show_spinner=False)
def _model_info(base_url: str, timeout: float) -> dict[str, Any]:
    return _client(base_url, timeout).model_info()


def model_info(settings: Settings) -> dict[str, Any]:
    """``/model-info``, cached for a minute (raises :class:`ApiError`)."""
    return _model_info(settings.api_url, settings.ui_timeout_seconds)


def show_api_error(error: ApiError, lang: Lang) -> None:
    """The friendly message for an API failure."""
    if error.kind == "rejected":
        st.error(f"{t('api_rejected', lang)} {error.detail}")
    elif error.kind == "slow":
        st.warning(t("api_slow", lang), icon="⏳")
    elif error.kind == "down":
        st.error(t("api_down", lang), icon="🔌")
    else:
        st.error(t("api_error", lang))


def _keep_form_state() -> None:
    """Give every form field its default once and keep the values while other pages show."""
    for field in form.FIELDS:
        st.session_state[field.key] = st.session_state.get(field.key, field.default)


# --------------------------------------------------------------------------- one patient


def _render_field(field: form.Field, lang: Lang) -> None:
    label = field_label(field.name, lang)
    if field.widget is form.Widget.NUMBER:
        st.number_input(label, min_value=field.minimum, max_value=field.maximum, step=1, key=field.key)
    elif field.widget is form.Widget.ICD9:
        code = st.text_input(label, key=field.key, help=t("icd9_help", lang), max_chars=9)
        problem = form.icd9_problem(code)
        if problem:
            st.caption(f":red[{problem} {t('icd9_invalid', lang)}]")
        else:
            group = icd9_group_label(form.diagnosis_group(code), lang)
            st.caption(f"{t('icd9_group', lang)}: **{group}**")
    else:
        name = field.name
        st.selectbox(
            label,
            field.options,
            key=field.key,
            format_func=lambda value: level_label(name, value, lang),
            accept_new_options=field.widget is form.Widget.SPECIALTY,
        )


def _render_section(section: str, lang: Lang) -> None:
    fields = form.SECTIONS[section]
    with st.container(border=True):
        st.markdown(f"#### {t('group_' + section, lang)}")
        main = [f for f in fields if not f.advanced]
        columns = st.columns(3)
        for i, field in enumerate(main):
            with columns[i % 3]:
                _render_field(field, lang)
        advanced = [f for f in fields if f.advanced]
        if advanced:
            with st.expander(t("other_drugs", lang)):
                columns = st.columns(3)
                for i, field in enumerate(advanced):
                    with columns[i % 3]:
                        _render_field(field, lang)


def risk_gauge_html(risk: float, band: str, threshold: float | None, lang: Lang) -> str:
    """The result card: the risk as a percentage, its band and a bar with the threshold."""
    colour = BAND_COLOURS.get(band.lower(), "#374151")
    pct = min(max(risk, 0.0), 1.0) * 100
    threshold_mark = (
        f'<div class="gauge-threshold" style="left:{threshold * 100:.1f}%" title="{t("threshold", lang)}"></div>'
        if threshold is not None
        else ""
    )
    return (
        f'<div class="risk-card"><div>{html.escape(t("risk", lang))}</div>'
        f'<div class="risk-value" data-testid="risk-value">{pct:.1f}%'
        f'<span class="risk-band" style="background:{colour}">{html.escape(band_label(band, lang))}</span></div>'
        f'<div class="gauge">{threshold_mark}<div class="gauge-marker" style="left:{pct:.1f}%"></div></div>'
        '<div class="gauge-scale"><span>0%</span><span>50%</span><span>100%</span></div></div>'
    )


def factors_table(factors: list[dict[str, Any]], lang: Lang) -> pd.DataFrame:
    """The top factors as (label, contribution) rows, largest first, labels in ``lang`` with the record's value."""
    rows = []
    for factor in factors:
        name = str(factor.get("field", ""))
        value = factor.get("value")
        shown = level_label(name, value, lang) if name in schema.BY_NAME or value is None else str(value)
        rows.append({t("factor", lang): f"{field_label(name, lang)}: {shown}",
                     t("contribution", lang): float(factor.get("contribution", 0.0))})  # fmt: skip
    return pd.DataFrame(rows)


def _render_outcome(target: str, entry: dict[str, Any], lang: Lang) -> None:
    risk = float(entry["risk"])
    band = str(entry.get("risk_band", ""))
    threshold = entry.get("threshold")
    st.markdown(f"**{outcome_label(target, lang)}**")
    st.markdown(risk_gauge_html(risk, band, threshold, lang), unsafe_allow_html=True)
    base = entry.get("base_rate")
    if base:
        st.markdown(t("relative", lang, ratio=risk / float(base), base=float(base)))
    prediction = t("pred_1" if int(entry.get("prediction", 0)) == 1 else "pred_0", lang)
    lines = [f"**{t('prediction', lang)}:** {prediction}"]
    if threshold is not None:
        lines.append(f"**{t('threshold', lang)}:** {float(threshold):.1%}")
    lines.append(f"**{t('produced_by', lang)}:** {entry.get('model_name', '?')} v{entry.get('model_version', '?')}")
    st.markdown("  \n".join(lines))
    factors = entry.get("factors")
    if factors:
        st.markdown(f"**{t('factors', lang)}**")
        table = factors_table(factors, lang)
        st.bar_chart(table, x=t("factor", lang), y=t("contribution", lang), horizontal=True, sort=False)
        st.caption(t("factors_caption", lang))


def _render_result(answer: dict[str, Any], threshold: float | None, lang: Lang) -> None:
    outcomes = answer.get("outcomes") or {
        "any": {
            "risk": answer["readmission_risk"],
            "risk_band": answer.get("risk_band", ""),
            "prediction": answer.get("prediction", 0),
            "threshold": threshold,
            "model_name": answer.get("model_name"),
            "model_version": answer.get("model_version"),
        }
    }
    for target, entry in outcomes.items():
        with st.container(border=True):
            _render_outcome(target, entry, lang)
    alias = answer.get("model_alias")
    if alias:
        st.caption(f"@{alias}")
    st.caption(t("disclaimer", lang))


def _threshold(answer: dict[str, Any], settings: Settings) -> float | None:
    if answer.get("threshold") is not None:
        return float(answer["threshold"])
    try:
        value = model_info(settings).get("threshold")
    except ApiError:
        return None
    return None if value is None else float(value)


def single_page(settings: Settings, lang: Lang) -> None:
    """The patient form and its result."""
    left, right = st.columns([3, 2], gap="large")
    with left:
        for section in form.SECTION_ORDER:
            _render_section(section, lang)
    record = form.to_record({f.name: st.session_state.get(f.key) for f in form.FIELDS})
    with right, st.container(border=True):
        st.markdown(f"### {t('result', lang)}")
        if st.button(t("submit", lang), type="primary", key="submit", use_container_width=True):
            problems = form.problems(record)
            if problems:
                st.error(t("fix_fields", lang) + "\n\n" + "\n".join(f"- {p}" for p in problems))
                st.session_state.pop("single_result", None)
            else:
                try:
                    answer = api_client(settings).predict(record, explain=True)
                except ApiError as error:
                    st.session_state.pop("single_result", None)
                    show_api_error(error, lang)
                else:
                    st.session_state["single_result"] = {"record": record, "answer": answer}
        stored = st.session_state.get("single_result")
        if stored:
            if stored["record"] != record:
                st.info(t("stale", lang))
            _render_result(stored["answer"], _threshold(stored["answer"], settings), lang)


# --------------------------------------------------------------------------- batch


def batch_page(settings: Settings, lang: Lang) -> None:
    """Upload a CSV, score it in chunks with a progress bar, show and offer the results."""
    st.markdown(t("batch_intro", lang))
    upload = st.file_uploader(t("upload", lang), type=["csv"], key="batch_file")
    if upload is None:
        st.session_state.pop("batch", None)
        return
    if st.button(t("score_batch", lang), type="primary", key="score_batch"):
        try:
            frame = batch.read_csv(upload.getvalue())
        except batch.CsvError as error:
            message = t("missing_columns" if isinstance(error, batch.MissingColumnsError) else "bad_csv", lang)
            st.error(f"{message} {error}")
            return
        records = batch.to_records(frame)
        bar = st.progress(0.0, text=t("progress", lang, done=0, total=len(records)))
        outcome = batch.BatchOutcome(total=len(records))
        for outcome in batch.score(records, api_client(settings), settings.ui_batch_chunk_size):
            fraction = outcome.done / outcome.total if outcome.total else 1.0
            bar.progress(fraction, text=t("progress", lang, done=outcome.done, total=outcome.total))
        st.session_state["batch"] = {"file_id": upload.file_id, "outcome": outcome, "frame": frame}
    stored = st.session_state.get("batch")
    if not stored or stored["file_id"] != upload.file_id:
        return
    outcome, frame = stored["outcome"], stored["frame"]
    if outcome.failure is not None:
        show_api_error(outcome.failure, lang)
        if outcome.results:
            st.warning(t("batch_interrupted", lang, done=outcome.done, total=outcome.total))
    st.success(t("batch_done", lang, scored=len(outcome.results), rejected=len(outcome.rejected)))
    if outcome.results:
        table = outcome.table(frame)
        for column in ("risk_band", "risk_band_30d"):
            table[column] = table[column].map(lambda b: band_label(str(b), lang) if b else "")
        st.dataframe(
            table,
            hide_index=True,
            use_container_width=True,
            column_config={
                "row": st.column_config.NumberColumn(t("row", lang)),
                "readmission_risk": st.column_config.ProgressColumn(
                    t("risk", lang), min_value=0.0, max_value=1.0, format="percent"
                ),
                "prediction": st.column_config.NumberColumn(t("prediction", lang)),
                "risk_band": st.column_config.TextColumn(t("band", lang)),
                "risk_30d": st.column_config.ProgressColumn(
                    t("risk_30d", lang), min_value=0.0, max_value=1.0, format="percent"
                ),
                "risk_band_30d": st.column_config.TextColumn(t("band_30d", lang)),
            },
        )
        st.download_button(
            t("download", lang),
            outcome.csv(frame),
            file_name="readmission_risk.csv",
            mime="text/csv",
            on_click="ignore",
            key="download",
        )
    if outcome.rejected:
        st.markdown(f"#### {t('rejected_rows', lang)}")
        rejected = pd.DataFrame(outcome.rejected, columns=[t("row", lang), t("reason", lang)])
        st.dataframe(rejected, hide_index=True, use_container_width=True)


# --------------------------------------------------------------------------- model


def _number(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def flatten_metrics(metrics: object, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a (possibly nested) metrics mapping, with dotted names."""
    flat: dict[str, float] = {}
    if isinstance(metrics, dict):
        for key, value in metrics.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                flat[name] = float(value)
            else:
                flat.update(flatten_metrics(value, name))
    return flat


def _is_group_metric(name: str) -> bool:
    return "group" in name.lower()


def outcome_models(info: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each outcome's model as ``/model-info`` describes it (an API without ``outcomes``: its one model)."""
    described = info.get("outcomes")
    if isinstance(described, dict) and described:
        return {str(target): entry for target, entry in described.items() if isinstance(entry, dict)}
    return {str(info.get("target") or "any"): info}


def _split_name(split: object, lang: Lang) -> str:
    return t(f"split_{split}", lang) if split in ("val", "test") else str(split)


def interval_table(entry: dict[str, Any], lang: Lang) -> pd.DataFrame | None:
    """ROC-AUC, PR-AUC and Brier with their bootstrap 95 % bounds (None when the model has no intervals)."""
    intervals = entry.get("intervals") or {}
    metrics = intervals.get("metrics") if isinstance(intervals, dict) else None
    if not metrics:
        return None
    rows = [
        {
            t("metric", lang): t(f"metric_{name}", lang),
            t("estimate", lang): values.get("estimate"),
            t("ci_low", lang): values.get("low"),
            t("ci_high", lang): values.get("high"),
        }
        for name, values in metrics.items()
        if isinstance(values, dict)
    ]
    return pd.DataFrame(rows)


def band_rates_table(rows: list[dict[str, Any]], lang: Lang) -> pd.DataFrame:
    """Per risk band: its label, the share of patients, the observed rate and that rate over the base rate."""
    return pd.DataFrame(
        [
            {
                t("band", lang): band_label(str(row.get("band", "")), lang),
                t("share_patients", lang): row.get("share"),
                t("observed_rate", lang): row.get("observed_rate"),
                t("vs_base", lang): row.get("rate_vs_base"),
            }
            for row in rows
        ]
    )


def _render_model(target: str, entry: dict[str, Any], lang: Lang) -> None:
    """One outcome's model: facts, bootstrap intervals, calibration, band rates, every logged metric."""
    st.markdown(f"#### {outcome_label(target, lang)}")
    calibration = entry.get("calibration") or {}
    method = calibration.get("method") if isinstance(calibration, dict) else None
    facts = {
        "model_name": entry.get("model_name", entry.get("name")),
        "model_version": entry.get("model_version", entry.get("version")),
        "model_alias": entry.get("model_alias", entry.get("alias")),
        "threshold": entry.get("threshold"),
        "base_rate": entry.get("base_rate"),
        "calibration": t(f"calibration_{method}", lang) if method else None,
        "data_version": entry.get("data_version"),
    }
    shown = [(k, v) for k, v in facts.items() if v not in (None, "")]
    columns = st.columns(max(len(shown), 1))
    for column, (key, value) in zip(columns, shown, strict=False):
        column.metric(t(key, lang), _number(value))
    if entry.get("loaded_at"):
        st.caption(f"{t('loaded_at', lang)}: {entry['loaded_at']}")
    intervals = interval_table(entry, lang)
    if intervals is None:
        st.info(t("no_intervals", lang))
    else:
        split = _split_name((entry.get("intervals") or {}).get("split", "test"), lang)
        st.markdown(f"**{t('intervals_title', lang, split=split)}**")
        st.dataframe(intervals, hide_index=True, use_container_width=True)
    calibration_metrics = entry.get("calibration_metrics") or {}
    ece = {
        split: calibration_metrics[split]["ece"]
        for split in ("val", "test")
        if isinstance(calibration_metrics.get(split), dict) and calibration_metrics[split].get("ece") is not None
    }
    if ece:
        columns = st.columns(len(ece))
        for column, (split, value) in zip(columns, ece.items(), strict=True):
            column.metric(
                t("ece", lang, split=_split_name(split, lang)), _number(float(value)), help=t("ece_help", lang)
            )
    band_rates = entry.get("band_rates") or {}
    for split in sorted(band_rates, key=lambda name: (name != "val", name != "test", name)):  # val, test, others
        rows = band_rates[split]
        if rows:
            st.markdown(f"**{t('band_rates_title', lang, split=_split_name(split, lang))}**")
            st.dataframe(band_rates_table(rows, lang), hide_index=True, use_container_width=True)
    flat = flatten_metrics(entry.get("metrics") or {})
    overall = {k: v for k, v in flat.items() if not _is_group_metric(k)}
    per_group = {k: v for k, v in flat.items() if _is_group_metric(k)}
    per_group.update(flatten_metrics(entry.get("group_metrics") or {}, "group"))
    st.markdown(f"**{t('metrics', lang)}**")
    if not overall:
        st.info(t("no_metrics", lang))
    else:
        table = pd.DataFrame(sorted(overall.items()), columns=[t("metric", lang), t("estimate", lang)])
        st.dataframe(table, hide_index=True, use_container_width=True)
    if per_group:
        st.markdown(f"**{t('group_metrics', lang)}**")
        table = pd.DataFrame(sorted(per_group.items()), columns=[t("metric", lang), t("estimate", lang)])
        st.dataframe(table, hide_index=True, use_container_width=True)


def model_page(settings: Settings, lang: Lang) -> None:
    """What ``/model-info`` says about the models in use: one section per outcome."""
    try:
        info = model_info(settings)
    except ApiError as error:
        show_api_error(error, lang)
        return
    st.markdown(f"### {t('model_title', lang)}")
    models = outcome_models(info)
    if len(models) > 1:
        st.caption(t("models_intro", lang))
    for target, entry in models.items():
        with st.container(border=True):
            _render_model(target, entry, lang)
    schema_info = info.get("input_schema")
    if schema_info:
        with st.expander(t("input_schema", lang)):
            st.json(schema_info, expanded=False)


# --------------------------------------------------------------------------- the app


def _sidebar(settings: Settings) -> tuple[Lang, str]:
    with st.sidebar:
        lang: Lang = st.radio(
            f"{LANGUAGES['es']} / {LANGUAGES['en']}",
            list(LANGUAGES),
            index=list(LANGUAGES).index(DEFAULT_LANG),
            format_func=LANGUAGES.__getitem__,
            horizontal=True,
            key="lang",
        )
        page = st.radio(t("page", lang), PAGES, format_func=lambda p: t(p, lang), key="page")
        st.divider()
        st.caption(f"{t('api_at', lang)}: `{settings.api_url}`")
    return lang, page


def main() -> None:
    """The whole app (``streamlit run streamlit/app.py``)."""
    st.set_page_config(page_title="Readmission risk", page_icon="🩺", layout="wide")
    settings = get_settings()
    _keep_form_state()
    lang, page = _sidebar(settings)
    st.markdown(_CSS, unsafe_allow_html=True)
    st.title(t("title", lang))
    st.caption(t("subtitle", lang))
    try:
        if page == "page_batch":
            batch_page(settings, lang)
        elif page == "page_model":
            model_page(settings, lang)
        else:
            single_page(settings, lang)
    except ApiError as error:  # anything a page did not handle itself
        show_api_error(error, lang)
    except Exception:
        log.exception("page %s failed", page)
        st.error(t("api_error", lang))
