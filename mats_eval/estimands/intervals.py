"""90% intervals of draws (arviz-stats), free of PyMC so that decisions and the report can use them."""
from __future__ import annotations

import numpy as np
from arviz_stats.base import array_stats

from mats_eval.constants import INTERVAL_PROB


def hdi(draws, prob: float = INTERVAL_PROB):
    """Narrowest interval holding `prob` of the draws, along axis 0: (low, high).

    Floats for a 1-D input, arrays over the remaining axes otherwise.
    """
    return _split(array_stats.hdi(np.asarray(draws, dtype=float), prob, axis=0))


def equal_tailed(draws, prob: float = INTERVAL_PROB):
    """The (1 − prob)/2 and (1 + prob)/2 quantiles along axis 0: (low, high)."""
    return _split(array_stats.eti(np.asarray(draws, dtype=float), prob, axis=0))


def _split(interval: np.ndarray):
    low, high = interval[..., 0], interval[..., 1]
    return (float(low), float(high)) if low.ndim == 0 else (low, high)
