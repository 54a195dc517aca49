"""A running inference API serving the session's real champion, for the UI tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import services


@pytest.fixture(scope="session")
def inference_api(champion_model: tuple[str, str, str], service_dir: Path) -> Iterator[str]:
    """Base URL of a real inference API serving ``champion_model`` (tests/conftest.py)."""
    tracking_uri, name, _version = champion_model
    with services.api_server(tracking_uri, name, service_dir) as url:
        yield url


@pytest.fixture(scope="session")
def two_outcome_api(
    champion_model: tuple[str, str, str], genuine_raw, service_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real inference API serving both outcomes' champions: the session's ``any`` champion and a small
    ``within_30_days`` model trained, logged and promoted by the package's training code."""
    from readmission import modeling, pipeline, registry
    from readmission.config import Settings
    from tests.support.splits import grouped_splits

    tracking_uri, name, _version = champion_model
    settings = Settings(
        local_dir=tmp_path_factory.mktemp("champion-30d"),
        mlflow_tracking_uri=tracking_uri,
        mlflow_experiment_name="fixture-champion-30d",
        model_name=name,
        model_name_30d=f"{name}-30d",
    )
    splits = grouped_splits(genuine_raw, train_rows=3000)
    result = pipeline.train_run(
        splits["train"], splits["validation"], splits["test"], settings=settings, families=(modeling.LOGISTIC,),
        target="within_30_days",
    )  # fmt: skip
    assert result.version is not None
    registry.promote_if_better(result.version, splits["validation"], settings=settings.for_target("within_30_days"))
    with services.api_server(tracking_uri, name, service_dir, env={"MODEL_NAME_30D": settings.model_name_30d}) as url:
        # /ready answers once the primary model is loaded; the 30-day one loads beside it
        services.wait_until(
            lambda: all(o["loaded"] for o in httpx.get(url + "/ready", timeout=5).json()["outcomes"].values()),
            what="both outcomes' models",
            timeout=120,
        )
        yield url
