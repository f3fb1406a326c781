"""FGAMCD in TorchRL: ``PettingZooWrapper`` with masks and the global state, a shared-parameter
masked-categorical policy and a synchronous collector.

The N agents form one TorchRL group ``"edge"``; each acts with a ``Discrete(2**N)`` index
(``DiscreteActions``) under the flat action mask, which TorchRL exposes as
``("edge", "action_mask")``; o_n(k) is ``("edge", "observation", "observation")`` and
``return_state=True`` adds s(k) as ``"state"`` for centralised critics (MAPPO, QMIX).

TorchRL stacks per-agent ``info`` entries into tensors and builds their specs from the reset
infos, so every info must be numeric with the same keys at reset and at every step.
FGAMCD's step infos are nested (``"terms"`` is a dict, ``"participating"`` a list), so
:class:`fgamcd_env.adapters.NumericInfos` flattens them to fixed scalar fields first.

TorchRL (and BenchMARL, which needs an older torchrl) lives in its own virtual environment:
``make venv-torchrl`` builds ``.venv-torchrl`` from ``interop/requirements-torchrl.txt`` and
``make test-interop`` runs ``interop/test_torchrl.py``. Then
``.venv-torchrl/bin/python examples/torchrl_collector.py --frames 256``.
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from tensordict.nn import TensorDictModule
from torchrl.envs import PettingZooWrapper
from torchrl.envs.utils import check_env_specs
from torchrl.modules import MaskedCategorical, MultiAgentMLP, ProbabilisticActor

import fgamcd_env
from fgamcd_env.adapters import NumericInfos
from fgamcd_env.wrappers import DiscreteActions

try:  # torchrl >= 0.14 renamed SyncDataCollector to Collector
    from torchrl.collectors import Collector
except ImportError:  # older torchrl, e.g. next to BenchMARL
    from torchrl.collectors import SyncDataCollector as Collector

GROUP = "edge"  # TorchRL groups agents named "<group>_<int>" together
OBS = (GROUP, "observation", "observation")  # the Dict observation's "observation" entry


def make_env(scenario: str = "small", seed: int = 0, **kwargs: Any) -> PettingZooWrapper:
    """The TorchRL view of FGAMCD: masked ``Discrete(2**N)`` actions, global state, float infos."""
    par = fgamcd_env.parallel_env(
        scenario, seed=seed, beamformer="fast", action_masks=True, **kwargs
    )
    return PettingZooWrapper(
        NumericInfos(DiscreteActions(par)),
        categorical_actions=True,
        return_state=True,
        seed=seed,
    )


def make_policy(env: PettingZooWrapper, hidden: int = 64) -> ProbabilisticActor:
    """One MLP shared by all agents (decentralised inputs), sampling only unmasked actions."""
    obs_dim = env.observation_spec[OBS].shape[-1]
    n_agents = len(env.group_map[GROUP])
    n_actions = int(env.full_action_spec[GROUP, "action"].space.n)
    net = MultiAgentMLP(
        n_agent_inputs=obs_dim,
        n_agent_outputs=n_actions,
        n_agents=n_agents,
        centralised=False,  # the spelling every torchrl version accepts
        share_params=True,
        depth=2,
        num_cells=hidden,
    )
    module = TensorDictModule(net, in_keys=[OBS], out_keys=[(GROUP, "logits")])
    return ProbabilisticActor(
        module,
        in_keys={"logits": (GROUP, "logits"), "mask": (GROUP, "action_mask")},
        out_keys=[(GROUP, "action")],
        distribution_class=MaskedCategorical,
        spec=env.full_action_spec[GROUP, "action"],
        return_log_prob=True,
    )


def main(
    frames: int = 128,
    frames_per_batch: int = 64,
    scenario: str = "small",
    seed: int = 0,
    **env_kwargs: Any,
):
    """Check the specs, then collect ``frames`` environment steps; returns the stacked batches."""
    if frames < 1 or frames_per_batch < 1:
        raise ValueError(f"frames={frames}, frames_per_batch={frames_per_batch}: need >= 1")
    torch.manual_seed(seed)
    env = make_env(scenario, seed, **env_kwargs)
    check_env_specs(env, seed=seed)
    policy = make_policy(env)
    collector = Collector(env, policy, frames_per_batch=frames_per_batch, total_frames=frames)
    batches = [batch.clone() for batch in collector]
    collector.shutdown()
    return torch.cat(batches, dim=0)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=128)
    parser.add_argument("--scenario", default="small")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = main(args.frames, scenario=args.scenario, seed=args.seed)
    reward = data["next", GROUP, "reward"]
    print(data)
    print(
        f"{data.shape[0]} steps collected; mean team reward per step {reward.mean().item():.3f}; "
        f"episodes finished: {int(data['next', 'done'].sum())}"
    )
