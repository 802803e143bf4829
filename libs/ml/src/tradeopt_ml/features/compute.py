"""``compute_features``: a spec evaluated on a panel, all bars and symbols at once."""

from __future__ import annotations

import numpy as np

from tradeopt_ml.data import Panel
from tradeopt_ml.features.catalog import REGISTRY, Context
from tradeopt_ml.features.featureset import FeatureSet
from tradeopt_ml.features.spec import FeatureSpec


def compute_features(panel: Panel, spec: FeatureSpec | None = None) -> FeatureSet:
    """Compute ``spec`` (default: :meth:`FeatureSpec.default`) on every bar of ``panel``.

    Vectorised over time and symbols: each indicator runs once on the ``(T, N)`` arrays. Row
    ``t`` of the result depends only on bars ``<= t``; warm-up rows are NaN.

    Args:
        panel: Aligned bars.
        spec: Features to compute.

    Returns:
        A :class:`FeatureSet` with float32 values of shape ``(T, N, F)``.
    """
    spec = spec if spec is not None else FeatureSpec.default()
    ctx = Context(panel)
    columns = spec.columns()
    t, n = panel.n_bars, panel.n_assets
    out = np.empty((t, n, len(columns)), dtype=np.float32)
    j = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        for item in spec.features:
            for array in REGISTRY[item.name].compute(ctx, item.params):
                out[:, :, j] = array
                j += 1
    assert j == len(columns), "an indicator returned the wrong number of columns"
    return FeatureSet.build(out, columns, panel.symbols, panel.timestamps, spec_hash=spec.hash())
