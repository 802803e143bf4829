"""Feature library: a catalog of vectorised, causal indicators, the ``FeatureSpec`` that selects
them, ``compute_features`` over a whole :class:`~tradeopt_ml.data.Panel`, and a ``Normalizer``
fitted on the training split only.

>>> from tradeopt_ml.data import Panel, load_sample
>>> panel = Panel.from_bars(load_sample("SPY"))
>>> fs = compute_features(panel, FeatureSpec.default())
>>> fs.values.shape[2] == len(FeatureSpec.default().columns())
True
"""

from tradeopt_ml.features.catalog import catalog
from tradeopt_ml.features.compute import compute_features
from tradeopt_ml.features.featureset import FeatureSet
from tradeopt_ml.features.normalize import Normalizer
from tradeopt_ml.features.spec import FeatureItem, FeatureSpec

__all__ = [
    "FeatureItem",
    "FeatureSet",
    "FeatureSpec",
    "Normalizer",
    "catalog",
    "compute_features",
]
