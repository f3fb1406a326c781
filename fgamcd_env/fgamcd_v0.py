"""Versioned entry point of the FGAMCD environment (PettingZoo convention)."""

from fgamcd_env.env import env, parallel_env, raw_env

__all__ = ["env", "parallel_env", "raw_env"]
