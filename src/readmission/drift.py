"""Data drift of the raw fields a clinician knows, against the training data of a model.

``build_reference`` summarises the training rows once (at training time; it is logged
with the model's run as ``drift/reference.json``): for each monitored field its buckets
and their shares. Categories, codes and counts with few values are bucketed by level;
wide code sets (ICD-9 diagnoses, specialties) by their most common training levels plus
``other``; numeric counts by training deciles. Missing is a bucket of its own, so a
column that disappears or turns all-null shows up as drift instead of an error.

``compare`` scores a batch against a reference: PSI per field, the share of values never
seen in training and the missing-value rate (and the training one).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from readmission import codes, features, schema

REFERENCE_ARTIFACT = "drift/reference.json"
REPORT_ARTIFACT = "drift/report.html"
MISSING = "(missing)"
OTHER = "(other)"
TOP_LEVELS = 20
"""Wide code sets keep their most common training levels as buckets; the rest is ``OTHER``."""
NUMERIC_BINS = 10
EPSILON = 1e-4
"""Floor of a bucket share in PSI (an empty bucket would make it infinite)."""

_WIDE = (schema.Kind.ICD9, schema.Kind.TEXT)
RISK_BUCKETS = tuple(round(0.05 * i, 2) for i in range(1, 21))
"""Upper bounds of the predicted-risk histogram (the API's and the training-time one)."""


def monitored_columns() -> tuple[str, ...]:
    """Every raw input field but the identifiers: the bounded label set of the drift metrics."""
    return tuple(c.name for c in schema.COLUMNS if c.kind not in (schema.Kind.IDENTIFIER, schema.Kind.TARGET))


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    psi: float
    unseen_share: float
    """Share of the batch's non-missing values never seen in training."""
    missing_rate: float
    reference_missing_rate: float
    rows: int
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- the reference


def _key(value: Any) -> str:
    """A value as its bucket key: codes 1 and 1.0 alike."""
    if isinstance(value, (int, float, np.integer, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _value_counts(series: pd.Series) -> tuple[dict[str, int], int]:
    """Counts of the present values by key, and the number of missing ones (one pass over the column)."""
    counts = series.value_counts(dropna=True)
    keyed: dict[str, int] = {}
    for value, count in counts.items():
        key = _key(value)
        keyed[key] = keyed.get(key, 0) + int(count)
    return keyed, len(series) - int(counts.sum())


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Raw or clean rows in one form: encounters that cannot be readmitted dropped, ``Unknown`` as missing.

    The model is trained on clean rows (death and hospice excluded, missing categories as an
    explicit level); batches and API requests arrive raw. Both go through this before comparing.
    """
    if "discharge_disposition_id" in frame:
        discharge = pd.to_numeric(frame["discharge_disposition_id"], errors="coerce")
        frame = frame[~discharge.isin(sorted(schema.NOT_READMITTABLE_DISCHARGE_IDS))]
    frame = frame.copy()
    for column, level in features.NORMALISED_MISSING.items():
        if column in frame:
            values = frame[column].astype(object)
            frame[column] = values.where(values.notna() & (values != level), None)
    if "gender" in frame:
        frame["gender"] = frame["gender"].replace({codes.UNKNOWN: schema.UNKNOWN_GENDER})
    return frame


def _numeric_bucket(key: str, edges: list[float]) -> str:
    try:
        value = float(key)
    except ValueError:
        return OTHER
    index = int(np.searchsorted(np.asarray(edges, dtype=float), value, side="left"))
    return f"<= {edges[index]:g}" if index < len(edges) else (f"> {edges[-1]:g}" if edges else "all")


def _shares(counts: Mapping[str, int], missing: int, bucket_of: Any) -> dict[str, float]:
    """Shares of the buckets (``bucket_of(key)``), missing included."""
    total = sum(counts.values()) + missing
    shares: dict[str, float] = {}
    for key, count in counts.items():
        bucket = bucket_of(key)
        shares[bucket] = shares.get(bucket, 0.0) + count / total
    if missing:
        shares[MISSING] = missing / total
    return shares


def _bucketer(entry: Mapping[str, Any]) -> Any:
    if entry["kind"] == "numeric":
        edges = entry["edges"]
        return lambda key: _numeric_bucket(key, edges)
    levels = set(entry["levels"])
    return lambda key: key if key in levels else OTHER


def _column_reference(column: schema.Column, series: pd.Series) -> dict[str, Any]:
    counts, missing = _value_counts(series)
    total = sum(counts.values()) + missing
    entry: dict[str, Any] = {"missing_rate": missing / total if total else 0.0}
    if column.kind is schema.Kind.COUNT:
        values = np.array([float(k) for k in counts], dtype=float)
        weights = np.array(list(counts.values()), dtype=float)
        edges: list[float] = []
        if len(values):
            order = np.argsort(values)
            cumulative = np.cumsum(weights[order]) / weights.sum()
            quantiles = np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1]
            edges = sorted({float(values[order][np.searchsorted(cumulative, q)]) for q in quantiles})
        entry.update(kind="numeric", edges=edges, known=None)
    else:
        ranked = sorted(counts, key=lambda k: (-counts[k], k))
        levels = ranked[:TOP_LEVELS] if column.kind in _WIDE else sorted(ranked)
        entry.update(kind="categorical", levels=levels, known=sorted(ranked))
    entry["shares"] = _shares(counts, missing, _bucketer(entry))
    return entry


def build_reference(frame: pd.DataFrame, *, model_version: str | None = None) -> dict[str, Any]:
    """The training summary of every monitored field of ``frame`` (raw or clean rows), JSON-able."""
    frame = comparable(frame)
    features = {
        name: _column_reference(schema.BY_NAME[name], frame[name] if name in frame else pd.Series([], dtype=object))
        for name in monitored_columns()
    }
    return {"rows": len(frame), "model_version": model_version, "features": features}


# --------------------------------------------------------------------------- PSI


def psi(expected: Mapping[str, float], actual: Mapping[str, float]) -> float:
    """Population stability index over the union of buckets (shares floored at ``EPSILON``)."""
    total = 0.0
    for bucket in set(expected) | set(actual):
        e = max(expected.get(bucket, 0.0), EPSILON)
        a = max(actual.get(bucket, 0.0), EPSILON)
        total += (a - e) * math.log(a / e)
    return total


# --------------------------------------------------------------------------- comparing a batch


def compare(frame: pd.DataFrame, reference: Mapping[str, Any]) -> list[FeatureDrift]:
    """PSI, unseen share and missing rate of every monitored field of ``frame`` against ``reference``.

    A column the batch lacks, or whose values are all missing, is scored as all-missing (a high
    PSI with a note), never an error; an empty batch scores 0 with a note.
    """
    frame = comparable(frame)
    rows = len(frame)
    results = []
    for feature, entry in reference["features"].items():
        if rows == 0:
            results.append(FeatureDrift(feature, 0.0, 0.0, 0.0, entry["missing_rate"], 0, "empty batch"))
            continue
        present = feature in frame
        counts, missing = _value_counts(frame[feature]) if present else ({}, rows)
        note = "" if present else "column missing from the batch"
        if present and missing == rows and entry["missing_rate"] < 1.0:
            note = "every value is missing"
        known = entry.get("known")
        seen = rows - missing
        unseen = 0.0
        if known is not None and seen:
            known_set = set(known)
            unseen = sum(n for key, n in counts.items() if key not in known_set) / seen
        value = psi(entry["shares"], _shares(counts, missing, _bucketer(entry)))
        results.append(FeatureDrift(feature, value, unseen, missing / rows, entry["missing_rate"], rows, note))
    return results


def shares(frame: pd.DataFrame, reference: Mapping[str, Any], feature: str) -> dict[str, float]:
    """The bucket shares of one feature of ``frame``, bucketed as in ``reference`` (for plots)."""
    frame = comparable(frame)
    if feature not in frame:
        return {MISSING: 1.0} if len(frame) else {}
    counts, missing = _value_counts(frame[feature])
    return _shares(counts, missing, _bucketer(reference["features"][feature])) if len(frame) else {}


def risk_shares(risks: Any) -> dict[str, float]:
    """Cumulative share of predicted risks at or below each of ``RISK_BUCKETS`` (keys as Prometheus ``le``)."""
    values = np.asarray(risks, dtype=float)
    if not len(values):
        return {}
    return {repr(float(bound)): float(np.mean(values <= bound)) for bound in RISK_BUCKETS}


def summary(results: Iterable[FeatureDrift], threshold: float) -> dict[str, Any]:
    """The largest PSI, its feature and the features at or above ``threshold``."""
    results = list(results)
    if not results:
        return {"max_psi": 0.0, "max_feature": None, "drifted": []}
    top = max(results, key=lambda r: r.psi)
    drifted = sorted(r.feature for r in results if r.psi >= threshold)
    return {"max_psi": top.psi, "max_feature": top.feature, "drifted": drifted}
