"""Data augmentation experience replay (section III-D): predictors of (r(k), s(k+1)) and the
data generation control (17)-(18).

A predictor sees an episode as the sequence v(k) = (s(k), d(k)) with labels y(k) =
(r(k), s(k+1)). Following Algorithm 1 (lines 11-15), each real sample is first predicted with
the current predictor, kept as a synthetic sample (s(k), d(k), r_bar(k), s_bar(k+1)) if
``||y_bar(k) - y(k)|| <= xi`` (17), and then used to tune the predictor. At most
``tau_e = floor(tau0 K Lambda**floor(e / Ebar))`` synthetic samples are kept in episode e (18).

Predictors:

- :class:`ESN` (the paper's): q(k) = tanh(eta_in v(k) + eta_re q(k-1)), y_bar = eta_out q(k)
  (15); eta_in and eta_re are fixed after a random start with spectral norms below 0.5
  (Assumption 2), eta_out is the ridge-regression solution of (16) over all real samples seen so
  far (kept as sufficient statistics, so the fit is exact and costs one Cholesky per episode,
  computed in the background while the next episode is played).
- :class:`RNNPredictor` (ablation "RNN-based DA"): the same shape, every weight trained by
  back-propagation through time.
- :class:`CGANPredictor` (ablation "cGAN-based DA"): a generator G(v, z) and a discriminator
  D(v, y), trained adversarially on real samples.

Where the paper is silent: candidates for synthetic samples are the real samples of the episode
just played (the ESN's reservoir state of an old sample would have to be stored with it), taken
in random order. Once tau_e is 0 it stays 0 (Lambda <= 1), so from then on (episode 270 at Table
II's values) the learner neither consults nor tunes the predictor: no prediction could become a
sample, and what is learned is the same. On `paper` with two torch threads this takes about 20 s
off a 600-episode MAASN-DA run (episodes 270-599: 12 s of augmentation, and 9 s of action
selection that the background readout fit slowed by taking the second core).
"""

from __future__ import annotations

import math
import threading
from typing import Any, Protocol

import numpy as np
import scipy.linalg
import torch
from torch import nn


