"""HTTP client of the batch data API (``GET /health``, ``/batches``, ``/get_data?batch=N``).

Transport errors, timeouts and 5xx answers are retried with exponential backoff;
a source that stays down raises :class:`DataSourceUnavailableError`. A 4xx answer
(e.g. a batch number that does not exist) is not retried and raises
:class:`DataSourceError` with the server's message.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import httpx

from readmission.config import Settings, get_settings

logger = logging.getLogger(__name__)


class DataSourceError(Exception):
    """The data API answered, but not with what was asked for."""


class DataSourceUnavailableError(DataSourceError):
    """The data API could not be reached (after every retry)."""


@dataclass(frozen=True)
class Batch:
    batch_number: int
    total_batches: int
    batch_size: int
    data: list[dict[str, Any]]


class DataSourceClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.backoff = backoff
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> DataSourceClient:
        settings = settings or get_settings()
        return cls(settings.data_api_url, timeout=settings.http_timeout_seconds, retries=settings.http_retries)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> DataSourceClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        url = f"{self.base_url}{path}"
        attempts = self.retries + 1
        last_problem = ""
        for attempt in range(1, attempts + 1):
            try:
                response = self._client.get(path, params=params)
            except httpx.TransportError as error:
                last_problem = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            else:
                if response.status_code < 500:
                    if response.is_error:
                        raise DataSourceError(f"{url} answered {response.status_code}: {_message(response)}")
                    try:
                        return response.json()
                    except ValueError as error:
                        raise DataSourceError(f"{url} did not answer with JSON: {error}") from error
                last_problem = f"HTTP {response.status_code}: {_message(response)}"
            if attempt < attempts:
                delay = self.backoff * 2 ** (attempt - 1)
                logger.warning("data API %s failed (%s); retry %d/%d in %.1f s", url, last_problem,
                               attempt, self.retries, delay)  # fmt: skip
                time.sleep(delay)
        raise DataSourceUnavailableError(
            f"data API at {self.base_url} is unavailable after {attempts} attempt(s): {last_problem}"
        )

    def health(self) -> dict[str, Any]:
        return dict(self._get("/health"))

    def batches(self) -> dict[str, Any]:
        """The batch metadata (``total_batches``, ``batch_size``, the current batch...)."""
        return dict(self._get("/batches"))

    def total_batches(self) -> int:
        meta = self.batches()
        try:
            return int(meta["total_batches"])
        except (KeyError, TypeError, ValueError) as error:
            raise DataSourceError(f"/batches did not give total_batches: {meta!r}") from error

    def get_batch(self, number: int) -> Batch:
        body = self._get("/get_data", {"batch": number})
        try:
            batch = Batch(
                batch_number=int(body["batch_number"]),
                total_batches=int(body["total_batches"]),
                batch_size=int(body["batch_size"]),
                data=list(body["data"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise DataSourceError(f"/get_data?batch={number} answered an unexpected body: {error}") from error
        if batch.batch_number != number:
            raise DataSourceError(f"asked for batch {number}, the data API sent batch {batch.batch_number}")
        if not all(isinstance(row, dict) for row in batch.data):
            raise DataSourceError(f"batch {number}: every element of data must be a JSON object")
        return batch


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if key in body:
                return str(body[key])
    return str(body)[:200]
