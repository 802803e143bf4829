"""The soak's client side: every request through the gateway is recorded (:class:`Call`) so the
figures can count errors during and after each fault.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

TERMINAL = {"succeeded", "failed", "canceled"}
PATHS = {"dataset": "datasets", "run": "runs", "evaluation": "evaluations"}
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class Call:
    """One HTTP request the soak made."""

    t: float  # monotonic, when it was sent
    source: str  # submit | poll | probe | recovery | bad | final
    method: str
    path: str
    status: int | None  # None: connection error / timeout
    ms: float


class Api:
    """httpx clients through the gateway, one loopback source address per role (the gateway's
    rate limit is per client address), recording every call.
    """

    SOURCES = {
        "submit": "127.0.0.2",
        "poll": "127.0.0.3",
        "probe": "127.0.0.4",
        "recovery": "127.0.0.5",
        "bad": "127.0.0.6",
        "final": "127.0.0.7",
    }

    def __init__(self, base: str, key: str) -> None:
        self.base, self.key = base, key
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, int], httpx.Client] = {}

    def _client(self, source: str) -> httpx.Client:
        ident = (source, threading.get_ident())
        client = self._clients.get(ident)
        if client is None:
            transport = httpx.HTTPTransport(local_address=self.SOURCES[source], retries=0)
            client = httpx.Client(base_url=self.base, transport=transport, timeout=15.0)
            self._clients[ident] = client
        return client

    def request(
        self,
        source: str,
        method: str,
        path: str,
        *,
        key: str | None = "default",
        **kwargs: Any,
    ) -> httpx.Response | None:
        """Send one request as ``source``; None on a connection error or timeout."""
        headers = dict(kwargs.pop("headers", None) or {})
        if key == "default":
            key = self.key
        if key is not None and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {key}"
        started = time.monotonic()
        resp: httpx.Response | None
        try:
            resp = self._client(source).request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError:
            resp = None
        call = Call(
            started,
            source,
            method,
            path,
            None if resp is None else resp.status_code,
            (time.monotonic() - started) * 1000,
        )
        with self._lock:
            self.calls.append(call)
        return resp

    def close(self) -> None:
        """Close every client."""
        for client in self._clients.values():
            client.close()


def json_body(resp: httpx.Response | None) -> dict[str, Any]:
    """The JSON object of a response, or ``{}`` (no response, not JSON, not an object)."""
    if resp is None:
        return {}
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def retryable(resp: httpx.Response | None) -> bool:
    """Whether a submission may be retried: no answer, a 5xx or a 429."""
    return resp is None or resp.status_code >= 500 or resp.status_code == 429
