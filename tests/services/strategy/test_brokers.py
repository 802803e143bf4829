"""The broker adapter contract, one suite for every implementation: the simulated broker (the
env's execution model) and the Alpaca paper adapter (``alpaca-py``) against a local fake of
Alpaca's REST API (never the network). Bad credentials give a clear error without the keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.alpaca_fake import fake_alpaca
from tradeopt_ml.execution import CostModel
from tradeopt_strategy.brokers import (
    AlpacaPaperBroker,
    BrokerAuthError,
    BrokerError,
    SimulatedBroker,
)

pytestmark = pytest.mark.unit
KEY, SECRET = "PKFAKEKEY0000000", "fake-secret-0123456789abcdefghijkl"


@pytest.fixture(params=["simulated", "alpaca"])
def broker(request) -> Iterator[tuple[object, object]]:
    """``(broker, control)``: ``control.hold(bool)`` leaves new orders open or fills them."""
    if request.param == "simulated":
        sim = SimulatedBroker(100_000.0, CostModel(0.0, 0.0))
        sim.set_price("SPY", 100.0)

        class Control:
            def hold(self, on: bool) -> None:
                sim.hold_orders = on

        yield sim, Control()
        return
    with fake_alpaca(KEY, SECRET, price=100.0) as (url, fake):

        class FakeControl:
            def hold(self, on: bool) -> None:
                fake.auto_fill = not on

        yield AlpacaPaperBroker(KEY, SECRET, url), FakeControl()


def test_submit_fill_position_and_account(broker):
    b, _ = broker
    bought = b.submit_order("SPY", 10, "buy", "session-1-bar-0")
    assert bought.status == "filled" and bought.filled_qty == 10 and bought.filled_avg_price == 100
    assert b.get_order(bought.id) == bought
    assert b.positions() == {"SPY": 10.0}
    again = b.submit_order("SPY", 10, "buy", "session-1-bar-0")  # a retried submit
    assert again.id == bought.id and b.positions() == {"SPY": 10.0}
    b.submit_order("SPY", 4, "sell", "session-1-bar-1")
    assert b.positions() == {"SPY": 6.0}
    account = b.account()
    assert account.cash == pytest.approx(100_000 - 600) and account.equity == pytest.approx(100_000)


def test_cancel_an_open_order_not_a_filled_one(broker):
    b, control = broker
    control.hold(True)
    open_order = b.submit_order("SPY", 5, "buy", "session-2-bar-0")
    assert open_order.status == "new"
    b.cancel_order(open_order.id)
    assert b.get_order(open_order.id).status == "canceled"
    assert b.positions() == {}
    control.hold(False)
    filled = b.submit_order("SPY", 5, "buy", "session-2-bar-1")
    with pytest.raises(BrokerError):
        b.cancel_order(filled.id)


def test_bad_credentials_are_a_clear_error_without_the_keys():
    with fake_alpaca(KEY, SECRET) as (url, fake):
        broker = AlpacaPaperBroker(KEY, "wrong-secret-000000000000", url)
        with pytest.raises(BrokerAuthError) as info:
            broker.account()
        message = str(info.value)
        assert "credentials" in message and "ALPACA_API_KEY" in message
        assert KEY not in message and "wrong-secret" not in message and SECRET not in message
        assert "wrong-secret" not in repr(broker)
        with pytest.raises(BrokerAuthError):
            broker.submit_order("SPY", 1, "buy", "x")
        assert fake.orders == {}  # nothing was placed


def test_the_adapter_reads_its_keys_from_settings(monkeypatch):
    from tradeopt_strategy.config import StrategySettings

    monkeypatch.delenv("ALPACA_API_KEY", raising=False)
    with pytest.raises(BrokerAuthError, match="not configured"):
        AlpacaPaperBroker.from_settings(StrategySettings())
    with fake_alpaca(KEY, SECRET) as (url, _):
        monkeypatch.setenv("ALPACA_API_KEY", KEY)
        monkeypatch.setenv("ALPACA_API_SECRET", SECRET)
        monkeypatch.setenv("ALPACA_BASE_URL", url)
        settings = StrategySettings()
        assert SECRET not in repr(settings) and KEY not in repr(settings)
        assert AlpacaPaperBroker.from_settings(settings).account().status == "ACTIVE"
