"""The risk band the API reports: ``high`` at or above the model's threshold, ``medium`` from 75 % of it,
``low`` below. One rule, for one record and for a batch."""

from __future__ import annotations

from bisect import bisect_right
from typing import get_args

import numpy as np

from readmission.serving.records import RiskBand

BANDS: tuple[str, ...] = get_args(RiskBand)
"""``low``, ``medium``, ``high``: in rising order of risk."""
MEDIUM_RISK_FRACTION = 0.75


def cuts(threshold: float) -> tuple[float, float]:
    """The risks from which ``medium`` and ``high`` start."""
    return (MEDIUM_RISK_FRACTION * threshold, threshold)


def risk_band(risk: float, threshold: float) -> str:
    return BANDS[bisect_right(cuts(threshold), risk)]


def risk_bands(risks: np.ndarray, threshold: float) -> np.ndarray:
    return np.asarray(BANDS)[np.searchsorted(cuts(threshold), risks, side="right")]
