"""The step info dict of :class:`~tradeopt_ml.envs.TradingEnv`, cheap to deep-copy.

Stable-Baselines3's ``DummyVecEnv`` deep-copies every info dict on every step; the generic
``copy.deepcopy`` of our eight entries costs several µs — more than the step itself. The values
are immutable scalars or small arrays, so a dedicated ``__deepcopy__`` copies the arrays and
shares the scalars, falling back to ``copy.deepcopy`` for anything else (keys SB3 adds).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

_IMMUTABLE = frozenset({float, int, bool, str, type(None), np.datetime64, np.float64, np.bool_})


class StepInfo(dict[str, Any]):
    """A plain ``dict`` whose deep copy is fast (same result as ``copy.deepcopy``)."""

    __slots__ = ()

    def __deepcopy__(self, memo: dict[int, Any]) -> StepInfo:
        out = StepInfo(self)  # shallow; then replace what is mutable
        memo[id(self)] = out
        for key, value in self.items():
            kind = type(value)
            if kind in _IMMUTABLE:
                continue
            if kind is np.ndarray:
                copied = memo.get(id(value))
                if copied is None:
                    copied = memo[id(value)] = value.copy()
                out[key] = copied
            else:
                out[key] = copy.deepcopy(value, memo)
        return out
