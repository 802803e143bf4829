"""``tradeopt strategy …``: strategies and paper sessions of a running fleet over its HTTP API
(the gateway or the strategy service's own port), with the Bearer key of
``TRADING_OPT_API_KEY``. Problems (RFC 9457) are printed as ``error: …`` with exit code 1.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tradeopt_cli.pipeline.remote import Client, RemoteError

strategy_app = typer.Typer(
    help="Strategies, signals and paper sessions (strategy service).", no_args_is_help=True
)
Api = Annotated[str, typer.Option(help="Gateway (or strategy API) base URL.")]
ApiKey = Annotated[str | None, typer.Option(envvar="TRADING_OPT_API_KEY", help="Bearer API key.")]
DEFAULT_API = "http://localhost:8080"
ENDED = {"completed", "failed", "canceled", "halted", "stopped"}


def _console() -> Console:
    return Console(width=None if sys.stdout.isatty() else 200)


def _call(api: str, api_key: str | None, method: str, path: str, **kwargs: Any) -> Any:
    client = Client(api, api_key)
    try:
        return client.call(method, path, **kwargs)
    except RemoteError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        client.http.close()


def _print(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@strategy_app.command("create")
def create(
    model_id: Annotated[str, typer.Argument(help="A registered model with an evaluation.")],
    symbol: Annotated[str | None, typer.Option(help="The model's symbol (checked).")] = None,
    name: Annotated[str | None, typer.Option(help="A name for the strategy.")] = None,
    max_position: Annotated[float | None, typer.Option(help="Largest |weight| per asset.")] = None,
    max_drawdown: Annotated[float | None, typer.Option(help="Halt below peak by this.")] = None,
    max_daily_loss: Annotated[float | None, typer.Option(help="Halt on this daily loss.")] = None,
    max_order_size: Annotated[float | None, typer.Option(help="Largest |weight change|.")] = None,
    api: Api = DEFAULT_API,
    api_key: ApiKey = None,
) -> None:
    """Promote an evaluated model to a strategy with risk limits."""
    risk = {
        k: v
        for k, v in {
            "max_position": max_position,
            "max_drawdown": max_drawdown,
            "max_daily_loss": max_daily_loss,
            "max_order_size": max_order_size,
        }.items()
        if v is not None
    }
    body: dict[str, Any] = {"model_id": model_id, "risk": risk}
    if symbol is not None:
        body["symbol"] = symbol
    if name is not None:
        body["name"] = name
    _print(_call(api, api_key, "POST", "/strategies", json=body))


@strategy_app.command("list")
def list_strategies(api: Api = DEFAULT_API, api_key: ApiKey = None) -> None:
    """Strategies, newest first."""
    page = _call(api, api_key, "GET", "/strategies", params={"limit": 100})
    table = Table("id", "name", "model", "symbols", "state", "risk")
    for s in page["items"]:
        table.add_row(s["id"], s["name"] or "", s["model_id"], ",".join(s["symbols"]),
                      s["state"], json.dumps(s["risk"]))  # fmt: skip
    _console().print(table)


@strategy_app.command("show")
def show(strategy_id: str, api: Api = DEFAULT_API, api_key: ApiKey = None) -> None:
    """One strategy."""
    _print(_call(api, api_key, "GET", f"/strategies/{strategy_id}"))


def _set_state(strategy_id: str, state: str, api: str, api_key: str | None) -> None:
    _print(_call(api, api_key, "PATCH", f"/strategies/{strategy_id}", json={"state": state}))


@strategy_app.command("pause")
def pause(strategy_id: str, api: Api = DEFAULT_API, api_key: ApiKey = None) -> None:
    """Pause a strategy (no signals, no new sessions)."""
    _set_state(strategy_id, "paused", api, api_key)


@strategy_app.command("resume")
def resume(strategy_id: str, api: Api = DEFAULT_API, api_key: ApiKey = None) -> None:
    """Make a paused strategy active again."""
    _set_state(strategy_id, "active", api, api_key)


@strategy_app.command("stop")
def stop(strategy_id: str, api: Api = DEFAULT_API, api_key: ApiKey = None) -> None:
    """Stop a strategy for good."""
    _set_state(strategy_id, "stopped", api, api_key)


@strategy_app.command("signal")
def signal(
    strategy_id: str,
    bars: Annotated[
        Path,
        typer.Option(
            help="JSON file: a list of {t, open, high, low, close, volume} bars, oldest first."
        ),
    ],
    position: Annotated[float, typer.Option(help="The weight held now.")] = 0.0,
    api: Api = DEFAULT_API,
    api_key: ApiKey = None,
) -> None:
    """The strategy's decision at the close of the last bar."""
    body = {"bars": json.loads(bars.read_text()), "position": position}
    _print(_call(api, api_key, "POST", f"/strategies/{strategy_id}/signal", json=body))


@strategy_app.command("replay")
def replay(
    strategy_id: str,
    dataset_id: Annotated[str, typer.Option("--dataset", help="Dataset to replay.")],
    split: Annotated[str | None, typer.Option(help="train, validation or test.")] = None,
    start: Annotated[str | None, typer.Option(help="First date (instead of --split).")] = None,
    end: Annotated[str | None, typer.Option(help="Last date (instead of --split).")] = None,
    speed: Annotated[str, typer.Option(help='"max" or bars per second.')] = "max",
    wait: Annotated[bool, typer.Option(help="Wait for the end; print the parity.")] = True,
    poll: Annotated[float, typer.Option(min=0.1, help="Seconds between polls.")] = 1.0,
    api: Api = DEFAULT_API,
    api_key: ApiKey = None,
) -> None:
    """Paper-trade a strategy over a dataset range (a replay job)."""
    body: dict[str, Any] = {"strategy_id": strategy_id, "dataset_id": dataset_id,
                            "speed": speed if speed == "max" else float(speed)}  # fmt: skip
    for key, value in (("split", split), ("start", start), ("end", end)):
        if value is not None:
            body[key] = value
    paper = _call(api, api_key, "POST", "/paper-sessions", json=body)
    if not wait:
        _print(paper)
        return
    while paper["status"] not in ENDED:
        time.sleep(poll)
        paper = _call(api, api_key, "GET", f"/paper-sessions/{paper['id']}")
    _print(paper)
    if paper["status"] in ("completed", "halted", "stopped"):
        parity = _call(api, api_key, "GET", f"/paper-sessions/{paper['id']}/parity")
        typer.echo(
            f"parity vs the evaluation backtest: {'ok' if parity['ok'] else 'DIVERGES'} — "
            f"{parity['bars_compared']} bars, {parity['n_divergences']} divergent, max |Δequity| "
            f"{parity['max_abs_equity_diff']:.3g}"
        )
    if paper["status"] == "failed":
        raise typer.Exit(1)


@strategy_app.command("session")
def session(session_id: str, api: Api = DEFAULT_API, api_key: ApiKey = None) -> None:
    """A paper session and its book."""
    _print(_call(api, api_key, "GET", f"/paper-sessions/{session_id}"))


@strategy_app.command("halt-all")
def halt_all(
    reason: Annotated[str, typer.Option(help="Recorded on every halted session.")] = "kill switch",
    api: Api = DEFAULT_API,
    api_key: ApiKey = None,
) -> None:
    """The kill switch (admin key): every running paper session flattens and halts."""
    _print(_call(api, api_key, "POST", "/strategies/halt-all", json={"reason": reason}))
