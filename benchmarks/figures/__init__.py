"""Registry of the benchmark figure modules: one module per figure or table of the paper.

Every module in this package exposes the shared interface (checked on discovery):

=================  =====================================================================
``NAME``           CLI key, e.g. ``"fig8"``
``TITLE``          one line
``NEEDS_AGENTS``   True if some cell trains MAASN-DA / QMIX-DA
``cells``          ``cells(quick: bool, seeds: int | None) -> list[dict]``, JSON specs
``run_cell``       ``run_cell(spec) -> list[dict]``, tidy rows repeating the spec's keys
``plot``           ``plot(df, out_dir) -> list[Path]``, PNGs from the rows
``summary``        ``summary(df) -> str``, markdown with the comparison to the paper
=================  =====================================================================

``registry()`` imports every module once, then the modules named in the environment variable
``FGAMCD_BENCH_FIGURES`` (comma-separated import names, e.g. ``mylab.fig_extra``: figures kept
outside this package, which worker processes import by the same name); a module that fails to
import or lacks part of the interface is kept out and reported by ``broken()`` (so one broken
module does not hide the others). ``get(name)`` raises a ``KeyError`` naming the known figures
or the import error. Tests can add a module with ``register(module)``.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import traceback
from types import ModuleType

REQUIRED: dict[str, type | str] = {
    "NAME": str,
    "TITLE": str,
    "NEEDS_AGENTS": bool,
    "cells": "callable",
    "run_cell": "callable",
    "plot": "callable",
    "summary": "callable",
}

EXTRA_ENV = "FGAMCD_BENCH_FIGURES"
_REGISTRY: dict[str, ModuleType] = {}
_BROKEN: dict[str, str] = {}
_DISCOVERED = False


def validate(module: ModuleType) -> None:
    """Raise ``TypeError`` naming what ``module`` lacks of the figure interface."""
    problems = []
    for attr, kind in REQUIRED.items():
        if not hasattr(module, attr):
            problems.append(f"missing {attr}")
        elif kind == "callable":
            if not callable(getattr(module, attr)):
                problems.append(f"{attr} is not callable")
        elif not isinstance(getattr(module, attr), kind):  # type: ignore[arg-type]
            problems.append(f"{attr} must be a {kind.__name__}")  # type: ignore[union-attr]
    if not problems and not re.fullmatch(r"[A-Za-z0-9_\-]+", module.NAME):
        problems.append(f"NAME {module.NAME!r} must be a plain identifier (used as a directory)")
    if problems:
        raise TypeError(f"figure module {module.__name__}: " + "; ".join(problems))


def register(module: ModuleType) -> ModuleType:
    """Add a (validated) figure module; its NAME must be new."""
    validate(module)
    known = _REGISTRY.get(module.NAME)
    if known is not None and known is not module:
        raise ValueError(
            f"figure NAME {module.NAME!r} of {module.__name__} is already used by {known.__name__}"
        )
    _REGISTRY[module.NAME] = module
    return module


def unregister(name: str) -> None:
    """Remove a figure (tests use it to clean up their test-only modules)."""
    _REGISTRY.pop(name, None)


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    names = [
        f"{__name__}.{info.name}"
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
        if not info.name.startswith("_") and not info.ispkg
    ]
    names += [n.strip() for n in os.environ.get(EXTRA_ENV, "").split(",") if n.strip()]
    for full in names:
        try:
            register(importlib.import_module(full))
        except Exception:  # keep the other figures usable; report this one
            _BROKEN[full] = traceback.format_exc(limit=3)


def _natural_key(name: str) -> tuple:
    """``fig8 < fig10 < table3``: figures by number, then tables."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


def stem_key(name: str) -> str:
    """``benchmarks.figures.fig07_learning`` and ``fig7`` both give ``fig7``."""
    stem = name.rsplit(".", 1)[-1].split("_")[0]
    return re.sub(r"(?<=\D)0+(?=\d)", "", stem)


def registry() -> dict[str, ModuleType]:
    """All valid figure modules by NAME, in natural order (fig6, fig7, ..., fig18, table3)."""
    _discover()
    return {k: _REGISTRY[k] for k in sorted(_REGISTRY, key=_natural_key)}


def broken() -> dict[str, str]:
    """Modules of this package that failed to import or validate, with the reason."""
    _discover()
    return dict(_BROKEN)


def get(name: str) -> ModuleType:
    """The figure module registered as ``name`` (e.g. ``"fig8"``)."""
    reg = registry()
    if name in reg:
        return reg[name]
    msg = f"unknown figure {name!r}; known: {', '.join(reg) or 'none'}"
    hits = [m for m in _BROKEN if stem_key(m) == stem_key(name)]
    if hits:
        msg += f". Module {hits[0]} failed to load:\n{_BROKEN[hits[0]]}"
    raise KeyError(msg)
