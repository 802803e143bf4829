"""The training service's HTTP API as other services' jobs use it: the evaluation service's
walk-forward fold runs and the tuning service's trials are ordinary runs, created, read and
canceled through the owning service (never through its tables), and a finished study's outcome
is recorded on every trial's model (``PUT /api/v1/models/{id}/study``) and its best model gets an
alias (``PATCH /api/v1/models/{id}``).
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import httpx

from tradeopt_common.config import CommonSettings
from tradeopt_common.errors import ServiceUnavailable, ValidationFailed
from tradeopt_common.logging import get_logger

log = get_logger(__name__)


class TrainingRefused(ValidationFailed):
    """The training service refused a request (4xx); the message says which and why."""


#: Pauses between attempts when the training service is unreachable or answers 5xx: a restart
#: or a rolling deploy of its API costs a job a few seconds, not its failure.
RETRY_DELAYS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)


class TrainingClient:
    """The training service's HTTP API (sync: jobs run in worker threads).

    Every call is safe to repeat (reads, idempotent ``PUT``/cancel, run creation under an
    ``Idempotency-Key``), so connection errors and 5xx answers are retried after each of
    ``retry_delays``; only then is :class:`ServiceUnavailable` raised (the job is retried later).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )
        self.retry_delays = retry_delays

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> TrainingClient:
        """A client for ``TRADING_OPT_TRAINING_URL`` with the internal service key (write
        scope, recorded as the creator ``service`` of the runs it starts), never the admin key.
        """
        return cls(settings.training_url, settings.service_key)

    def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        for delay in (*self.retry_delays, None):
            try:
                resp = self.http.request(method, path, **kwargs)
            except httpx.HTTPError as exc:
                error = ServiceUnavailable(f"training service unreachable: {exc}")
            else:
                if resp.status_code < 500:
                    break
                error = ServiceUnavailable(
                    f"training service error {resp.status_code}: {resp.text[:300]}"
                )
            if delay is None:
                raise error
            log.warning("training_client.retry", method=method, path=path, error=error.detail)
            time.sleep(delay)
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("detail", resp.text)
            except ValueError:
                detail = resp.text
            raise TrainingRefused(f"the training service refused {method} {path}: {detail}")
        return resp.json()

    def create_run(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """``POST /api/v1/runs`` (replayed when the key was used before)."""
        return self._call(
            "POST", "/api/v1/runs", json=body, headers={"Idempotency-Key": idempotency_key}
        )

    def get_run(self, run_id: str) -> dict[str, Any]:
        """``GET /api/v1/runs/{id}``."""
        return self._call("GET", f"/api/v1/runs/{run_id}")

    def cancel_run(self, run_id: str) -> None:
        """``POST /api/v1/runs/{id}/cancel`` (a finished run's 409 is ignored)."""
        with contextlib.suppress(TrainingRefused):
            self._call("POST", f"/api/v1/runs/{run_id}/cancel")

    def record_study(self, model_id: str, outcome: dict[str, Any]) -> dict[str, Any]:
        """``PUT /api/v1/models/{id}/study`` (idempotent)."""
        return self._call("PUT", f"/api/v1/models/{model_id}/study", json=outcome)

    def add_alias(self, model_id: str, alias: str, note: str | None = None) -> dict[str, Any]:
        """Give the model ``alias`` in the registry (``PATCH /api/v1/models/{id}``), keeping its
        other aliases; an alias names one model at a time, so it moves here from any other.
        No change (and no history entry) when the model has it already.
        """
        model = self._call("GET", f"/api/v1/models/{model_id}")
        aliases = list(model.get("aliases") or [])
        if alias in aliases:
            return model
        body: dict[str, Any] = {"aliases": sorted({*aliases, alias})}
        if note:
            body["note"] = note[:500]
        return self._call("PATCH", f"/api/v1/models/{model_id}", json=body)

    def close(self) -> None:
        """Release the connection pool."""
        self.http.close()
