"""Model building: ``candidates`` (encoder, pipelines, families, seed bag), ``search`` (the sweep,
bounded by a configuration count), ``run_log`` (everything written to MLflow, and the logged model's
format) and ``train`` (one training run composed of them)."""

from readmission.modeling.candidates import (
    BASELINE,
    CANDIDATES,
    HIST_GB,
    LABEL,
    LOGISTIC,
    fit_baseline,
    make_pipeline,
    patient_ordered,
)
from readmission.modeling.search import Candidate, NoTrainingDataError, SweepResult, sweep
from readmission.modeling.train import TrainResult, train_and_log

__all__ = [
    "BASELINE",
    "CANDIDATES",
    "HIST_GB",
    "LABEL",
    "LOGISTIC",
    "Candidate",
    "NoTrainingDataError",
    "SweepResult",
    "TrainResult",
    "fit_baseline",
    "make_pipeline",
    "patient_ordered",
    "sweep",
    "train_and_log",
]
