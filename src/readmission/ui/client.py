"""A small HTTP client of the inference API with timeouts and errors the page can explain.

Every failure becomes an :class:`ApiError` whose ``kind`` tells the page which friendly
message to show: ``down`` (cannot connect), ``slow`` (timed out), ``rejected`` (4xx with
the API's reason) or ``error`` (5xx or an unreadable answer).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx

log = logging.getLogger(__name__)

ErrorKind = Literal["down", "slow", "rejected", "error"]


class ApiError(Exception):
    """The API could not give an answer; ``kind`` says why, ``detail`` is for logs or 4xx reasons."""

    def __init__(self, kind: ErrorKind, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind: ErrorKind = kind
        self.detail = detail


@dataclass(frozen=True)
class BatchResult:
    """The API's answer for one chunk: a prediction (or None) per record, errors by index."""

    predictions: list[dict[str, Any] | None]
    errors: dict[int, list[str]]
    meta: dict[str, Any]


def _detail(response: httpx.Response) -> str:
    """The reason of a 4xx answer as one readable line."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    extra = body.get("errors") if isinstance(body, dict) else None
    if isinstance(extra, list) and extra:
        return f"{detail}: {'; '.join(str(e) for e in extra)}"
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
                parts.append(f"{where}: {item.get('msg', item)}" if where else str(item.get("msg", item)))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(detail)


class ApiClient:
    """Calls ``/predict``, ``/predict/batch``, ``/model-info`` and ``/health`` of the inference API."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        batch_timeout: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = httpx.Timeout(timeout, connect=min(timeout, 3.0))
        self.batch_timeout = httpx.Timeout(batch_timeout, connect=min(batch_timeout, 3.0))
        self._client = httpx.Client(base_url=self.base_url, transport=transport)

    def close(self) -> None:
        self._client.close()

    def _request(self, method: str, path: str, *, timeout: httpx.Timeout, json: Any = None) -> Any:
        try:
            response = self._client.request(method, path, json=json, timeout=timeout)
        except httpx.TimeoutException as error:
            log.warning("API %s %s timed out: %s", method, path, error)
            raise ApiError("slow", str(error)) from None
        except httpx.HTTPError as error:  # connection refused, DNS, protocol errors
            log.warning("API %s %s unreachable at %s: %s", method, path, self.base_url, error)
            raise ApiError("down", str(error)) from None
        if 400 <= response.status_code < 500 and response.status_code not in (404, 408, 429):
            raise ApiError("rejected", _detail(response))
        if response.status_code == 503:
            log.warning("API %s %s not ready: %s", method, path, response.text[:300])
            raise ApiError("down", _detail(response))
        if response.status_code >= 400:
            log.error("API %s %s answered %s: %s", method, path, response.status_code, response.text[:300])
            raise ApiError("error", f"HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            log.error("API %s %s answered non-JSON: %s", method, path, response.text[:300])
            raise ApiError("error", "the answer is not JSON") from None

    def health(self) -> bool:
        """True when ``/health`` answers."""
        try:
            self._request("GET", "/health", timeout=self.timeout)
        except ApiError:
            return False
        return True

    def predict(self, record: dict[str, Any], *, explain: bool = False) -> dict[str, Any]:
        """The risks of one raw record (``POST /predict``; ``explain`` adds the top factors)."""
        path = "/predict?explain=true" if explain else "/predict"
        result: dict[str, Any] = self._request("POST", path, timeout=self.timeout, json=record)
        return result

    def predict_batch(self, records: Sequence[dict[str, Any]]) -> BatchResult:
        """Risks of many raw records (``POST /predict/batch``); invalid records come back as errors."""
        body = self._request("POST", "/predict/batch", timeout=self.batch_timeout, json={"records": list(records)})
        if not isinstance(body, dict) or not isinstance(body.get("predictions"), list):
            raise ApiError("error", "unexpected /predict/batch answer")
        errors: dict[int, list[str]] = {}
        for item in body.get("errors") or []:
            messages = item.get("errors") or [item.get("error") or item.get("detail") or "invalid record"]
            errors[int(item["index"])] = [str(m) for m in messages]
        meta = {k: v for k, v in body.items() if k not in ("predictions", "errors")}
        return BatchResult(body["predictions"], errors, meta)

    def model_info(self) -> dict[str, Any]:
        """What ``GET /model-info`` says about the served model."""
        result: dict[str, Any] = self._request("GET", "/model-info", timeout=self.timeout)
        return result
