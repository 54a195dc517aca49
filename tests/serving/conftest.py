"""Serving fixtures: the session's real champion (tests/conftest.py ``champion_model``) and apps pointed at it.

The hot-swap test needs a second, different model: the original GradientBoosting
configuration fitted by ``modeling.fit_baseline`` and logged by ``run_log.log_model``
(the training code's own functions), registered under its own name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from readmission import features, schema
from readmission.config import Settings
from readmission.data_api.loading import to_records
from tests.support import services
from tests.support.serving import Champion, UvicornThread, serving_settings


@pytest.fixture(scope="session")
def genuine_records(genuine_raw: pd.DataFrame) -> list[dict[str, Any]]:
    """Genuine rows as the data API serves them (``readmitted`` included: the API ignores it); death and
    hospice discharges, which the API refuses, left out."""
    covered = ~genuine_raw["discharge_disposition_id"].isin(sorted(schema.NOT_READMITTABLE_DISCHARGE_IDS))
    return to_records(genuine_raw[covered].sample(1500, random_state=11))


@pytest.fixture(scope="session")
def serving_champion(champion_model: tuple[str, str, str]) -> Champion:
    """The session's real champion (trained, logged and promoted by the package's training code)."""
    os.environ.update(services.S3_TEST_ENV)
    tracking_uri, name, version = champion_model
    return Champion(tracking_uri, name, str(version))


@pytest.fixture(scope="session")
def second_pipeline(genuine_raw: pd.DataFrame):
    """A different model (the baseline GradientBoosting of ``modeling``) to promote during the hot-swap test."""
    from readmission import modeling

    train = features.clean(genuine_raw).frame.sample(3000, random_state=7)
    return modeling.fit_baseline(train, top_specialties=10, seed=0)


@pytest.fixture
def settings(tmp_path: Path, serving_champion: Champion) -> Settings:
    return serving_settings(tmp_path, serving_champion.tracking_uri, model_name=serving_champion.name)


def settle_every_outcome(app: Any, timeout: float = 120) -> None:
    """Wait until each outcome's model has had its first load (loaded, or failed: the 30-day model
    may not exist on the session's server). Its load in the poller thread must not overlap the test:
    CPython 3.11 shares the AST constructor's depth counter between threads (gh-106905), so a model
    load (numpy parses .npy headers with ast) beside pytest's rewriting of a lazily imported module
    can raise SystemError in either."""
    managers = list(app.state.outcomes.managers.values())
    services.wait_until(
        lambda: all(m.current is not None or m.failures > 0 for m in managers),
        what="the first load of every outcome's model",
        timeout=timeout,
    )


@pytest.fixture
def client(settings: Settings):
    from fastapi.testclient import TestClient

    from readmission.serving import create_app

    app = create_app(settings)
    with TestClient(app) as test_client:
        assert app.state.manager.wait_until_loaded(60), app.state.manager.unavailable_reason()
        settle_every_outcome(app)
        yield test_client


@pytest.fixture
def live_server(settings: Settings) -> Iterator[UvicornThread]:
    from readmission.serving import create_app

    app = create_app(settings)
    with UvicornThread(app) as server:
        assert app.state.manager.wait_until_loaded(60), app.state.manager.unavailable_reason()
        settle_every_outcome(app)
        server.app = app  # type: ignore[attr-defined]
        yield server
