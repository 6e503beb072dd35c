"""The one feature definition training and serving share.

``definition`` lists the features as data; ``build`` computes them for (site,
month) targets from data known before each month.
"""

from models.features.build import build_features, to_matrix
from models.features.definition import (
    CATEGORIES,
    FEATURE_NAMES,
    FEATURE_SET_VERSION,
    FEATURES,
    Feature,
    categorical_indices,
    group_of,
    monotone_constraints,
)

__all__ = [
    "CATEGORIES",
    "FEATURES",
    "FEATURE_NAMES",
    "FEATURE_SET_VERSION",
    "Feature",
    "build_features",
    "categorical_indices",
    "group_of",
    "monotone_constraints",
    "to_matrix",
]
