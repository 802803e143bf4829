"""A column filled chunk by chunk into one preallocated array.

Concatenating a list of chunk arrays at the end holds the column twice (the chunks and the
result), and the freed chunks mostly stay in the process's heap: filling one array sized from
an upper bound on the rows (the file's line count) keeps a column's peak at its final size.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

#: Slack (unused fraction of the buffer) that :meth:`ColumnBuffer.result` still returns as a
#: view; beyond it the used part is copied so the spare capacity is freed.
MAX_SLACK = 0.1


class ColumnBuffer:
    """Append values to a preallocated array; grows (by copying) only past ``capacity``."""

    def __init__(self, capacity: int, dtype: DTypeLike) -> None:
        """An empty column.

        Args:
            capacity: expected number of values (an upper bound avoids any copy).
            dtype: numpy dtype of the values.
        """
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self._data = np.empty(capacity, dtype=dtype)
        self._size = 0

    def __len__(self) -> int:
        """Values appended so far."""
        return self._size

    def append(self, values: ArrayLike) -> None:
        """Copy ``values`` (1-D) after the values appended so far."""
        chunk = np.asarray(values)
        end = self._size + chunk.shape[0]
        if end > self._data.shape[0]:
            grown = np.empty(max(end, 2 * self._data.shape[0]), dtype=self._data.dtype)
            grown[: self._size] = self._data[: self._size]
            self._data = grown
        self._data[self._size : end] = chunk
        self._size = end

    def result(self) -> np.ndarray:
        """The values appended, as one array (a view when little capacity is unused)."""
        if self._size == self._data.shape[0]:
            return self._data
        if self._data.shape[0] - self._size <= MAX_SLACK * self._data.shape[0]:
            return self._data[: self._size]
        return self._data[: self._size].copy()
