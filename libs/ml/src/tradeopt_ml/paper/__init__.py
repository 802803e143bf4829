"""Paper trading: a strategy's policy stepped bar by bar through the training env's execution
model (the simulated broker), risk limits and the kill switch, signals from recent bars, and
the parity report against the evaluation backtest.
"""

from tradeopt_ml.paper.engine import Applied, BarRecord, PaperEngine, Policy
from tradeopt_ml.paper.parity import Divergence, ParityReport, parity_report
from tradeopt_ml.paper.risk import OrderCheck, RiskLimits, RiskState, breach, check_order
from tradeopt_ml.paper.signals import (
    BarsProblem,
    Signal,
    check_bars,
    compute_signal,
    observation,
    required_bars,
)

__all__ = [
    "Applied",
    "BarRecord",
    "BarsProblem",
    "Divergence",
    "OrderCheck",
    "PaperEngine",
    "ParityReport",
    "Policy",
    "RiskLimits",
    "RiskState",
    "Signal",
    "breach",
    "check_bars",
    "check_order",
    "compute_signal",
    "observation",
    "parity_report",
    "required_bars",
]
