"""Both outcomes at once: one record or a batch scored by every loaded model, with bands and factors.

Each outcome (``features.TARGETS``) has its own registered model and champion,
served by its own :class:`ModelManager`. A record's features are engineered
once and shared; each model encodes and scores them through its fast path.
The answer names every outcome in words, with its calibrated risk, band, the
population's base rate and, on request, the top factors (``explain.py``).
Encounters that end in death or hospice are refused with the reason
(``schema.not_covered_reason``): the models do not cover them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from readmission import features, schema
from readmission.serving.model_manager import LoadedModel, ModelManager

PRIMARY = "any"
"""The outcome whose risk also fills the top-level fields of ``/predict`` (``readmission_risk`` ...)."""
TOP_FACTORS = 5


class NotCoveredError(ValueError):
    """The encounter ends in death or hospice: no model scores it."""


def check_covered(record: Mapping[str, Any]) -> None:
    reason = schema.not_covered_reason(record.get("discharge_disposition_id"))
    if reason:
        raise NotCoveredError(reason)


def not_covered_rows(frame: pd.DataFrame) -> dict[int, str]:
    """Row position -> reason, for the rows of a validated batch that end in death or hospice."""
    ids = frame["discharge_disposition_id"].to_numpy()
    rows = np.flatnonzero(np.isin(ids, sorted(schema.NOT_READMITTABLE_DISCHARGE_IDS)))
    return {int(row): str(schema.not_covered_reason(int(ids[row]))) for row in rows}


def outcome_entry(model: LoadedModel, risk: float) -> dict[str, Any]:
    """One outcome's answer: its definition, calibrated risk, decision, band and the base rate."""
    base = model.bands.base_rate if model.bands else None
    return {
        "outcome": features.OUTCOME_DEFINITIONS.get(model.target, model.target),
        "risk": risk,
        "prediction": int(risk >= model.threshold),
        "risk_band": model.band_rule.band(risk),
        "base_rate": base,
        "relative_risk": risk / base if base else None,
        "threshold": model.threshold,
        "model_name": model.name,
        "model_version": model.version,
    }


def outcome_entries(model: LoadedModel, risks: np.ndarray) -> list[dict[str, Any]]:
    """``outcome_entry`` of many risks: decisions and bands by array (``Bands.bands``), one dict per row."""
    base = model.bands.base_rate if model.bands else None
    fixed = {
        "outcome": features.OUTCOME_DEFINITIONS.get(model.target, model.target),
        "base_rate": base,
        "threshold": model.threshold,
        "model_name": model.name,
        "model_version": model.version,
    }
    relative = (risks / base).tolist() if base else [None] * len(risks)
    return [
        {**fixed, "risk": risk, "prediction": decision, "risk_band": band, "relative_risk": ratio}
        for risk, decision, band, ratio in zip(
            risks.tolist(),
            (risks >= model.threshold).astype(int).tolist(),
            model.band_rule.bands(risks).tolist(),
            relative,
            strict=True,
        )
    ]


class Outcomes:
    """The managers of every outcome; ``PRIMARY`` must be loaded to score, the others join when loaded."""

    def __init__(self, managers: Mapping[str, ModelManager]) -> None:
        self.managers = dict(managers)

    @property
    def primary(self) -> ModelManager:
        return self.managers[PRIMARY]

    def loaded(self) -> dict[str, LoadedModel]:
        """Every outcome's current model (read once per request: a swap never mixes versions)."""
        return {target: m.current for target, m in self.managers.items() if m.current is not None}

    def status(self) -> dict[str, dict[str, Any]]:
        return {
            target: {"loaded": m.current is not None, "model_name": m.name,
                     "model_version": m.current.version if m.current else None}
            for target, m in self.managers.items()
        }  # fmt: skip

    # ----------------------------------------------------------------- one record

    def predict(self, record: Mapping[str, Any], models: Mapping[str, LoadedModel], *, explain: bool) -> dict[str, Any]:
        """Every loaded outcome for one validated record (``check_covered`` first)."""
        engineered = features.engineer_record(record)
        outcomes: dict[str, Any] = {}
        for target, model in models.items():
            entry = outcome_entry(model, model.predictor.predict_engineered(engineered, record))
            if explain:
                entry["factors"] = self._factors(model, engineered, record)
            outcomes[target] = entry
        return outcomes

    @staticmethod
    def _factors(model: LoadedModel, engineered: Mapping[str, Any], record: Mapping[str, Any]) -> Any:
        explainer = model.explainer
        if explainer is None:
            return None
        encoded = model.predictor.encode_engineered(engineered)
        if encoded is None:
            return explainer.top_factors(pd.DataFrame([dict(record)], columns=list(schema.INPUT_COLUMNS)), TOP_FACTORS)[
                0
            ]
        return explainer.top_factors_encoded(encoded, [record], TOP_FACTORS)[0]

    # ----------------------------------------------------------------- a batch

    def predict_frame(
        self, frame: pd.DataFrame, models: Mapping[str, LoadedModel], *, explain: bool
    ) -> list[dict[str, Any]]:
        """Every loaded outcome for each row of a validated, covered batch (in order)."""
        rows: list[dict[str, Any]] = [{} for _ in range(len(frame))]
        if not len(frame):
            return rows
        engineered = features.engineer(frame) if any(m.predictor.compiled for m in models.values()) else None
        for target, model in models.items():  # the record's features are engineered once for every model
            predictor = model.predictor
            risks = (
                predictor.predict_engineered_frame(engineered, frame)
                if engineered is not None
                else predictor.predict_frame(frame)
            )
            entries = outcome_entries(model, risks)
            if explain:
                factors = self._batch_factors(model, frame)
                for i, entry in enumerate(entries):
                    entry["factors"] = factors[i] if factors is not None else None
            for row, entry in zip(rows, entries, strict=True):
                row[target] = entry
        return rows

    @staticmethod
    def _batch_factors(model: LoadedModel, frame: pd.DataFrame) -> list[Any] | None:
        explainer = model.explainer
        if explainer is None:
            return None
        records = frame.astype(object).where(frame.notna(), None)
        return list(explainer.top_factors(records, TOP_FACTORS))
