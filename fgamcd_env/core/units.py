"""Unit conversions used by the configuration (dB, dBm)."""

from __future__ import annotations

import numpy as np


def db_to_linear(value_db: float) -> float:
    """Power ratio from decibels."""
    return float(10.0 ** (value_db / 10.0))


def dbm_to_watt(value_dbm: float) -> float:
    """Power in watts from dBm."""
    return float(10.0 ** ((value_dbm - 30.0) / 10.0))


def bytes_to_bits(size_bytes: float | np.ndarray) -> float | np.ndarray:
    return size_bytes * 8.0
