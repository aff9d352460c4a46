"""Mean and 95% t-interval over seeds, as the question scripts (``capsule_question``, ``detector_question``,
``capsule_time``) report every figure: with three seeds the interval is wide, and it is cut at the bounds its
metric cannot cross (FID at 0, AUC at 0 and 1), since a negative FID or an AUC above 1 would be no statement."""

from __future__ import annotations

import math

import pandas as pd

from detectors.metrics import seed_interval


def t_interval(values: pd.Series, bounds: tuple[float | None, float | None] = (None, None),
               ) -> tuple[float, float, float]:
    """(mean, low, high) over the seeds in ``values``; low and high are NaN for one seed and equal the mean when
    every seed gave the same value."""
    interval = seed_interval(values)
    if interval is None:
        return float(values.mean()), math.nan, math.nan
    mean, low, high = interval
    floor, ceiling = bounds
    return mean, max(low, floor) if floor is not None else low, min(high, ceiling) if ceiling is not None else high


def interval_text(values: pd.Series, bounds: tuple[float | None, float | None] = (None, None),
                  number: str = ".3g") -> str:
    """``mean [low, high]``, or ``mean (1 seed)``."""
    mean, low, high = t_interval(values, bounds)
    if math.isnan(low):
        return f"{mean:{number}} (1 seed)"
    return f"{mean:{number}} [{low:{number}}, {high:{number}}]"
