"""A local fake of the Alpaca trading REST API (the endpoints the paper adapter uses), served
by uvicorn on a spare loopback port in a thread: never the network.

Market orders fill at once at ``price`` (or stay ``new`` with ``auto_fill=False`` so cancels
can be exercised); requests with other keys than the configured ones get Alpaca's 401.

It also serves the market-data endpoint the bar feed uses, ``GET /v2/stocks/{symbol}/bars``
(``start`` inclusive, ``sort`` asc/desc, ``limit`` and ``next_page_token`` pages), from
:attr:`FakeAlpaca.bars` in the order they were added; :attr:`FakeAlpaca.late` bars are served
after them whatever ``start`` says (a provider sending an older bar late), and
:attr:`FakeAlpaca.data_down` makes the endpoint answer that HTTP status (503: down) until reset.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.processes import free_port


class FakeAlpaca:
    """State and routes of the fake."""

    def __init__(self, key: str, secret: str, *, price: float = 100.0, cash: float = 100_000.0):
        self.key, self.secret, self.price, self.cash = key, secret, price, cash
        self.auto_fill = True
        self.orders: dict[str, dict[str, Any]] = {}
        self.positions: dict[str, float] = {}
        self.requests: list[tuple[str, str]] = []
        #: Market data: symbol -> bars in Alpaca's shape (``t``, ``o``, ``h``, ``l``, ``c``, ``v``).
        self.bars: dict[str, list[dict[str, Any]]] = {}
        self.late: dict[str, list[dict[str, Any]]] = {}
        self.data_down: int | None = None
        self.data_requests: list[dict[str, str]] = []

    def _authorized(self, request: Request) -> bool:
        return (
            request.headers.get("APCA-API-KEY-ID") == self.key
            and request.headers.get("APCA-API-SECRET-KEY") == self.secret
        )

    async def dispatch(self, request: Request) -> Response:
        self.requests.append((request.method, request.url.path))
        if not self._authorized(request):
            return JSONResponse({"code": 40110000, "message": "request is not authorized"}, 401)
        path, method = request.url.path, request.method
        if path.startswith("/v2/stocks/") and path.endswith("/bars"):
            return self._bars(path.split("/")[3], dict(request.query_params))
        if path == "/v2/account":
            return JSONResponse(self._account())
        if path == "/v2/positions":
            return JSONResponse([self._position(s, q) for s, q in self.positions.items() if q])
        if path == "/v2/orders" and method == "POST":
            return JSONResponse(self._submit(await request.json()))
        if path == "/v2/orders:by_client_order_id":
            cid = request.query_params.get("client_order_id")
            for order in self.orders.values():
                if order["client_order_id"] == cid:
                    return JSONResponse(order)
            return JSONResponse({"code": 40410000, "message": "order not found"}, 404)
        if path.startswith("/v2/orders/"):
            order = self.orders.get(path.rsplit("/", 1)[1])
            if order is None:
                return JSONResponse({"code": 40410000, "message": "order not found"}, 404)
            if method == "DELETE":
                if order["status"] != "new":
                    return JSONResponse(
                        {"code": 42210000, "message": f"order is {order['status']}"}, 422
                    )
                order["status"] = "canceled"
                return Response(status_code=204)
            return JSONResponse(order)
        return JSONResponse({"code": 40410000, "message": "not found"}, 404)

    def add_bars(self, symbol: str, bars: list[dict[str, Any]], *, late: bool = False) -> None:
        """Serve more bars of ``symbol`` (``late``: after the others, ignoring ``start``)."""
        (self.late if late else self.bars).setdefault(symbol, []).extend(bars)

    def _bars(self, symbol: str, params: dict[str, str]) -> Response:
        self.data_requests.append(params)
        if self.data_down is not None:
            return JSONResponse({"code": 50010000, "message": "service unavailable"},
                                self.data_down)  # fmt: skip
        if params.get("timeframe") not in {"1Min", "5Min", "15Min", "30Min", "1Hour", "1Day"}:
            return JSONResponse({"code": 42210000, "message": "invalid timeframe"}, 422)
        rows = list(self.bars.get(symbol, []))
        if "start" in params:
            start = _instant(params["start"])
            rows = [b for b in rows if _instant(b["t"]) >= start]
        if params.get("sort") == "desc":
            rows.reverse()
        rows += self.late.get(symbol, [])
        offset = int(params.get("page_token") or 0)
        limit = int(params.get("limit") or 1000)
        page = rows[offset : offset + limit]
        token = str(offset + limit) if offset + limit < len(rows) else None
        return JSONResponse({"bars": page, "symbol": symbol, "next_page_token": token})

    def _account(self) -> dict[str, Any]:
        equity = self.cash + sum(q * self.price for q in self.positions.values())
        return {
            "id": str(uuid.UUID(int=1)),
            "account_number": "PA0000000",
            "status": "ACTIVE",
            "currency": "USD",
            "cash": str(self.cash),
            "equity": str(equity),
        }

    def _position(self, symbol: str, qty: float) -> dict[str, Any]:
        return {
            "asset_id": str(uuid.UUID(int=2)),
            "symbol": symbol,
            "exchange": "NYSE",
            "asset_class": "us_equity",
            "avg_entry_price": str(self.price),
            "qty": str(abs(qty)),
            "side": "long" if qty > 0 else "short",
            "cost_basis": str(abs(qty) * self.price),
        }

    def fill_open(self) -> int:
        """Fill every open (``new``) order at :attr:`price`, as the market would; how many."""
        n = 0
        for order in self.orders.values():
            if order["status"] == "new":
                self._fill(order, float(order["qty"]))
                n += 1
        return n

    def _fill(self, order: dict[str, Any], qty: float) -> None:
        signed = qty if order["side"] == "buy" else -qty
        self.positions[order["symbol"]] = self.positions.get(order["symbol"], 0.0) + signed
        self.cash -= signed * self.price
        order.update(status="filled", filled_qty=str(qty), filled_avg_price=str(self.price),
                     filled_at=datetime.now(UTC).isoformat())  # fmt: skip

    def _submit(self, body: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat()
        order = {
            "id": str(uuid.uuid4()),
            "client_order_id": body.get("client_order_id") or str(uuid.uuid4()),
            "created_at": now,
            "updated_at": now,
            "submitted_at": now,
            "filled_at": None,
            "symbol": body["symbol"],
            "asset_class": "us_equity",
            "qty": str(body["qty"]),
            "filled_qty": "0",
            "filled_avg_price": None,
            "order_class": "simple",
            "order_type": "market",
            "type": "market",
            "side": body["side"],
            "time_in_force": body["time_in_force"],
            "status": "new",
            "extended_hours": False,
        }
        self.orders[order["id"]] = order
        if self.auto_fill:
            self._fill(order, float(body["qty"]))
        return order


def _instant(raw: str) -> datetime:
    t = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    return t if t.tzinfo else t.replace(tzinfo=UTC)


@contextmanager
def fake_alpaca(key: str, secret: str, **kwargs: Any) -> Iterator[tuple[str, FakeAlpaca]]:
    """Serve a :class:`FakeAlpaca` until the block ends; yields ``(base_url, fake)``."""
    fake = FakeAlpaca(key, secret, **kwargs)
    app = Starlette(
        routes=[Route("/{path:path}", fake.dispatch, methods=["GET", "POST", "DELETE"])]
    )
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "fake Alpaca did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", fake
    finally:
        server.should_exit = True
        thread.join(10)
