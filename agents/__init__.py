"""Learning agents for FGAMCD: MAASN-DA, QMIX-DA, their data augmentation and ablations.

``make_policy``, ``load_policy``, ``train`` and ``TrainConfig`` are imported lazily so that light
modules (``agents.theorem``) do not pull in torch.
"""

from __future__ import annotations

import os
from typing import Any

# OpenMP threads of torch sleep as soon as they wait, instead of spinning (read when torch loads
# its OpenMP runtime, so it takes effect if agents is imported first). With torch_threads=2 on a
# loaded 2-core machine, spinning made a MAASN-DA gradient step 8x slower than one thread (367
# against 44 ms); passive waiting made it 1.9x faster (23.6 against 43.9 ms).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_LAZY = {
    "TrainConfig": "agents.config",
    "train": "agents.train",
    "make_policy": "agents.policy",
    "load_policy": "agents.policy",
    "LearnedPolicy": "agents.policy",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")
