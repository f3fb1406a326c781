"""Learning agents for FGAMCD: MAASN-DA, QMIX-DA, their data augmentation and ablations.

``make_policy``, ``load_policy``, ``load_reference`` and ``TrainConfig`` are imported lazily so
that light modules (``agents.theorem``, ``agents.reference``'s index) do not pull in torch. The
training loop is ``agents.train.train`` (``agents.train`` is its module).
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "TrainConfig": "agents.config",
    "make_policy": "agents.policy",
    "load_policy": "agents.policy",
    "LearnedPolicy": "agents.policy",
    "load_reference": "agents.reference",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
