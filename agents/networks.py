"""Neural networks of MAASN-DA (Fig. 19) and QMIX-DA, batched over agents.

Every agent n has its own parameters (phi_n, theta_n in the paper). Instead of N separate
modules, :class:`GroupLinear` keeps one weight tensor of shape (N, in, out) and applies agent n's
slice to agent n's input with one batched matmul, so a forward pass over all agents is one call.
Modules take and return tensors laid out ``(batch, N, features)``; inside, the group layers work
agent-major ``(N, batch, features)``. Acting (one step, batch 1) has numpy twins of the forward
passes (``logits_numpy``, ``step_numpy``) on views of the same weights: at batch size 1 a torch
call costs more than its arithmetic (MAASN-DA's action 3x faster, QMIX-DA's 2x).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


class GroupLinear(nn.Module):
    """N independent linear layers applied in parallel: (B, N, i) -> (B, N, o).

    :meth:`grouped` applies them to group-major input (N, B, i) -> (N, B, o), which the group
    MLPs keep between layers: the ReLUs and their gradients then run on contiguous memory.
    """

    def __init__(self, groups: int, in_features: int, out_features: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(
            torch.empty(groups, in_features, out_features).uniform_(-bound, bound)
        )
        self.bias = nn.Parameter(torch.empty(groups, out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.grouped(x.transpose(0, 1)).transpose(0, 1)

    def grouped(self, x: torch.Tensor) -> torch.Tensor:
        """(G, B, i) -> (G, B, o)."""
        if self.weight.shape[-1] == 1:
            # a matrix-vector product per group: batched GEMM with one output column is slow
            # (forward and both gradients), an element-wise product and a sum are not
            out = (x * self.weight.squeeze(-1).unsqueeze(1)).sum(-1, keepdim=True)
            return out + self.bias.unsqueeze(1)
        return torch.baddbmm(self.bias.unsqueeze(1), x, self.weight)

    def grouped_numpy(self, x: np.ndarray) -> np.ndarray:
        """:meth:`grouped` in numpy on the live weights, for small batches (acting)."""
        return np.matmul(x, _numpy(self, "weight")) + _numpy(self, "bias")[:, None, :]


class GroupMLP(nn.Sequential):
    """GroupLinear layers with ReLU between them (none after the last), evaluated group-major."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, G, i) -> (B, G, o)."""
        return self.grouped(x.transpose(0, 1)).transpose(0, 1)

    def grouped(self, x: torch.Tensor) -> torch.Tensor:
        """(G, B, i) -> (G, B, o)."""
        for layer in self:
            # in place: a GroupLinear's gradient needs its input, not its output
            x = layer.grouped(x) if isinstance(layer, GroupLinear) else torch.relu_(x)
        return x

    def grouped_numpy(self, x: np.ndarray) -> np.ndarray:
        """:meth:`grouped` in numpy on the live weights, for small batches (acting)."""
        for layer in self:
            x = layer.grouped_numpy(x) if isinstance(layer, GroupLinear) else np.maximum(x, 0)
        return x


def group_mlp(groups: int, sizes: list[int]) -> GroupMLP:
    """GroupLinear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(GroupLinear(groups, a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return GroupMLP(*layers)


class ActionSemanticsActor(nn.Module):
    """The action-semantics actor of section III-C, one per agent (parameters per agent).

    Sub-module 1 maps o_n to the embedding e_n and the caching logit a~_n; sub-modules m (weights
    shared among the N-1 of one agent) map o_{n,m}^oth to e_{n,m}; the migration logit is
    ``scale * tanh(<e_n, e_{n,m}>)``. Output: (B, N, N) logits ordered like the env's action
    ``[a_n, b_{n,m} for m != n]``.
    """

    def __init__(
        self, n_agents: int, obs_dim: int, block: int, hidden: tuple[int, int], scale: float
    ) -> None:
        super().__init__()
        h1, emb = hidden
        self.n, self.block, self.scale = n_agents, block, scale
        self.own = group_mlp(n_agents, [obs_dim, h1, emb])
        self.own_head = GroupLinear(n_agents, emb, 1)
        self.other = group_mlp(n_agents, [block, h1, emb])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        b, n, _ = obs.shape
        x = obs.transpose(0, 1)  # (N, B, obs): agent-major, as the group layers compute
        # Embeddings are the sub-modules' linear outputs: after a ReLU both would be >= 0, the
        # inner product too, and every migration logit would sit at or above 0 (always migrate).
        e_own = self.own.grouped(x)  # (N, B, emb)
        a_logit = self.own_head.grouped(e_own)  # (N, B, 1)
        # the same sub-module for every m: fold m into the batch, keep the agent axis first
        oth = x[:, :, self.block :].reshape(n, b, n - 1, self.block).transpose(1, 2)
        first, _, last = self.other
        h = torch.relu_(first.grouped(oth.reshape(n, (n - 1) * b, self.block)))
        h = h.view(n, n - 1, b, -1)  # (N, N-1, B, h1)
        # <e_n, e_{n,m}> with e_{n,m} = W h_{n,m} + c equals <W^T e_n, h_{n,m}> + <c, e_n>:
        # one (emb x h1) product per agent and sample instead of one per m
        u = torch.bmm(e_own, last.weight.transpose(1, 2))  # (N, B, h1)
        c = (e_own * last.bias.unsqueeze(1)).sum(-1)  # (N, B)
        inner = (h * u.unsqueeze(1)).sum(-1) + c.unsqueeze(1)  # (N, N-1, B)
        b_logit = self.scale * torch.tanh(inner)
        return torch.cat([a_logit.transpose(1, 2), b_logit], dim=1).permute(2, 0, 1)

    def logits_numpy(self, obs: np.ndarray) -> np.ndarray:
        """:meth:`forward` of one step, (N, obs) -> (N, N), in numpy: a torch call per layer
        costs more than the layer's arithmetic at batch size 1."""
        n = self.n
        e_own = self.own.grouped_numpy(obs[:, None, :])  # (N, 1, emb)
        a_logit = self.own_head.grouped_numpy(e_own)[:, :, 0]  # (N, 1)
        first, _, last = self.other
        oth = obs[:, self.block :].reshape(n, n - 1, self.block)
        h = np.maximum(first.grouped_numpy(oth), 0)  # (N, N-1, h1)
        u = np.matmul(e_own, _numpy(last, "weight").transpose(0, 2, 1))  # (N, 1, h1)
        c = (e_own[:, 0] * _numpy(last, "bias")).sum(-1, keepdims=True)  # (N, 1)
        b_logit = self.scale * np.tanh((h * u).sum(-1) + c)
        return np.concatenate([a_logit, b_logit], axis=1)