def synthetic_budget(episode: int, steps: int, tau0: float, decay: float, period: int) -> int:
    """tau_e of (18): floor(tau0 K Lambda**floor(e / Ebar)), episodes counted from 0."""
    return math.floor(tau0 * steps * decay ** (episode // period) + 1e-9)


def accept(pred: np.ndarray, real: np.ndarray, xi: float) -> np.ndarray:
    """(T,) acceptance test (17): ||pred - real||_2 <= xi, row by row."""
    return np.linalg.norm(pred - real, axis=1) <= xi


def select_synthetic(
    pred: np.ndarray, real: np.ndarray, xi: float, budget: int, rng: np.random.Generator
) -> np.ndarray:
    """Indices of the accepted predictions, visited in random order, at most ``budget``."""
    order = rng.permutation(len(real))
    ok = order[accept(pred[order], real[order], xi)]
    return np.sort(ok[:budget])


class Predictor(Protocol):
    def predict(self, v: np.ndarray) -> np.ndarray: ...
    def tune(self, v: np.ndarray, y: np.ndarray) -> None: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def spectral_norm(m: np.ndarray) -> float:
    """Largest singular value (ARPACK; a full SVD of a 1024 x 1024 matrix is needlessly slow)."""
    from scipy.sparse.linalg import svds

    v0 = np.ones(min(m.shape))
    return float(svds(m, k=1, return_singular_vectors=False, v0=v0)[0])


def _scaled_random(rng: np.random.Generator, rows: int, cols: int, norm: float) -> np.ndarray:
    """Gaussian matrix rescaled to spectral norm ``norm``."""
    m = rng.standard_normal((rows, cols))
    return m * (norm / spectral_norm(m))


class ESN:
    """Echo state network (15)-(16) with a ridge-regression readout.

    The reservoir recursion runs in float32 (it reads all of eta_re once per step, and half
    the bytes make it twice as fast; the states are tanh outputs in [-1, 1]); the readout's
    statistics and solve are float64. :meth:`tune` fits the readout in a background thread,
    so it overlaps the next episode; every other method waits for that fit first.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        reservoir: int,
        rng: np.random.Generator,
        spectral_radius: float = 0.45,
        input_scale: float = 0.45,
        ridge: float = 1e-2,
    ) -> None:
        self.eta_in = _scaled_random(rng, reservoir, in_dim, input_scale)
        self.eta_re = _scaled_random(rng, reservoir, reservoir, spectral_radius)
        self.ridge = ridge
        self._fit: threading.Thread | None = None
        self._fit_error: BaseException | None = None
        # the readout and the sufficient statistics of (16) over every real sample so far, with
        # a bias feature; read through the properties below, which wait for a running fit
        self._readout: dict[str, Any] = {
            "gram": np.zeros((reservoir + 1, reservoir + 1)),
            "cross": np.zeros((reservoir + 1, out_dim)),
            "eta_out": np.zeros((out_dim, reservoir + 1)),
            "samples": 0,
        }
        self._last: tuple[np.ndarray, np.ndarray] | None = None  # (v, states) of predict()
        self._weights32()

    @property
    def gram(self) -> np.ndarray:
        self.wait()
        return self._readout["gram"]

    @property
    def cross(self) -> np.ndarray:
        self.wait()
        return self._readout["cross"]

    @property
    def eta_out(self) -> np.ndarray:
        self.wait()
        return self._readout["eta_out"]

    @property
    def samples(self) -> int:
        self.wait()
        return self._readout["samples"]

    def _weights32(self) -> None:
        self._eta_in32 = self.eta_in.astype(np.float32)
        self._eta_re32 = self.eta_re.astype(np.float32)

    def wait(self) -> None:
        """Block until a readout fit started by :meth:`tune` is done (re-raise its error)."""
        if self._fit is not None:
            self._fit.join()
            self._fit = None
        if self._fit_error is not None:
            err, self._fit_error = self._fit_error, None
            raise err

    def states(self, v: np.ndarray) -> np.ndarray:
        """(T, reservoir + 1) reservoir states q(1..T) of one episode (q(0) = 0), bias last."""
        drive = np.asarray(v, dtype=np.float32) @ self._eta_in32.T
        w = self._eta_re32
        out = np.empty((len(drive), w.shape[0] + 1), dtype=np.float32)
        q = np.zeros(w.shape[0], dtype=np.float32)
        for t, x in enumerate(drive):
            q = out[t, :-1] = np.tanh(x + w @ q)
        out[:, -1] = 1.0
        return out

    def predict(self, v: np.ndarray) -> np.ndarray:
        q = self.states(v)
        self._last = (v, q)
        return q @ self.eta_out.T

    def tune(self, v: np.ndarray, y: np.ndarray) -> None:
        # Algorithm 1 predicts a sample, then tunes on it: reuse the states predict() computed
        self.wait()
        q = self._last[1] if self._last is not None and self._last[0] is v else self.states(v)
        self._last = None
        y = np.asarray(y, dtype=np.float64)
        self._fit = threading.Thread(target=self._fit_readout, args=(q, y), daemon=True)
        self._fit.start()

    def _fit_readout(self, q: np.ndarray, y: np.ndarray) -> None:
        try:
            r = self._readout
            q = q.astype(np.float64)
            r["gram"] += q.T @ q
            r["cross"] += q.T @ y
            r["samples"] += len(q)
            reg = r["gram"] + self.ridge * np.eye(len(r["gram"]))
            factor = scipy.linalg.cho_factor(reg, lower=True, check_finite=False)
            r["eta_out"] = scipy.linalg.cho_solve(factor, r["cross"], check_finite=False).T
        except BaseException as exc:  # re-raised by wait() in the caller's thread
            self._fit_error = exc

    def state_dict(self) -> dict[str, Any]:
        self.wait()
        keys = ("eta_in", "eta_re", "gram", "cross", "eta_out", "samples")
        return {k: getattr(self, k) for k in keys}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.wait()
        self.eta_in, self.eta_re = state["eta_in"], state["eta_re"]
        self._readout = {k: state[k] for k in ("gram", "cross", "eta_out", "samples")}
        self._last = None
        self._weights32()


class _RNNNet(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, hidden: int) -> None:
        super().__init__()
        self.rnn = nn.RNN(in_dim, hidden, nonlinearity="tanh", batch_first=True)
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(v)
        return self.out(h)


class RNNPredictor:
    """The ESN's shape (input -> tanh recurrent layer -> linear), all weights trained (BPTT)."""

    def __init__(
        self, in_dim: int, out_dim: int, hidden: int, seed: int, epochs: int, lr: float = 1e-3
    ) -> None:
        with torch.random.fork_rng():  # leave the learner's global torch stream untouched
            torch.manual_seed(seed)
            self.net = _RNNNet(in_dim, out_dim, hidden)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=lr, foreach=True)
        self.epochs = epochs

    def predict(self, v: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.net(torch.as_tensor(v, dtype=torch.float32)[None])[0].numpy()

    def tune(self, v: np.ndarray, y: np.ndarray) -> None:
        vt = torch.as_tensor(v, dtype=torch.float32)[None]
        yt = torch.as_tensor(y, dtype=torch.float32)[None]
        for _ in range(self.epochs):
            loss = ((self.net(vt) - yt) ** 2).sum(-1).mean()
            self.opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(self.net.parameters(), 10.0)
            self.opt.step()

    def state_dict(self) -> dict[str, Any]:
        return {"net": self.net.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])


class CGANPredictor:
    """Conditional GAN: G(v, z) -> y_bar, D(v, y) -> real/fake logit (non-saturating loss)."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        noise: int,
        seed: int,
        epochs: int,
        hidden: int = 256,
        lr: float = 2e-4,
        batch: int = 128,
    ) -> None:
        self.gen = torch.Generator().manual_seed(seed + 1)
        self.noise, self.epochs, self.batch = noise, epochs, batch
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.g = nn.Sequential(
                nn.Linear(in_dim + noise, hidden),
                nn.ReLU(),
                nn.Linear(hidden, hidden),
                nn.ReLU(),
                nn.Linear(hidden, out_dim),
            )
            self.d = nn.Sequential(
                nn.Linear(in_dim + out_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1)
            )
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=lr, betas=(0.5, 0.999), foreach=True)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=lr, betas=(0.5, 0.999), foreach=True)

    def _z(self, n: int) -> torch.Tensor:
        return torch.randn((n, self.noise), generator=self.gen)

    def predict(self, v: np.ndarray) -> np.ndarray:
        vt = torch.as_tensor(v, dtype=torch.float32)
        with torch.no_grad():
            return self.g(torch.cat([vt, self._z(len(vt))], dim=1)).numpy()

    def tune(self, v: np.ndarray, y: np.ndarray) -> None:
        vt = torch.as_tensor(v, dtype=torch.float32)
        yt = torch.as_tensor(y, dtype=torch.float32)
        bce = nn.functional.binary_cross_entropy_with_logits
        for _ in range(self.epochs):
            perm = torch.randperm(len(vt), generator=self.gen)
            for i in range(0, len(vt), self.batch):
                idx = perm[i : i + self.batch]
                cv, cy = vt[idx], yt[idx]
                fake = self.g(torch.cat([cv, self._z(len(idx))], dim=1))
                d_real = self.d(torch.cat([cv, cy], dim=1))
                d_fake = self.d(torch.cat([cv, fake.detach()], dim=1))
                loss_d = bce(d_real, torch.ones_like(d_real))
                loss_d = loss_d + bce(d_fake, torch.zeros_like(d_fake))
                self.opt_d.zero_grad()
                loss_d.backward()
                self.opt_d.step()
                g_out = self.d(torch.cat([cv, fake], dim=1))
                loss_g = bce(g_out, torch.ones_like(g_out))
                self.opt_g.zero_grad()
                loss_g.backward()
                self.opt_g.step()

    def state_dict(self) -> dict[str, Any]:
        return {
            "g": self.g.state_dict(),
            "d": self.d.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "gen": self.gen.get_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.g.load_state_dict(state["g"])
        self.d.load_state_dict(state["d"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.gen.set_state(state["gen"])


def make_predictor(
    kind: str, in_dim: int, out_dim: int, cfg: Any, rng: np.random.Generator
) -> Predictor | None:
    """The predictor named by ``TrainConfig.augmentation`` (None for ``"none"``)."""
    seed = int(rng.integers(2**31 - 1))
    if kind == "none":
        return None
    if kind == "esn":
        return ESN(
            in_dim,
            out_dim,
            cfg.network.esn_reservoir,
            np.random.default_rng(seed),
            cfg.network.esn_spectral_radius,
            cfg.network.esn_input_scale,
            cfg.network.esn_ridge,
        )
    if kind == "rnn":
        return RNNPredictor(in_dim, out_dim, cfg.network.esn_reservoir, seed, cfg.optim.aug_epochs)
    if kind == "cgan":
        return CGANPredictor(in_dim, out_dim, cfg.network.cgan_noise, seed, cfg.optim.aug_epochs)
    raise ValueError(f"augmentation={kind!r}: must be one of esn, none, rnn, cgan")
