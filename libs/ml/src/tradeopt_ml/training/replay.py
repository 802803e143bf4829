"""Compact replay-buffer files for checkpoints.

SB3 pickles the whole preallocated replay buffer (``buffer_size`` rows, filled or not), so an
early checkpoint of a run with a 50k buffer and a 300-float observation weighs ~120 MB. Here only
the filled rows are written; loading pads the arrays back to ``buffer_size``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.save_util import save_to_pkl

_MARK = "_tradeopt_trimmed_rows"


def _row_arrays(buffer: Any) -> dict[str, Any]:
    """The per-row arrays (or dicts of arrays) of ``buffer``, keyed by attribute name."""
    size = buffer.buffer_size
    found: dict[str, Any] = {}
    for name, value in vars(buffer).items():
        is_rows = isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == size
        is_dict_rows = (
            isinstance(value, dict)
            and bool(value)
            and all(isinstance(v, np.ndarray) and v.shape[0] == size for v in value.values())
        )
        if is_rows or is_dict_rows:
            found[name] = value
    return found


def save_replay_buffer(model: Any, path: Path) -> None:
    """Write ``model.replay_buffer`` to ``path`` keeping only its filled rows."""
    buffer = model.replay_buffer
    rows = buffer.buffer_size if buffer.full else buffer.pos
    if rows == buffer.buffer_size:
        save_to_pkl(path, buffer)
        return
    trimmed = copy.copy(buffer)
    for name, value in _row_arrays(buffer).items():
        if isinstance(value, dict):
            setattr(trimmed, name, {k: v[:rows] for k, v in value.items()})
        else:
            setattr(trimmed, name, value[:rows])
    setattr(trimmed, _MARK, (rows, sorted(_row_arrays(buffer))))
    save_to_pkl(path, trimmed)


def _pad(array: np.ndarray, size: int) -> np.ndarray:
    full = np.zeros((size, *array.shape[1:]), dtype=array.dtype)
    full[: array.shape[0]] = array
    return full


def load_replay_buffer(model: Any, path: Path) -> None:
    """Load a buffer written by :func:`save_replay_buffer` (or by SB3) into ``model``."""
    model.load_replay_buffer(path)
    buffer = model.replay_buffer
    mark = getattr(buffer, _MARK, None)
    if mark is None:
        return
    _rows, names = mark
    size = buffer.buffer_size
    for name in names:
        value = getattr(buffer, name)
        if isinstance(value, dict):
            setattr(buffer, name, {k: _pad(v, size) for k, v in value.items()})
        else:
            setattr(buffer, name, _pad(value, size))
    delattr(buffer, _MARK)
