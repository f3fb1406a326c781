"""The AI-model repository: models as sets of parameter blocks (PBs) that share frozen blocks.

Block granularity (see ``fgamcd_env/data/make_tables.py``): one PB per torchvision top-level
child of a CNN (stem, residual / inception / inverted-residual block, classifier head) and one per
embedding, decoder layer or output head of an LLM. Per base model that gives 17 (Inception-v3,
auxiliary head excluded: it is training-only and never downloaded for inference), 10 (ResNet-18)
and 20 (MobileNet-v2) blocks; the fine-tuned CNN heads have ``num_classes`` outputs.

Two-stage fine-tuning (paper section V-A): per base, ``g`` stage-1 models fine-tune all
parameters; every other model is a stage-2 child of one of them (round robin), freezing the
parent's bottom ``L`` blocks, which it therefore shares. A base with ``P`` blocks and ``m`` models
contributes ``g * P + (m - g) * (P - L)`` PBs. The paper preset (``g = 6`` per base, reuse ratios
33.41 % / 25 % / 45 % -> ``L`` = 12 / 7 / 16 frozen blocks) gives
``20*47 - 14*35 = 450`` PBs, the paper's K, with sizes from 3.58 KB (MobileNet-v2 features.1)
to 24.31 MB (Inception-v3 Mixed_7c), the paper's range being 3.71 KB to 24.31 MB.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache

import numpy as np

from fgamcd_env.core.config import RepositoryConfig
from fgamcd_env.data.make_tables import CNN_FILE, LLM_FILE

CIFAR100_SUPERCLASSES: tuple[str, ...] = (
    "aquatic_mammals",
    "fish",
    "flowers",
    "food_containers",
    "fruit_and_vegetables",
    "household_electrical_devices",
    "household_furniture",
    "insects",
    "large_carnivores",
    "large_man-made_outdoor_things",
    "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores",
    "medium_mammals",
    "non-insect_invertebrates",
    "people",
    "reptiles",
    "small_mammals",
    "trees",
    "vehicles_1",
    "vehicles_2",
)


@dataclass(frozen=True)
class BaseArchitecture:
    """Blocks of one base model, bottom to top, with their parameter counts."""

    name: str
    block_names: tuple[str, ...]
    block_params: tuple[int, ...]

    @property
    def total_params(self) -> int:
        return int(sum(self.block_params))

    def reuse_share(self, frozen: int) -> float:
        """Share of the parameters in the bottom ``frozen`` blocks."""
        return float(sum(self.block_params[:frozen]) / self.total_params)


@cache
def layer_table(kind: str) -> tuple[tuple[str, str, str, str, str, int], ...]:
    """Rows ``(base, block, layer, kind, shape, params)`` of the shipped per-layer table."""
    path = CNN_FILE if kind == "cnn" else LLM_FILE
    with path.open(newline="") as fh:
        return tuple(
            (r["base"], r["block"], r["layer"], r["kind"], r["shape"], int(r["params"]))
            for r in csv.DictReader(fh)
        )


@cache
def base_architecture(kind: str, name: str, num_classes: int | None = None) -> BaseArchitecture:
    """Blocks of ``name``; for CNNs the classifier (last block) is resized to ``num_classes``."""
    blocks: dict[str, int] = {}
    rows = [r for r in layer_table(kind) if r[0] == name]
    if not rows:
        raise ValueError(f"no base model {name!r} in the {kind} layer table")
    head = rows[-1][1]
    for _base, block, _layer, layer_kind, shape, params in rows:
        if kind == "cnn" and num_classes is not None and block == head and layer_kind == "linear":
            fan_in = int(shape.split("x")[1])
            params = num_classes * fan_in + num_classes
        blocks[block] = blocks.get(block, 0) + params
    return BaseArchitecture(name, tuple(blocks), tuple(blocks.values()))


def frozen_blocks_for_ratio(arch: BaseArchitecture, ratio: float) -> int:
    """Number of bottom blocks whose parameter share is closest to ``ratio`` (head never frozen)."""
    shares = np.array([arch.reuse_share(n) for n in range(len(arch.block_params))])
    return int(np.argmin(np.abs(shares - ratio)))


@dataclass(frozen=True, eq=False)
class Repository:
    """J models over K PBs. Arrays are read-only; PB ids follow model order, bottom to top."""

    config: RepositoryConfig
    pb_sizes_bytes: np.ndarray  # (K,) int64
    pb_names: tuple[str, ...]
    pb_base: np.ndarray  # (K,) index into config.bases
    model_names: tuple[str, ...]
    model_base: np.ndarray  # (J,) index into config.bases
    model_parent: np.ndarray  # (J,) stage-1 parent model, -1 for stage-1 models
    model_pbs: tuple[np.ndarray, ...]  # K_j, PB ids of model j bottom to top
    frozen_blocks: tuple[int, ...]  # L per base
    reuse_ratios: tuple[float, ...]  # achieved parameter share of the frozen blocks per base

    @property
    def num_pbs(self) -> int:
        return int(self.pb_sizes_bytes.shape[0])

    @property
    def num_models(self) -> int:
        return len(self.model_names)

    @cached_property
    def membership(self) -> np.ndarray:
        """(J, K) bool: PB k belongs to model j."""
        out = np.zeros((self.num_models, self.num_pbs), dtype=bool)
        for j, pbs in enumerate(self.model_pbs):
            out[j, pbs] = True
        return _freeze(out)

    @property
    def model_sizes_bytes(self) -> np.ndarray:
        """(J,) bytes of each whole model."""
        return np.array([int(self.pb_sizes_bytes[p].sum()) for p in self.model_pbs], dtype=np.int64)

    @property
    def pb_share_count(self) -> np.ndarray:
        """(K,) number of models that contain each PB."""
        return self.membership.sum(axis=0)


def _freeze(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@lru_cache(maxsize=64)
def build_repository(config: RepositoryConfig) -> Repository:
    """Build the repository deterministically from ``config`` (no randomness involved)."""
    num_classes = config.num_classes if config.kind == "cnn" else None
    sizes: list[int] = []
    pb_names: list[str] = []
    pb_base: list[int] = []
    model_names: list[str] = []
    model_base: list[int] = []
    model_parent: list[int] = []
    model_pbs: list[np.ndarray] = []
    frozen_per_base: list[int] = []
    ratios: list[float] = []
    for b, base in enumerate(config.bases):
        arch = base_architecture(config.kind, base, num_classes)
        n_blocks = len(arch.block_params)
        if config.frozen_blocks is not None:
            frozen = int(config.frozen_blocks[b])
            if frozen >= n_blocks:
                raise ValueError(
                    f"RepositoryConfig.frozen_blocks={config.frozen_blocks!r}: {base} has "
                    f"{n_blocks} blocks, at most {n_blocks - 1} can be frozen"
                )
        else:
            assert config.reuse_ratios is not None
            frozen = frozen_blocks_for_ratio(arch, config.reuse_ratios[b])
        frozen_per_base.append(frozen)
        ratios.append(arch.reuse_share(frozen))
        n_models, n_parents = config.models_per_base[b], config.stage1_models[b]
        # children[i] lists the stage-2 models of parent i (round robin), then models are ordered
        # parent 0, its children, parent 1, ... so a parent's shared PBs come first.
        children = [list(range(n_parents + i, n_models, n_parents)) for i in range(n_parents)]
        order = [
            item for p in range(n_parents) for item in [(p, -1)] + [(c, p) for c in children[p]]
        ]
        local_to_global: dict[int, int] = {}
        for local, parent_local in order:
            j = len(model_names)
            local_to_global[local] = j
            task = (
                CIFAR100_SUPERCLASSES[local]
                if config.kind == "cnn" and local < 20
                else f"task{local}"
            )
            name = f"{base}/{task}"
            ids = np.empty(n_blocks, dtype=np.int64)
            for i, (block, params) in enumerate(
                zip(arch.block_names, arch.block_params, strict=True)
            ):
                if parent_local >= 0 and i < frozen:
                    ids[i] = model_pbs[local_to_global[parent_local]][i]
                    continue
                ids[i] = len(sizes)
                sizes.append(params * config.bytes_per_param)
                pb_names.append(f"{name}:{block}")
                pb_base.append(b)
            model_names.append(name)
            model_base.append(b)
            model_parent.append(-1 if parent_local < 0 else local_to_global[parent_local])
            model_pbs.append(_freeze(ids))
    return Repository(
        config=config,
        pb_sizes_bytes=_freeze(np.asarray(sizes, dtype=np.int64)),
        pb_names=tuple(pb_names),
        pb_base=_freeze(np.asarray(pb_base, dtype=np.int64)),
        model_names=tuple(model_names),
        model_base=_freeze(np.asarray(model_base, dtype=np.int64)),
        model_parent=_freeze(np.asarray(model_parent, dtype=np.int64)),
        model_pbs=tuple(model_pbs),
        frozen_blocks=tuple(frozen_per_base),
        reuse_ratios=tuple(ratios),
    )
