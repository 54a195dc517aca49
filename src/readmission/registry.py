"""The model registry: versions, ``challenger``/``champion`` aliases, promotion and rollback.

Aliases only (stages are deprecated). Every new version gets ``challenger``;
``champion`` moves only when the challenger beats the champion re-scored on
the same validation rows (by more than ``PROMOTION_MIN_DELTA``), on an operator
override (``promote --version N``, tagged ``forced_promotion``) or on rollback.
The order of champions is kept in the registered model tag ``champion_history``
(comma-separated versions, oldest first); ``previous_champion`` points at the
one before the current champion.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from readmission import datasets, evaluation, schema, tracking
from readmission.config import Settings, get_settings
from readmission.model_loader import FEATURE_VERSION_REASON, ModelRefusedError, load_registered

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"
HISTORY_TAG = "champion_history"
LIST_METRICS: tuple[str, ...] = ("val_roc_auc", "test_roc_auc", "test_pr_auc", "test_brier", "threshold")
INTERVAL_TAGS: tuple[str, ...] = (
    *(f"test_{metric}_ci_{end}" for metric in ("roc_auc", "pr_auc", "brier") for end in ("low", "high")),
    "val_ece",
    "test_ece",
)
"""Besides ``evaluation.KEY_METRICS``, every version is tagged with its bootstrap 95 % bounds and ECE."""


class RegistryError(RuntimeError):
    """A registry operation that cannot be done (no such version, nothing to roll back to, ...)."""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def register_version(client: MlflowClient, name: str, model_uri: str, *, run_id: str, tags: dict[str, str]) -> str:
    """Register ``model_uri`` as a new version of ``name`` with ``tags`` and the alias ``challenger``."""
    version = mlflow.register_model(model_uri, name, tags={**tags, "run_id": run_id}).version
    client.set_registered_model_alias(name, CHALLENGER, str(version))
    logger.info("registered %s version %s as %s", name, version, CHALLENGER)
    return str(version)


def register_run(client: MlflowClient, name: str, run_id: str, model_uri: str) -> str:
    """Register the model ``run_id`` logged at ``model_uri``, tagged from the run; idempotent per run.

    The version tags are the run's ``threshold``, its ``data_version``/``target``/``candidate``/``feature_version``
    tags, its key metrics (``evaluation.KEY_METRICS``) and its bootstrap bounds and ECE (``INTERVAL_TAGS``).
    A run already registered returns
    its (newest) version unchanged.
    """
    existing = client.search_model_versions(f"name='{name}' and run_id='{run_id}'")
    if existing:
        version = str(max(int(v.version) for v in existing))
        logger.info("run %s is already registered as %s version %s", run_id, name, version)
        return version
    run = client.get_run(run_id)
    metrics, run_tags = run.data.metrics, run.data.tags
    tags = {
        "threshold": f"{metrics['threshold']:.6f}",
        **{key: run_tags[key] for key in ("data_version", "target", "candidate", "feature_version") if key in run_tags},
        **{key: f"{metrics[key]:.6f}" for key in (*evaluation.KEY_METRICS, *INTERVAL_TAGS) if key in metrics},
    }
    return register_version(client, name, model_uri, run_id=run_id, tags=tags)


def alias_version(client: MlflowClient, name: str, alias: str) -> str | None:
    """The version behind ``alias``, or None."""
    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException:
        return None


def _history(client: MlflowClient, name: str) -> list[str]:
    try:
        value = client.get_registered_model(name).tags.get(HISTORY_TAG, "")
    except MlflowException as error:
        raise RegistryError(f"{name} is not registered: train a model first") from error
    return [part for part in value.split(",") if part]


def _set_champion(client: MlflowClient, name: str, version: str, reason: str, history: list[str]) -> None:
    previous = alias_version(client, name, CHAMPION)
    client.set_registered_model_alias(name, CHAMPION, version)
    if previous and previous != version:
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, previous)
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join(history))
    client.set_model_version_tag(name, version, "promoted_at", _now())
    client.set_model_version_tag(name, version, "promotion_reason", reason)
    logger.info("%s version %s is now %s (%s)", name, version, CHAMPION, reason)


def load_model(name: str, ref: str) -> Pipeline:
    """The sklearn pipeline of ``models:/<name>@<alias>`` or ``models:/<name>/<version>``.

    Read by ``model_loader`` (skops with the package's allow-list): a pickle model or one
    holding untrusted types raises ``model_loader.ModelRefusedError`` before any of it runs.
    """
    pipeline: Pipeline = load_registered(name, ref).pipeline
    return pipeline


def _load_checked(client: MlflowClient, name: str, version: str, role: str) -> Pipeline:
    """``load_model`` for promotion: a refused version is tagged, logged and raised as a ``RegistryError``."""
    try:
        return load_model(name, version)
    except ModelRefusedError as error:
        client.set_model_version_tag(name, version, "refused", f"{_now()} {error.reason}: {error}")
        logger.error("REFUSED %s version %s (%s, %s): %s", name, version, role, error.reason, error)
        raise RegistryError(f"{name} version {version} ({role}) is refused ({error.reason}): {error}") from error


def promote_if_better(
    version: str | None = None, validation: pd.DataFrame | None = None, *, settings: Settings | None = None
) -> dict[str, Any]:
    """Make ``version`` (default: the ``challenger``) champion if it beats the champion on ``validation``.

    Both models are re-scored on the same rows (default: the ``validation_data`` table).
    A first model becomes champion without comparison. Returns ids and figures only.
    """
    settings = settings or get_settings()
    client = tracking.configure(settings)
    name = settings.model_name
    version = version or alias_version(client, name, CHALLENGER)
    if version is None:
        raise RegistryError(f"{name} has no {CHALLENGER}: train a model first")
    champion = alias_version(client, name, CHAMPION)
    result: dict[str, Any] = {"model_name": name, "challenger": version, "champion_before": champion}
    history = _history(client, name)
    if champion is None:
        _load_checked(client, name, version, CHALLENGER)
        _set_champion(client, name, version, "first model", [*history, version])
        return {**result, "promoted": True, "reason": "first model", "champion": version}
    if champion == version:
        return {**result, "promoted": False, "reason": "already champion", "champion": champion}
    targets = {
        role: client.get_model_version(name, v).tags.get("target")
        for role, v in (("challenger", version), ("champion", champion))
    }
    if targets["challenger"] and targets["champion"] and targets["challenger"] != targets["champion"]:
        reason = f"different targets: challenger {targets['challenger']}, champion {targets['champion']}"
        client.set_model_version_tag(name, version, "promotion_decision", "rejected")
        client.set_model_version_tag(name, version, "promotion_reason", reason)
        return {**result, "promoted": False, "reason": reason, "champion": champion}
    if validation is None:
        validation = datasets.load_splits(settings, ["validation"])["validation"]
    challenger_model = _load_checked(client, name, version, CHALLENGER)
    try:
        champion_model = _load_checked(client, name, champion, CHAMPION)
    except RegistryError as error:
        refused = error.__cause__
        if not (isinstance(refused, ModelRefusedError) and refused.reason == FEATURE_VERSION_REASON):
            raise
        # the champion was trained with other feature code: this code cannot serve it, the challenger can
        reason = f"champion v{champion} was trained with other feature code ({refused}); challenger takes over"
        client.set_model_version_tag(name, version, "promotion_check", reason)
        client.set_model_version_tag(name, version, "promotion_decision", "promoted")
        _set_champion(client, name, version, reason, [*history, version])
        return {**result, "promoted": True, "reason": reason, "champion": version}
    comparison = compare(
        challenger_model,
        champion_model,
        validation,
        target=targets["challenger"] or settings.readmission_target,
        min_delta=settings.promotion_min_delta,
        seed=settings.random_seed,
    )
    reason = f"vs champion v{champion}: {comparison.reason}"
    for key, value in comparison.as_tags().items():
        client.set_model_version_tag(name, version, key, value)
    client.set_model_version_tag(name, version, "promotion_check", reason[:5000])
    client.set_model_version_tag(name, version, "promotion_decision", "promoted" if comparison.promote else "rejected")
    if comparison.promote:
        _set_champion(client, name, version, reason, [*history, version])
    logger.info("%s v%s %s: %s", name, version, "promoted" if comparison.promote else "not promoted", reason)
    return {
        **result,
        "promoted": comparison.promote,
        "reason": reason,
        "challenger_val_roc_auc": comparison.challenger_roc_auc,
        "champion_val_roc_auc": comparison.champion_roc_auc,
        "val_roc_auc_delta_low": comparison.delta_low,
        "champion": version if comparison.promote else champion,
    }


def compare(
    challenger: Pipeline,
    champion: Pipeline,
    validation: pd.DataFrame,
    *,
    target: str,
    min_delta: float,
    seed: int,
) -> evaluation.Comparison:
    """The promotion gate on the same validation rows, labelled for ``target`` (``evaluation.compare_models``)."""
    from readmission import features

    rows = validation[list(schema.INPUT_COLUMNS)]
    y = (
        features.label(validation[schema.TARGET_COLUMN], target).to_numpy()
        if schema.TARGET_COLUMN in validation
        else np.asarray(validation["label"])
    )
    return evaluation.compare_models(
        y,
        challenger.predict_proba(rows)[:, 1],
        champion.predict_proba(rows)[:, 1],
        validation["patient_nbr"].to_numpy(),
        min_delta=min_delta,
        seed=seed,
    )


def force_champion(
    version: str, *, settings: Settings | None = None, reason: str = "forced by operator"
) -> dict[str, Any]:
    """Operator override: make ``version`` champion whatever its metrics (tagged ``forced_promotion``).

    The version must load (``model_loader``): a refused model never becomes champion.
    """
    settings = settings or get_settings()
    client = tracking.configure(settings)
    name = settings.model_name
    try:
        client.get_model_version(name, version)
    except MlflowException as error:
        raise RegistryError(f"{name} has no version {version}") from error
    _load_checked(client, name, version, "forced champion")  # never point champion at a model every API refuses
    before = alias_version(client, name, CHAMPION)
    if before != version:
        _set_champion(client, name, version, reason, [*_history(client, name), version])
    client.set_model_version_tag(name, version, "forced_promotion", f"{_now()} {reason}")
    return {"model_name": name, "champion_before": before, "champion": version, "forced": True}


def rollback(*, settings: Settings | None = None) -> dict[str, Any]:
    """Move ``champion`` back to the previous champion (from ``champion_history``)."""
    settings = settings or get_settings()
    client = tracking.configure(settings)
    name = settings.model_name
    current = alias_version(client, name, CHAMPION)
    history = _history(client, name)
    while history and history[-1] != current:
        history.pop()  # the alias was moved outside this module: trust the alias
    if len(history) < 2:
        raise RegistryError(f"{name} has no previous champion to roll back to")
    history.pop()
    target = history[-1]
    client.set_registered_model_alias(name, CHAMPION, target)
    if len(history) >= 2:
        client.set_registered_model_alias(name, PREVIOUS_CHAMPION, history[-2])
    else:
        client.delete_registered_model_alias(name, PREVIOUS_CHAMPION)
    client.set_registered_model_tag(name, HISTORY_TAG, ",".join(history))
    if current:
        client.set_model_version_tag(name, current, "rolled_back_at", _now())
    logger.info("%s rolled back from version %s to %s", name, current, target)
    return {"model_name": name, "champion_before": current, "champion": target}


def list_versions(*, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every version (newest first) with its aliases, candidate, data version and key metrics."""
    settings = settings or get_settings()
    client = tracking.configure(settings)
    name = settings.model_name
    versions = client.search_model_versions(f"name='{name}'")
    aliases: dict[str, list[str]] = {}
    if versions:  # search results carry no aliases: read them from the registered model
        for alias, version in client.get_registered_model(name).aliases.items():
            aliases.setdefault(str(version), []).append(alias)
    rows = []
    for mv in sorted(versions, key=lambda v: int(v.version), reverse=True):
        tags = dict(mv.tags or {})
        rows.append(
            {
                "version": str(mv.version),
                "aliases": sorted(aliases.get(str(mv.version), [])),
                "candidate": tags.get("candidate", ""),
                "data_version": tags.get("data_version", ""),
                **{key: float(tags[key]) if key in tags else None for key in LIST_METRICS},
                "forced": "forced_promotion" in tags,
            }
        )
    return rows
