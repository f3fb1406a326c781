"""Golden regression test of the learners: short trainings with fixed seeds must reproduce, bit
for bit, the numbers recorded below (weights, optimiser and predictor states, replay buffer,
RNG states, training curve, evaluation rows).

It guards refactorings that must not change what MAASN-DA and QMIX-DA learn. An intended change
of the learning numbers re-records the values: ``python tests/test_agents_golden.py`` prints
them. Floating-point results depend on the CPU's instruction set and the numeric libraries, so
the exact comparison runs only on the platform the values were recorded on (``PLATFORM``) and
is skipped, saying why, elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from agents.config import TrainConfig  # noqa: E402
from agents.train import CHECKPOINT, train  # noqa: E402

# Every run: default network sizes and learning values, fewer updates so it takes a second.
BASE: dict[str, Any] = dict(
    scenario="small",
    episodes=4,
    progress=False,
    batch_size=32,
    updates_per_episode=3,
    checkpoint_every=100,
)
VARIANTS: dict[str, dict[str, Any]] = {
    "maasn-da": {},
    "qmix-da": {"algo": "qmix-da"},
    "maasn-da-none-unmasked-node": {
        "augmentation": "none",
        "observed_demand_only": False,
        "exploration": "node",
    },
    "maasn-da-ablations-select": {
        "actor": "mlp",
        "critic": "independent",
        "augmentation": "cgan",
        "prune_migrations": True,
        "select_every": 2,
    },
    "maasn-da-rnn": {"augmentation": "rnn"},
    "qmix-da-unmasked-unrequested": {
        "algo": "qmix-da",
        "observed_demand_only": False,
        "storage_cost_unrequested_only": True,
    },
    "maasn-da-paper": {
        "scenario": "paper",
        "episodes": 3,
        "batch_size": 64,
        "env_kwargs": {"max_cycles": 40},
    },
    "qmix-da-paper": {
        "algo": "qmix-da",
        "scenario": "paper",
        "episodes": 3,
        "batch_size": 64,
        "env_kwargs": {"max_cycles": 40},
    },
}
# Curve columns that are results (the others are wall times).
CURVE_COLUMNS = (
    "episode",
    "return",
    "total_delay_s",
    "qos_infeasible_pbs",
    "undelivered_pbs",
    "real_samples",
    "synthetic_samples",
    "synthetic_budget",
    "prediction_error",
    "critic_loss",
    "actor_loss",
    "greedy_return",
    "greedy_delay_s",
)


def platform_id() -> dict[str, str]:
    import scipy

    return {
        "machine": platform.machine(),
        "cpu": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }


def _feed(h: Any, obj: Any) -> None:
    """Hash ``obj`` (nested dicts, sequences, tensors, arrays, numbers) into ``h``: arrays as
    their float64 (or integer / bool) bytes, dict entries in sorted key order."""
    if isinstance(obj, dict):
        for key in sorted(obj, key=str):
            h.update(f"<{key}>".encode())
            _feed(h, obj[key])
    elif isinstance(obj, (list, tuple)):
        h.update(f"[{len(obj)}]".encode())
        for item in obj:
            _feed(h, item)
    elif isinstance(obj, torch.Tensor):
        _feed(h, obj.detach().cpu().numpy())
    elif isinstance(obj, np.ndarray):
        arr = obj.astype(np.float64) if obj.dtype.kind == "f" else obj
        h.update(f"{arr.dtype}{arr.shape}".encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    else:
        h.update(repr(obj).encode())


def _digest(obj: Any) -> str:
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def fingerprint(cfg: TrainConfig) -> dict[str, Any]:
    """Train ``cfg`` (its ``out`` set) and summarise what it produced."""
    res = train(cfg)
    state = torch.load(Path(cfg.output.out) / CHECKPOINT, map_location="cpu", weights_only=False)
    learner = state["learner"]
    data = dict(learner["buffer"]["data"])
    if "next_ok" in data:  # the next step's permissions, unused at the end of an episode
        live = data["done"].numpy() == 0
        data["next_ok"] = data["next_ok"].numpy()[live]
    curve = [[row.get(c) for c in CURVE_COLUMNS] for row in res["curve"]]
    evals = [{k: v for k, v in r.items() if k != "policy"} for r in res["eval_rows"]]
    return {
        "returns": [row["return"] for row in res["curve"]],
        "eval_return": [r["return"] for r in res["eval_rows"]],
        "eval_delay_s": [r["total_delay_s"] for r in res["eval_rows"]],
        "modules": _digest(learner["modules"]),
        "buffer": _digest(data),
        "predictor": _digest(learner["predictor"]),
        "rng": _digest({**state["rng"], "torch_gen": learner["torch_gen"]}),
        "best": _digest(state.get("best")),
        "curve": _digest(curve),
        "eval": _digest(evals),
    }


def config(name: str, out: Path) -> TrainConfig:
    return TrainConfig().replace(**{**BASE, **VARIANTS[name], "out": out})


PLATFORM = {
    "machine": "x86_64",
    "cpu": "AVX512",
    "torch": "2.13.0+cpu",
    "numpy": "2.4.6",
    "scipy": "1.17.1",
}
GOLDEN: dict[str, dict[str, Any]] = {
    "maasn-da": {
        "returns": [
            -240.20613949871864,
            -260.18405106942765,
            -280.12644230753017,
            -270.1336323050253,
        ],
        "eval_return": [-230.0],
        "eval_delay_s": [0.0],
        "modules": "c3ba30bbc2e18d004e08330391ebe8c493c462ea447164978155717264838221",
        "buffer": "ce65be342d09de8c4dadd3df0308a7414feda0163f77d362a7110e336c4d0b2b",
        "predictor": "89346349e792bedb052c4a00c729a34d036c4f935753b1595847c6d1d103b875",
        "rng": "7fa6f55057b0e2cc075991bbabb206dd7b0a904983c154411bd8f612416da557",
        "best": "dc937b59892604f5a86ac96936cd7ff09e25f18ae6b758e8014a24c7fa039e91",
        "curve": "2c537148ad4e9e4d24defe3405cc2e89ef2909e001cb9e25a56690aa791fe3dc",
        "eval": "e26a7ed1e357e6c38f95499b54d22ede24478ffa4c83ac9c26d29eef6a5393b8",
    },
    "qmix-da": {
        "returns": [
            -100.31422342140245,
            -100.3064042193586,
            -90.35073655237937,
            -90.39184368703374,
        ],
        "eval_return": [-90.55853833457685],
        "eval_delay_s": [0.5585383345768586],
        "modules": "fbc49771deb9d98aa9f5a2abdf5a653046cff14ea1eb0b6d587e9736ead89233",
        "buffer": "50ac12a9f963517db5d38d92318309241fcb147a7f0a9b1b275be93a168db219",
        "predictor": "b74f66f5541fe7c063d0bec131e8eea509c0b935ef58e91ba9825d54f32f6cec",
        "rng": "472ff653463db526d639e5c37d9d68261850cf3aa43559538ce6fd0b457ffad5",
        "best": "dc937b59892604f5a86ac96936cd7ff09e25f18ae6b758e8014a24c7fa039e91",
        "curve": "c7f2754bbab8504513cc2fac44335770b4fa91329dda05e412ff5537de7a88a4",
        "eval": "e50f1f5b39c05187dce6ceb47695e86da62f378fb9cfd6ab4a1730af099e0b03",
    },
    "maasn-da-none-unmasked-node": {
        "returns": [
            -160.2660332607347,
            -190.2256151632551,
            -270.18108322519635,
            -270.14588820497295,
        ],
        "eval_return": [-280.0],
        "eval_delay_s": [0.0],
        "modules": "38c2855d11fc6d2415da6a82ed3e7e6ec438859aac2954f6b035d6a75d3ae765",
        "buffer": "fa4f1998e535820a7525382d77b04fc6e63dfa537658c17d879c21c9d722707b",
        "predictor": "dc937b59892604f5a86ac96936cd7ff09e25f18ae6b758e8014a24c7fa039e91",
        "rng": "de180fbb8d2595795992f36b9922af3f7bb911d389eb44b2efe6a930ec891414",
        "best": "dc937b59892604f5a86ac96936cd7ff09e25f18ae6b758e8014a24c7fa039e91",
        "curve": "153a8d4daec68c8225baa92e31cea958a636bda0493e00c31b0b15dff0190eb5",
        "eval": "eb383501a46adfeed4d179da722c3604e8b6ae473b94faee7fb18e0f551e728c",
    },
    "maasn-da-ablations-select": {
        "returns": [
            -240.18433357151747,
            -260.16332976974763,
            -240.16785907379546,
            -230.1574057846525,
        ],
        "eval_return": [-230.0],
        "eval_delay_s": [0.0],
        "modules": "9eef88a911dfead3bef92cf7532a621792953335ecd5f857429bf718cfeb21a7",
        "buffer": "c747dc35926bf9aa338cab0bee647abfdb0db6d593a05a3fdcda63ba3d2d8038",
        "predictor": "0194555bbf0fc88f0aed350139cfe57ff51974452e9434a95bf37f9f49e2d44f",
        "rng": "e743560892337fa253e9b0c0fbdb2bddf01305fd05353408927a5ef533f761e6",
        "best": "5b72055d64b8a8e088c1fcf87da60865e211a0d3e7963f58004ba3d1453d03ec",
        "curve": "cfc06a6995350655f246dcd714cb3f5b693cb944c7114a7f1783efeaf853a8d8",
        "eval": "e26a7ed1e357e6c38f95499b54d22ede24478ffa4c83ac9c26d29eef6a5393b8",
    },
    "maasn-da-rnn": {
        "returns": [
            -240.20613949871864,
            -260.18405106942765,
            -280.12644230753017,
            -270.1336323050253,
        ],
        "eval_return": [-230.0],
        "eval_delay_s": [0.0],
        "modules": "3558cb5fb460398e4bc648ce521ed71a6a9b2178d533bfac205791d23329b413",
        "buffer": "edba2b5117505ae5ba564ba544b35bdc44224726d26d87769d938b50f9e50f4f",
        "predictor": "4a886719cd523bb54ea5f5b149bb210a0722865ea4c2910ff0d23dbb7af4c437",
        "rng": "7fa6f55057b0e2cc075991bbabb206dd7b0a904983c154411bd8f612416da557",
        "best": "dc937b59892604f5a86ac96936cd7ff09e25f18ae6b758e8014a24c7fa039e91",
        "curve": "c10e75614c21b7c9c605f6dc1fc4c387b0eb41809ef4531c848362c73f2543a2",
        "eval": "e26a7ed1e357e6c38f95499b54d22ede24478ffa4c83ac9c26d29eef6a5393b8",
    },
    "qmix-da-unmasked-unrequested": {
        "returns": [
            -130.2774437017134,
            -120.31201074270972,
            -120.32899378083717,
            -140.30977637319586,
        ],
        "eval_return": [-100.41591705697545],
        "eval_delay_s": [0.49134377390617917],
        "modules": "f24c59646a7ab3bb43c928417c9e7674c9a7d9afe192d55ecd13518e420bc55b",
        "buffer": "8cbbc9041fe5a214594eef89b140b38dae553f57347dac72cd6f9476ecf0723b",
        "predictor": "38dc5841d726f68837059b16912afb387553bd5584c94cb4af9d60bcb06f3fc4",
        "rng": "0080631d21f4b44ae67fd042c955a00f6d11e3a3b5abaf8a9661987096ea3f5a",
        "best": "dc937b59892604f5a86ac96936cd7ff09e25f18ae6b758e8014a24c7fa039e91",
        "curve": "8aa484eb255b37d85bda53487be9f95f2ccd9fd22be24944f9243a1d976880cd",
        "eval": "12f6b6e2709337c74ea6fe07a74d82de68412d20f40b8db90122f7a34e6e8f45",
    },
    "maasn-da-paper": {
        "returns": [-131.26787505015204, -171.27660521844314, -220.8341095397219],
        "eval_return": [-350.0],
        "eval_delay_s": [0.0],
        "modules": "8864db7252f9e8156afc616d654cb761389cd262b962b943047a03e87de8812f",
        "buffer": "5fc430fec71848749a22f2ba3e60b2c6461c677b13a42c22f99a7f34e02bdd63",
        "predictor": "8ea4f2a3aa088b45e29cb8ac025abad24f7db562216d5520bb89c55536e2930a",
        "rng": "fcce36c83ac366a262ca3081efb1419d7d3d1a37ea31a2a1864bdb918e450e76",
        "best": "dc937b59892604f5a86ac96936cd7ff09e25f18ae6b758e8014a24c7fa039e91",
        "curve": "e1dedc9295a3e28ad2211988771969b5847dc525a34b0d4a13a4973213578a0e",
        "eval": "ac0520dc824dafa8cb915709514f6014ab117192b8413ec2fb42c002ef329e66",
    },
    "qmix-da-paper": {
        "returns": [-22.036390236174498, -11.200778629932923, -12.198384759143025],
        "eval_return": [-22.209122281012423],
        "eval_delay_s": [2.2091222810124185],
        "modules": "107e516dd7f119003f73fdb35c714c997b7769598233e89bfc0fa0a5c3182653",
        "buffer": "557dbbdbf503b88fecfece768d997dc0ab93e1cc686cd4643d09217ba736ac57",
        "predictor": "9943b231821d33d200bf3404e03f7afa0fc5249a48b6c962fbe9ce2853a54a1a",
        "rng": "5e2bd0a74885b731141e1460a78cfeef5e8242b53df6db8f29c1a6dd01291baa",
        "best": "dc937b59892604f5a86ac96936cd7ff09e25f18ae6b758e8014a24c7fa039e91",
        "curve": "2cac297aa97a2382a3c2282a815f3489615e779ad1b65b55145169c98d90af3f",
        "eval": "ff8f79f8dd708ecdcbad62e115bf6f3e4e2cbc52cac44a6973823e382dd54de9",
    },
}


@pytest.mark.parametrize("name", list(VARIANTS))
def test_training_reproduces_the_recorded_numbers(name, tmp_path):
    if platform_id() != PLATFORM:
        pytest.skip(f"values recorded on {PLATFORM}, this platform is {platform_id()}")
    torch_threads = torch.get_num_threads()
    try:
        got = fingerprint(config(name, tmp_path))
    finally:
        torch.set_num_threads(torch_threads)
    want = GOLDEN[name]
    assert got["returns"] == want["returns"]
    assert got["eval_return"] == want["eval_return"]
    assert got["eval_delay_s"] == want["eval_delay_s"]
    assert got == want


if __name__ == "__main__":  # print the values to record
    import tempfile

    print("PLATFORM =", json.dumps(platform_id(), indent=4))
    golden = {}
    for variant in VARIANTS:
        with tempfile.TemporaryDirectory() as tmp:
            golden[variant] = fingerprint(config(variant, Path(tmp)))
    print("GOLDEN =", json.dumps(golden, indent=4))