class MLPActor(nn.Module):
    """The "without action semantics" actor: o_n -> 256 -> 256 -> N logits, per agent."""

    def __init__(self, n_agents: int, obs_dim: int, hidden: tuple[int, int]) -> None:
        super().__init__()
        self.net = group_mlp(n_agents, [obs_dim, *hidden, n_agents])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)

    def logits_numpy(self, obs: np.ndarray) -> np.ndarray:
        """:meth:`forward` of one step, (N, obs) -> (N, N), in numpy."""
        return self.net.grouped_numpy(obs[:, None, :])[:, 0]


class LocalCritics(nn.Module):
    """Q(o_n, d_n; theta_n) for every agent: (B, N, obs+N) -> (B, N)."""

    def __init__(self, n_agents: int, obs_dim: int, hidden: tuple[int, int]) -> None:
        super().__init__()
        self.net = group_mlp(n_agents, [obs_dim + n_agents, *hidden, 1])

    def forward(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        x = torch.cat([obs.transpose(0, 1), act.transpose(0, 1)], dim=-1)  # (N, B, obs+N)
        return self.net.grouped(x).squeeze(-1).t()


class QMixer(nn.Module):
    """QMIX mixing network (19)-(20): hypernetworks on s with absolute-value weights.

    ``Q_tot = w2^T ELU(W1^T Q + b1) + b2``, with ``W1 = |hyper_w1(s)|``, ``w2 = |hyper_w2(s)|``,
    so ``dQ_tot/dQ_n >= 0`` for every n.
    """

    def __init__(self, n_agents: int, state_dim: int, embed: int, hyper_hidden: int) -> None:
        super().__init__()
        self.n, self.embed = n_agents, embed
        self.hyper_w1 = nn.Sequential(
            nn.Linear(state_dim, hyper_hidden), nn.ReLU(), nn.Linear(hyper_hidden, n_agents * embed)
        )
        self.hyper_b1 = nn.Linear(state_dim, embed)
        self.hyper_w2 = nn.Sequential(
            nn.Linear(state_dim, hyper_hidden), nn.ReLU(), nn.Linear(hyper_hidden, embed)
        )
        self.hyper_b2 = nn.Sequential(nn.Linear(state_dim, embed), nn.ReLU(), nn.Linear(embed, 1))

    def forward(self, qs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        b = qs.shape[0]
        w1 = torch.abs(self.hyper_w1(state)).view(b, self.n, self.embed)
        b1 = self.hyper_b1(state).view(b, 1, self.embed)
        hidden = F.elu(torch.bmm(qs.view(b, 1, self.n), w1) + b1)
        w2 = torch.abs(self.hyper_w2(state)).view(b, self.embed, 1)
        return (torch.bmm(hidden, w2).view(b, 1) + self.hyper_b2(state)).view(b)


class DRQN(nn.Module):
    """QMIX-DA's per-agent recurrent Q network over the 2**N joint bits of d_n.

    Weights shared among agents with a one-hot agent id appended (the usual QMIX set-up):
    [o_n, id] -> fc -> GRUCell -> fc -> 2**N Q-values.
    """

    def __init__(self, n_agents: int, obs_dim: int, hidden: int) -> None:
        super().__init__()
        self.n = n_agents
        self.fc1 = nn.Linear(obs_dim + n_agents, hidden)
        self.rnn = nn.GRUCell(hidden, hidden)
        self.fc2 = nn.Linear(hidden, 2**n_agents)
        self.register_buffer("ids", torch.eye(n_agents))
        self.hidden = hidden

    def forward(self, obs: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, N, obs), (B, N, H) -> Q (B, N, 2**N), next hidden (B, N, H)."""
        b, n, _ = obs.shape
        h_next = self._cell(obs, h)
        return self.fc2(h_next).view(b, n, -1), h_next.view(b, n, self.hidden)

    def next_hidden(self, obs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The next hidden state of :meth:`forward` alone (B, N, H), without the Q head."""
        return self._cell(obs, h).view(h.shape)

    def _cell(self, obs: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        b, n, _ = obs.shape
        x = torch.cat([obs, self.ids.expand(b, n, n)], dim=-1).reshape(b * n, -1)
        return self.rnn(F.relu(self.fc1(x)), h.reshape(b * n, self.hidden))

    def step_numpy(self, obs: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`forward` of one step, (N, obs), (N, H) -> Q (N, 2**N), next hidden (N, H),
        in numpy (the GRU cell of ``torch.nn.GRUCell``: gates r, z, n)."""
        x = np.concatenate([obs, _numpy(self, "ids")], axis=1)
        x = np.maximum(x @ _numpy(self.fc1, "weight").T + _numpy(self.fc1, "bias"), 0)
        gi = x @ _numpy(self.rnn, "weight_ih").T + _numpy(self.rnn, "bias_ih")
        gh = h @ _numpy(self.rnn, "weight_hh").T + _numpy(self.rnn, "bias_hh")
        k = self.hidden
        r = _sigmoid(gi[:, :k] + gh[:, :k])
        z = _sigmoid(gi[:, k : 2 * k] + gh[:, k : 2 * k])
        cand = np.tanh(gi[:, 2 * k :] + r * gh[:, 2 * k :])
        h_next = (1 - z) * cand + z * h
        return h_next @ _numpy(self.fc2, "weight").T + _numpy(self.fc2, "bias"), h_next


def _numpy(module: nn.Module, name: str) -> np.ndarray:
    """A numpy view of ``module``'s parameter or buffer ``name`` (no copy: it shows the current
    values, as optimisers and ``load_state_dict`` write in place), cached on the module while
    the tensor is the same object in the same memory."""
    t = getattr(module, name)
    cache = module.__dict__.setdefault("_numpy_views", {})
    hit = cache.get(name)
    if hit is not None and hit[0] is t and hit[1] == t.data_ptr():
        return hit[2]
    view = t.detach().numpy()
    cache[name] = (t, t.data_ptr(), view)
    return view


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow warning for large |x|, unlike 1/(1+e^-x)


def soft_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """theta_target <- (1 - tau) theta_target + tau theta (Algorithm 1, line 24)."""
    targets, sources = list(target.parameters()), list(source.parameters())
    if len(targets) != len(sources):
        raise ValueError("soft_update: the two modules have different parameter lists")
    with torch.no_grad():
        torch._foreach_lerp_(targets, sources, tau)


def gumbel_uniform(shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    """The uniform draws s ~ U(0, 1) of :func:`gumbel_binary`, kept inside [1e-6, 1 - 1e-6]."""
    return torch.rand(shape, generator=generator).clamp_(1e-6, 1 - 1e-6)


def gumbel_binary(
    logits: torch.Tensor,
    temperature: float | torch.Tensor,
    generator: torch.Generator | None,
    hard: bool = True,
    uniform: torch.Tensor | None = None,
) -> torch.Tensor:
    """Gumbel-Softmax binary sample (13): Sigmoid((d~ + ln s - ln(1 - s)) / s_temp), s ~ U(0, 1).

    With ``hard`` the forward value is the 0/1 decision (d > 1/2) and the gradient is that of the
    relaxed sample (straight-through), so the critic sees the actions the env executes.
    ``uniform``: the draws s (from :func:`gumbel_uniform`) instead of drawing them from
    ``generator``, so a compiled function can take them as an input.
    """
    u = gumbel_uniform(logits.shape, generator) if uniform is None else uniform
    soft = torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / temperature)
    if not hard:
        return soft
    return (soft > 0.5).to(soft.dtype) + soft - soft.detach()


def gumbel_bits(logits: np.ndarray, generator: torch.Generator | None) -> np.ndarray:
    """The 0/1 decisions of :func:`gumbel_binary` (``hard``) for numpy logits, as bools: the
    same uniform draws, and d > 1/2 iff logit + ln s - ln(1 - s) > 0 at any temperature."""
    u = gumbel_uniform(logits.shape, generator).numpy()
    return logits + np.log(u) - np.log1p(-u) > 0
