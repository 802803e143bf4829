"""``Normalizer``: z-scores with statistics fitted on the training rows only.

Choices (documented here because model lineage stores them):

* Statistics are **per feature, pooled over all symbols** by default (``per_asset=False``): one
  policy trades several symbols, and pooled scaling keeps cross-sectional information (a low
  volatility on TLT stays lower than on QQQ after scaling). ``per_asset=True`` fits one mean/std
  per ``(symbol, feature)`` instead.
* Mean and population std (``ddof=0``) over the **finite** values of the training rows, so the
  warm-up NaNs at the start of the train split are skipped. A std below ``1e-12`` (a constant
  column, e.g. the month over a short split) is replaced by 1 so it scales to zero, not infinity.
* :meth:`Normalizer.transform` returns float32 ``(x - mean) / std`` clipped to ``[-clip, clip]``
  with **NaN kept as NaN** (warm-up rows stay visibly invalid; start windows at
  ``FeatureSet.valid_from``). :meth:`Normalizer.transform_with_mask` gives NaN -> 0 plus a
  boolean mask of the finite entries for consumers that need dense input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeopt_ml.features.featureset import FeatureSet

_MIN_STD = 1e-12


def _bounds(train: slice | tuple[int, int], n_bars: int) -> tuple[int, int]:
    if isinstance(train, slice):
        start, stop, step = train.indices(n_bars)
        if step != 1:
            raise ValueError("the training split must be contiguous (slice step 1)")
    else:
        start, stop = (int(v) for v in train)
    if not 0 <= start < stop <= n_bars:
        raise ValueError(f"bad training rows [{start}, {stop}) of {n_bars} bars")
    return start, stop


@dataclass(frozen=True, eq=False)
class Normalizer:
    """Fitted z-score statistics; build with :meth:`fit` or :meth:`from_dict`.

    Attributes:
        columns: Feature columns the statistics belong to (checked on transform).
        symbols: Symbols, in order (checked on transform when ``per_asset``).
        mean: ``(F,)`` or, per asset, ``(N, F)`` float64.
        std: Same shape as ``mean``; never below ``1e-12``.
        per_asset: Whether statistics are per ``(symbol, feature)``.
        clip: Transformed values are clipped to ``[-clip, clip]``.
        train: The half-open training rows ``(start, stop)`` the statistics come from.
    """

    columns: tuple[str, ...]
    symbols: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    per_asset: bool = False
    clip: float = 5.0
    train: tuple[int, int] = (0, 0)

    @classmethod
    def fit(
        cls,
        features: FeatureSet,
        train: slice | tuple[int, int],
        per_asset: bool = False,
        clip: float = 5.0,
    ) -> Normalizer:
        """Fit mean/std on the rows ``train`` of ``features`` (other rows are never read).

        Args:
            features: The computed features.
            train: Training rows, a ``slice`` (step 1) or a half-open ``(start, stop)``.
            per_asset: One statistic per ``(symbol, feature)`` instead of per feature.
            clip: Clip bound for :meth:`transform` (positive).

        Raises:
            ValueError: For a bad split, a non-positive clip, or a feature with no finite
                value in the training rows (the split is shorter than the warm-up).
        """
        if not clip > 0:
            raise ValueError(f"clip must be positive, got {clip}")
        start, stop = _bounds(train, features.n_bars)
        block = features.values[start:stop].astype(np.float64)  # (t, N, F)
        finite = np.isfinite(block)
        axes = 0 if per_asset else (0, 1)
        count = finite.sum(axis=axes)
        empty = np.atleast_1d(count == 0)
        if empty.any():
            cols = np.atleast_1d(np.atleast_2d(empty).any(axis=0))
            names = ", ".join(c for c, bad in zip(features.columns, cols, strict=True) if bad)
            raise ValueError(
                f"no finite training values for: {names} (split shorter than warm-up?)"
            )
        filled = np.where(finite, block, 0.0)
        mean = filled.sum(axis=axes) / count
        var = (np.where(finite, block - mean, 0.0) ** 2).sum(axis=axes) / count
        std = np.sqrt(var)
        std = np.where(std < _MIN_STD, 1.0, std)
        return cls(
            columns=features.columns,
            symbols=features.symbols,
            mean=mean,
            std=std,
            per_asset=per_asset,
            clip=float(clip),
            train=(start, stop),
        )

    def _check(self, features: FeatureSet) -> None:
        if features.columns != self.columns:
            raise ValueError("feature columns differ from the ones the normalizer was fitted on")
        if self.per_asset and features.symbols != self.symbols:
            raise ValueError("symbols differ from the ones the per-asset normalizer was fitted on")

    def transform(self, features: FeatureSet) -> np.ndarray:
        """``(T, N, F)`` float32 z-scores clipped to ``±clip``; NaN stays NaN."""
        self._check(features)
        z = (features.values.astype(np.float64) - self.mean) / self.std
        return np.clip(z, -self.clip, self.clip).astype(np.float32)

    def transform_with_mask(self, features: FeatureSet) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`transform` with NaN replaced by 0, plus the ``(T, N, F)`` finite mask."""
        z = self.transform(features)
        mask = np.isfinite(z)
        return np.where(mask, z, np.float32(0.0)), mask

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable state for model lineage (floats round-trip exactly)."""
        return {
            "version": 1,
            "columns": list(self.columns),
            "symbols": list(self.symbols),
            "per_asset": self.per_asset,
            "clip": self.clip,
            "train": list(self.train),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalizer:
        """Inverse of :meth:`to_dict`."""
        if data.get("version") != 1:
            raise ValueError(f"unsupported normalizer version {data.get('version')!r}")
        mean = np.asarray(data["mean"], dtype=np.float64)
        std = np.asarray(data["std"], dtype=np.float64)
        n_cols = len(data["columns"])
        expected = (len(data["symbols"]), n_cols) if data["per_asset"] else (n_cols,)
        if mean.shape != expected or std.shape != expected:
            raise ValueError(f"mean/std shape {mean.shape} does not match {expected}")
        return cls(
            columns=tuple(data["columns"]),
            symbols=tuple(data["symbols"]),
            mean=mean,
            std=std,
            per_asset=bool(data["per_asset"]),
            clip=float(data["clip"]),
            train=(int(data["train"][0]), int(data["train"][1])),
        )
