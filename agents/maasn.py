"""MAASN-DA (sections III-C to III-G, Algorithm 1): action-semantics actors with Gumbel-Softmax
binary outputs, a value-decomposition critic (local critics + QMIX mixer), target networks with
soft updates, and data augmentation experience replay (in :mod:`agents.learner`).

Critic loss (21): the TD error r + gamma Q_tot'(s', pi_hat(o')) - Q_tot(s, d) with target actors
and critics (squared in the paper; we use the Huber loss, which kept the critic from diverging in
our runs); actor loss (22): -Q(o_n, pi(o_n); theta_n) per agent, through the straight-through
Gumbel sample so the local critic is evaluated at the binary action the env would execute.
The target policy acts greedily (d = 1{logit > 0}). With ``critic="independent"`` each local
critic is trained alone on r + gamma Q_n'(o_n', pi_hat(o_n')). Under a fixed placement
(``TrainConfig`` ``placement``) the caching bits are the placement's: acting, the TD target
and the actor loss all use them, so the actor learns migration only.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from agents.config import TrainConfig
from agents.learner import (
    Dims,
    Learner,
    MaybeCompiled,
    call_with,
    clip_adam_step_,
    clip_target,
    executed_actions,
    init_adam_state,
)
from agents.networks import (
    ActionSemanticsActor,
    LocalCritics,
    MLPActor,
    QMixer,
    gumbel_binary,
    gumbel_bits,
    gumbel_uniform,
    soft_update,
)


def explore_rows(count: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """(count, n) rows drawn uniformly from the 2**(n-1) + 1 joint actions (2) allows: the
    cache bit set with any migration bits, or all zero (QMIX-DA's epsilon-greedy set, see
    :func:`agents.qmix.joint_masks`). A node explores a cache-off row 1 time in 2**(n-1) + 1."""
    pick = rng.integers(0, 2 ** (n - 1) + 1, size=count)  # 0: all zero
    rows = np.zeros((count, n), dtype=bool)
    on = pick > 0
    rows[on, 0] = True
    rows[on, 1:] = ((pick[on, None] - 1) >> np.arange(n - 1)) & 1
    return rows


class MAASNDA(Learner):
    acting_modules = ("actor",)

    def __init__(
        self, cfg: TrainConfig, dims: Dims, rng: np.random.Generator, acting_only: bool = False
    ) -> None:
        n = dims.agents
        if cfg.env.placement is not None:  # the next step's caching bits, for the TD target
            self.extra_fields = {"next_ok": ((n,), bool)}
        super().__init__(cfg, dims, rng, acting_only)
        torch.manual_seed(int(rng.integers(2**31 - 1)))
        if cfg.ablation.actor == "action_semantics":
            self.actor = ActionSemanticsActor(
                n, dims.obs, dims.block, cfg.network.actor_hidden, cfg.network.semantic_logit_scale
            )
        else:
            self.actor = MLPActor(n, dims.obs, cfg.network.mlp_actor_hidden)
        self.critic = LocalCritics(n, dims.obs, cfg.network.critic_hidden)
        self.mixer = (
            QMixer(n, dims.state, cfg.network.mixer_embed, cfg.network.hyper_hidden)
            if cfg.ablation.critic == "value_decomposition"
            else None
        )
        self.actor_t = copy.deepcopy(self.actor)
        self.critic_t = copy.deepcopy(self.critic)
        self.mixer_t = copy.deepcopy(self.mixer)
        critic_params = list(self.critic.parameters())
        if self.mixer is not None:
            critic_params += list(self.mixer.parameters())
        self.critic_params = critic_params
        self.actor_params = list(self.actor.parameters())
        self.opt_actor = torch.optim.Adam(self.actor_params, lr=cfg.optim.lr_actor, fused=True)
        self.opt_critic = torch.optim.Adam(critic_params, lr=cfg.optim.lr_critic, fused=True)
        # compile=True: the whole gradient step as one compiled function (see fused_step)
        self._fused_step = MaybeCompiled(self.fused_step, cfg.run.compile)
        if cfg.run.compile:
            init_adam_state(self.opt_actor)
            init_adam_state(self.opt_critic)

    def temperature(self, episode: int) -> float:
        c, p = self.cfg, self.progress(episode)
        return c.explore.temperature_start + p * (
            c.explore.temperature_end - c.explore.temperature_start
        )

    @torch.no_grad()
    def logits(self, obs: np.ndarray) -> np.ndarray:
        """(N, N) action logits of every agent for one step (greedy action: logit > 0)."""
        return self.actor(torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()

    def act(self, obs: np.ndarray, cache_ok: np.ndarray, explore: bool, episode: int) -> np.ndarray:
        logits = self.actor.logits_numpy(np.asarray(obs, dtype=np.float32))
        if not explore:
            bits = logits > 0
        else:
            bits = gumbel_bits(logits, self.torch_gen)
            eps = self.epsilon(episode)
            if self.cfg.explore.exploration == "node":  # QMIX-DA's epsilon: see explore_rows
                rows = np.flatnonzero(self.rng.random(bits.shape[0]) < eps)
                bits[rows] = explore_rows(len(rows), bits.shape[1], self.rng)
            else:
                flip = self.rng.random(bits.shape) < eps
                bits[flip] = self.rng.random(int(flip.sum())) < 0.5
        cache_ok = np.asarray(cache_ok, dtype=bool)
        if self.fixed_cache:
            bits[:, 0] = cache_ok
        bits[~cache_ok] = False  # no caching, hence no migration (2)
        return bits.astype(np.int64)

    def update(self, batch: dict[str, np.ndarray], episode: int) -> dict[str, float]:
        cfg = self.cfg
        obs = torch.as_tensor(batch["obs"])
        act = torch.as_tensor(batch["act"])
        rew = torch.as_tensor(batch["rew"])
        nxt = torch.as_tensor(batch["next_obs"])
        done = torch.as_tensor(batch["done"])
        next_ok = torch.as_tensor(batch["next_ok"]) if self.fixed_cache else None
        uniform = gumbel_uniform(act.shape, self.torch_gen)
        temperature = torch.tensor(self.temperature(episode), dtype=torch.float32)
        if cfg.run.compile:
            critic_loss, actor_loss = self._fused_step(
                obs, act, rew, nxt, done, next_ok, uniform, temperature
            )
            return {"critic_loss": critic_loss.item(), "actor_loss": actor_loss.item()}

        critic_loss = self.critic_loss(obs, act, rew, nxt, done, next_ok)
        self.opt_critic.zero_grad()
        critic_loss.backward()
        torch.nn.utils.clip_grad_norm_(self.critic_params, cfg.optim.grad_clip, foreach=True)
        self.opt_critic.step()

        actor_loss = self.actor_loss(obs, act, uniform, temperature)
        # gradients of the actor only (the critic's would be unused). backward() lays each
        # gradient out like its parameter, which torch's fused Adam assumes: autograd.grad
        # returns the last layer's transposed (it enters a product as weight.transpose)
        self.opt_actor.zero_grad()
        actor_loss.backward(inputs=self.actor_params)
        torch.nn.utils.clip_grad_norm_(self.actor_params, cfg.optim.grad_clip, foreach=True)
        self.opt_actor.step()

        soft_update(self.actor_t, self.actor, cfg.optim.target_tau)
        soft_update(self.critic_t, self.critic, cfg.optim.target_tau)
        if self.mixer is not None:
            soft_update(self.mixer_t, self.mixer, cfg.optim.target_tau)
        return {"critic_loss": critic_loss.item(), "actor_loss": actor_loss.item()}

    def fused_step(
        self,
        obs: torch.Tensor,
        act: torch.Tensor,
        rew: torch.Tensor,
        nxt: torch.Tensor,
        done: torch.Tensor,
        next_ok: torch.Tensor | None,
        uniform: torch.Tensor,
        temperature: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The gradient step of :meth:`update` (critic step, actor step at the new critic, soft
        target updates) in functional form: gradients by ``torch.func``, clipping and Adam
        written out (:func:`agents.learner.clip_adam_step_`). ``torch.compile`` turns it into
        one graph, where the autograd engine and ``torch.optim`` break it into many."""
        cfg = self.cfg
        critic = {f"critic.{n}": p for n, p in self.critic.named_parameters()}
        if self.mixer is not None:
            critic |= {f"mixer.{n}": p for n, p in self.mixer.named_parameters()}
        grads, critic_loss = torch.func.grad_and_value(
            lambda params: self.critic_loss(obs, act, rew, nxt, done, next_ok, params)
        )(critic)
        clip_adam_step_(self.opt_critic, list(critic.values()), list(grads.values()), cfg)
        actor = dict(self.actor.named_parameters())
        grads, actor_loss = torch.func.grad_and_value(
            lambda params: self.actor_loss(obs, act, uniform, temperature, params)
        )(actor)
        clip_adam_step_(self.opt_actor, list(actor.values()), list(grads.values()), cfg)
        with torch.no_grad():
            soft_update(self.actor_t, self.actor, cfg.optim.target_tau)
            soft_update(self.critic_t, self.critic, cfg.optim.target_tau)
            if self.mixer is not None:
                soft_update(self.mixer_t, self.mixer, cfg.optim.target_tau)
        return critic_loss.detach(), actor_loss.detach()

    def critic_loss(
        self,
        obs: torch.Tensor,
        act: torch.Tensor,
        rew: torch.Tensor,
        nxt: torch.Tensor,
        done: torch.Tensor,
        next_ok: torch.Tensor | None,
        params: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The critic loss (21) on a minibatch (Huber), with the TD target of the target nets;
        ``params`` ("critic.*", "mixer.*"): the online critic's and mixer's weights to use
        instead of theirs (:meth:`fused_step`)."""
        cfg = self.cfg
        b = obs.shape[0]
        not_done = 1.0 - done
        state, next_state = obs.reshape(b, -1), nxt.reshape(b, -1)
        with torch.no_grad():
            next_act = (self.actor_t(nxt) > 0).float()
            if next_ok is not None:  # the placement's caching bits, as the env applies them
                next_act = executed_actions(next_act, next_ok)
            q_next = self.critic_t(nxt, next_act)
            if self.mixer is not None:
                target = rew + cfg.paper.discount * not_done * self.mixer_t(q_next, next_state)
            else:
                target = rew[:, None] + cfg.paper.discount * not_done[:, None] * q_next
            target = clip_target(cfg, self.dims.agents, target)
        q = call_with(self.critic, params, "critic.", obs, act)
        pred = call_with(self.mixer, params, "mixer.", q, state) if self.mixer is not None else q
        return F.smooth_l1_loss(pred, target)

    def actor_loss(
        self,
        obs: torch.Tensor,
        act: torch.Tensor,
        uniform: torch.Tensor,
        temperature: torch.Tensor,
        params: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """The actor loss (22) at the straight-through Gumbel sample drawn with ``uniform``;
        ``params``: the actor's weights to use instead of its own (:meth:`fused_step`)."""
        logits = call_with(self.actor, params, "", obs)
        d = gumbel_binary(logits, temperature, None, hard=True, uniform=uniform)
        if self.fixed_cache:  # the actor learns migration only, at the caching bits applied
            d = executed_actions(d, act[..., 0] > 0)
        return -self.critic(obs, d).mean() + self.cfg.optim.logit_l2 * logits.square().mean()

    def modules(self) -> dict[str, Any]:
        mods: dict[str, Any] = {
            "actor": self.actor,
            "critic": self.critic,
            "actor_t": self.actor_t,
            "critic_t": self.critic_t,
            "opt_actor": self.opt_actor,
            "opt_critic": self.opt_critic,
        }
        if self.mixer is not None:
            mods.update(mixer=self.mixer, mixer_t=self.mixer_t)
        return mods
