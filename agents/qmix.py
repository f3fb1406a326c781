"""QMIX-DA (Fig. 7's first baseline): QMIX over the 2**N joint bits of each agent's d_n, with a
recurrent per-agent Q network (DRQN, weights shared, agent id appended), a monotone mixer,
epsilon-greedy exploration, action masks for the forcing rules, double-Q targets, and the same
data augmentation experience replay as MAASN-DA.

Under a fixed placement (``TrainConfig`` ``placement``) a node the placement assigns the PB to
must cache it (only joint indices with the cache bit set), the others do nothing, so the
learner chooses migrations only.

Recurrence: the GRU state an agent acted with is stored with each transition (stored-state
replay, as R2D2 without burn-in), so transitions, real or synthetic, are trained one by one;
the next step's state is the GRU output of that step.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from agents.config import TrainConfig
from agents.learner import Dims, Learner, MaybeCompiled, clip_target
from agents.networks import DRQN, QMixer, soft_update


def joint_masks(cache_ok: np.ndarray, fixed: bool = False) -> np.ndarray:
    """(..., N) cache permissions -> (..., N, 2**N) valid joint indices: cache bit set or
    all-zero; only 0 when a_n is forced off. ``fixed``: the permissions are the caching bits
    of a fixed placement, so a permitted node must cache (cache bit set)."""
    cache_ok = np.asarray(cache_ok, dtype=bool)
    idx = np.arange(2 ** cache_ok.shape[-1])
    valid = (idx & 1) == 1
    if not fixed:
        valid = valid | (idx == 0)
    return np.where(cache_ok[..., None], valid, idx == 0)


def index_to_bits(index: np.ndarray, n: int) -> np.ndarray:
    """(N,) joint indices -> (N, N) bits, bit j of the index = element j of d_n."""
    return (np.asarray(index)[:, None] >> np.arange(n)) & 1


class QMIXDA(Learner):
    acting_modules = ("q",)

    def __init__(
        self, cfg: TrainConfig, dims: Dims, rng: np.random.Generator, acting_only: bool = False
    ) -> None:
        n = dims.agents
        self.extra_fields = {
            "h": ((n, cfg.network.qmix_hidden), np.float32),
            "act_idx": ((n,), np.int64),
            # the next step's cache permissions; its (N, 2**N) joint mask is rebuilt per batch
            # (storing the mask took 2**N bytes per agent: 4.9 GB of 100,000 samples at N = 12)
            "next_ok": ((n,), bool),
        }
        super().__init__(cfg, dims, rng, acting_only)
        torch.manual_seed(int(rng.integers(2**31 - 1)))
        self.q = DRQN(n, dims.obs, cfg.network.qmix_hidden)
        self.mixer = QMixer(n, dims.state, cfg.network.mixer_embed, cfg.network.hyper_hidden)
        self.q_t = copy.deepcopy(self.q)
        self.mixer_t = copy.deepcopy(self.mixer)
        self.params = list(self.q.parameters()) + list(self.mixer.parameters())
        self.opt = torch.optim.Adam(self.params, lr=cfg.optim.lr_critic, fused=True)
        self._loss = MaybeCompiled(self.loss, cfg.run.compile)
        self.h = torch.zeros(1, n, cfg.network.qmix_hidden)
        self.last_h = self.h[0].numpy().copy()
        self.last_idx = np.zeros(n, dtype=np.int64)

    def begin_episode(self) -> None:
        super().begin_episode()
        self.h = torch.zeros(1, self.dims.agents, self.cfg.network.qmix_hidden)

    def act(self, obs: np.ndarray, cache_ok: np.ndarray, explore: bool, episode: int) -> np.ndarray:
        n = self.dims.agents
        mask = joint_masks(cache_ok, self.fixed_cache)
        self.last_h = self.h[0].numpy().copy()
        q, h = self.q.step_numpy(np.asarray(obs, dtype=np.float32), self.last_h)
        self.h = torch.from_numpy(h[None])
        idx = np.where(mask, q, -np.inf).argmax(axis=1)
        if explore:
            rand = self.rng.random(n) < self.epsilon(episode)
            for i in np.flatnonzero(rand):
                valid = np.flatnonzero(mask[i])
                idx[i] = valid[self.rng.integers(len(valid))]  # the draw of rng.choice(valid)
        self.last_idx = idx
        return index_to_bits(idx, n)

    def record(
        self,
        obs: np.ndarray,
        act: np.ndarray,
        rew: float,
        next_obs: np.ndarray,
        done: bool,
        next_cache_ok: np.ndarray | None = None,
        **extra: np.ndarray,
    ) -> None:
        """With the GRU state and joint index of the last :meth:`act`."""
        super().record(
            obs,
            act,
            rew,
            next_obs,
            done,
            next_cache_ok,
            h=self.last_h,
            act_idx=self.last_idx.copy(),
        )

    def update(self, batch: dict[str, np.ndarray], episode: int) -> dict[str, float]:
        cfg = self.cfg
        loss = self._loss(
            torch.as_tensor(batch["obs"]),
            torch.as_tensor(batch["next_obs"]),
            torch.as_tensor(batch["h"]),
            torch.as_tensor(batch["act_idx"]),
            torch.as_tensor(batch["rew"]),
            torch.as_tensor(batch["done"]),
            torch.as_tensor(joint_masks(batch["next_ok"], self.fixed_cache)),
        )
        self.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, cfg.optim.grad_clip, foreach=True)
        self.opt.step()
        soft_update(self.q_t, self.q, cfg.optim.target_tau)
        soft_update(self.mixer_t, self.mixer, cfg.optim.target_tau)
        return {"critic_loss": loss.item()}

    def loss(
        self,
        obs: torch.Tensor,
        nxt: torch.Tensor,
        h: torch.Tensor,
        idx: torch.Tensor,
        rew: torch.Tensor,
        done: torch.Tensor,
        next_mask: torch.Tensor,
    ) -> torch.Tensor:
        """The TD loss (Huber) of Q_tot at the taken joint actions, double-Q target."""
        cfg = self.cfg
        not_done = 1.0 - done
        b = obs.shape[0]
        q, h1 = self.q(obs, h)
        q_taken = q.gather(-1, idx[..., None]).squeeze(-1)
        q_tot = self.mixer(q_taken, obs.reshape(b, -1))
        with torch.no_grad():
            q_next_online, _ = self.q(nxt, h1)
            best = q_next_online.masked_fill(~next_mask, -1e9).argmax(-1, keepdim=True)
            h1_t = self.q_t.next_hidden(obs, h)
            q_next_t, _ = self.q_t(nxt, h1_t)
            q_next = q_next_t.gather(-1, best).squeeze(-1)
            target = rew + cfg.paper.discount * not_done * self.mixer_t(q_next, nxt.reshape(b, -1))
            target = clip_target(cfg, self.dims.agents, target)
        return F.smooth_l1_loss(q_tot, target)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        data = state["buffer"]["data"]
        if "next_mask" in data:  # checkpoints before next_ok: index 1 ("cache only") = a_n allowed
            data["next_ok"] = data.pop("next_mask")[:, :, 1].copy()
        super().load_state_dict(state)

    def modules(self) -> dict[str, Any]:
        return {
            "q": self.q,
            "mixer": self.mixer,
            "q_t": self.q_t,
            "mixer_t": self.mixer_t,
            "opt": self.opt,
        }
