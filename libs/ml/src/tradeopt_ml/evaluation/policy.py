"""Fast deterministic policy backtests that give the same actions as ``model.predict`` per bar.

Two ingredients:

1. **Row-exact batched inference** (:func:`predict_batch`). A batched ``nn.Linear`` forward
   (one ``(K, D)`` GEMM) does not reproduce a one-row forward bit for bit: the BLAS kernel and
   its summation order depend on the batch size, so continuous actions would drift from the
   per-bar reference by an ulp or so. :func:`predict_batch` runs the policy's own
   ``predict(..., deterministic=True)`` on the whole batch with every ``nn.Linear`` swapped for
   a batch of one-row products (``torch.baddbmm`` over ``(K, 1, D)``), which on the supported
   CPU backends is the very kernel a one-row call uses; every other layer (activations,
   flatten, argmax, tanh/clip/unscale) works row by row anyway. :func:`rows_match_predict`
   checks that claim on the model at hand before it is relied upon.

2. **Fixed-point scan over the sequential dependency.** The observation holds the current
   position weights (and, optionally, unrealised PnL), so the action at bar ``t`` depends on
   earlier actions. Starting from a guess of all actions, the engine (:class:`Recorder`, i.e.
   the env's own step) simulates the trajectory, the exact observations are rebuilt, and one
   batched forward gives new actions. The first bar where they differ from the guess is exact
   (its observation only depends on earlier, agreeing actions), so the guess is corrected
   from there and the simulation resumed from a snapshot. When the actions reproduce
   themselves the trajectory is, by induction over bars, the one the env would produce with
   ``model.predict`` per bar. For discrete single-asset policies the first guess comes from a
   scan over one batched forward per held level. After ``max_passes`` corrections the rest is
   stepped bar by bar with ``model.predict`` (never wrong, only slower).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from tradeopt_ml.envs.single import SingleCore
from tradeopt_ml.evaluation.backtest import BacktestResult, Recorder


def _rowwise_linear(layer: Any) -> Any:
    """A ``forward`` for ``layer`` whose batch rows equal one-row calls bit for bit.

    A one-row ``nn.Linear`` call is a matrix-vector product. A batch of one-row products
    (``baddbmm`` over ``(K, 1, D)``) reproduces it for most shapes; for the ones where the
    backend picks another kernel (small output layers, e.g. an action head) the rows are
    computed one by one. Which one applies is checked per layer on a few probe rows.
    """
    import torch

    f = torch.nn.functional
    weight, bias = layer.weight, layer.bias
    weight_t = weight.t()
    n_out = weight_t.shape[1]

    def batched(x: Any) -> Any:
        k = x.shape[0]
        w = weight_t.expand(k, *weight_t.shape)
        if bias is None:
            return torch.bmm(x.unsqueeze(1), w).squeeze(1)
        return torch.baddbmm(bias.expand(k, 1, n_out), x.unsqueeze(1), w).squeeze(1)

    def one_by_one(x: Any) -> Any:
        return torch.cat([f.linear(x[i : i + 1], weight, bias) for i in range(x.shape[0])])

    gen = torch.Generator().manual_seed(0)
    probe = torch.randn(32, weight.shape[1], generator=gen, dtype=weight.dtype)
    with torch.no_grad():
        exact = torch.equal(batched(probe), one_by_one(probe))
    rows = batched if exact else one_by_one

    def forward(x: Any) -> Any:
        if x.dim() != 2 or x.shape[0] <= 1:
            return f.linear(x, weight, bias)
        return rows(x)

    return forward


#: Rows whose length is a multiple of this go through the SIMD loop of an elementwise kernel
#: entirely, in a batch as in a single row (2 x 16 float lanes with AVX-512, 2 x 8 with AVX2).
_SIMD_ROW = 64


def _rowwise_elementwise(fn: Any) -> Any:
    """``fn`` (e.g. ``torch.tanh``) giving every row of a 2-D batch the bits of a one-row call:
    an elementwise kernel computes a row's SIMD-sized part with vector code and its tail with
    scalar code, which may round differently, so short rows are computed one by one.
    """
    import torch

    def call(x: Any, *args: Any, **kwargs: Any) -> Any:
        if (
            not isinstance(x, torch.Tensor)
            or x.dim() != 2
            or x.shape[0] <= 1
            or x.shape[1] % _SIMD_ROW == 0
            or args
            or kwargs
        ):
            return fn(x, *args, **kwargs)
        return torch.cat([fn(x[i : i + 1]) for i in range(x.shape[0])])

    return call


_ROW_TANH_LOCK = threading.Lock()


@contextmanager
def rowwise_inference(policy: Any) -> Iterator[None]:
    """Within the block, every ``nn.Linear`` of ``policy`` computes each row of a batch with
    the one-row kernel, and ``tanh`` (activation modules and ``torch.tanh``, which SB3's
    squashed distributions call) rounds every row as a one-row call does (see the module
    docstring). ``torch.tanh`` is swapped process-wide for the duration, under a lock.
    """
    import torch

    layers = [m for m in policy.modules() if isinstance(m, torch.nn.Linear)]
    tanhs = [m for m in policy.modules() if isinstance(m, torch.nn.Tanh)]
    with _ROW_TANH_LOCK:
        original_tanh = torch.tanh
        for layer in layers:
            layer.forward = _rowwise_linear(layer)
        for act in tanhs:
            act.forward = _rowwise_elementwise(original_tanh)
        torch.tanh = _rowwise_elementwise(original_tanh)
        try:
            yield
        finally:
            torch.tanh = original_tanh
            for module in (*layers, *tanhs):
                del module.forward


def predict_batch(model: Any, observations: np.ndarray, *, chunk: int = 4096) -> np.ndarray:
    """Deterministic actions for a ``(K, D)`` batch, row ``i`` equal to
    ``model.predict(observations[i], deterministic=True)[0]``.
    """
    obs = np.asarray(observations, dtype=np.float32)
    parts = []
    with rowwise_inference(model.policy):
        for i in range(0, obs.shape[0], chunk):
            actions, _ = model.policy.predict(obs[i : i + chunk], deterministic=True)
            parts.append(np.asarray(actions))
    return np.concatenate(parts) if parts else np.empty((0,))


#: A discrete action is taken from a batched (not row-exact) forward only when the best score
#: beats the runner-up by more than this (probabilities; Q-values: times ``1 + |best|``). Batched
#: and one-row forwards differ by ~1e-7 relative, so this leaves a wide safety factor.
ARGMAX_MARGIN = 1e-4


def _discrete_scores(model: Any, obs: np.ndarray) -> tuple[list[np.ndarray], bool] | None:
    """Per-head scores whose argmax is the deterministic action, from one plain batched forward:
    action probabilities of an actor-critic policy with (Multi)Discrete actions, or Q-values of
    a DQN. None for any other policy. The flag says whether the scores are Q-values.
    """
    import torch
    from gymnasium import spaces
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.dqn.policies import DQNPolicy

    policy = model.policy
    space = policy.action_space
    if not isinstance(space, (spaces.Discrete, spaces.MultiDiscrete)) or not isinstance(
        policy, (ActorCriticPolicy, DQNPolicy)
    ):
        return None
    policy.set_training_mode(False)
    with torch.no_grad():
        obs_t, _ = policy.obs_to_tensor(obs)
        if isinstance(policy, DQNPolicy):
            return [policy.q_net(obs_t).cpu().numpy()], True
        dist = policy.get_distribution(obs_t).distribution
        heads = dist if isinstance(dist, list) else [dist]
        return [h.probs.cpu().numpy() for h in heads], False


def _uses_margin_rule(model: Any) -> bool:
    """Whether :func:`predict_actions` takes the discrete margin-guarded path for ``model``."""
    from gymnasium import spaces
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.dqn.policies import DQNPolicy

    return isinstance(
        model.policy.action_space, (spaces.Discrete, spaces.MultiDiscrete)
    ) and isinstance(model.policy, (ActorCriticPolicy, DQNPolicy))


def _argmax_with_margin(scores: np.ndarray, q_values: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(argmax, safe)`` per row; ``safe`` where the best beats the runner-up clearly."""
    best = scores.argmax(axis=1)
    top2 = np.sort(scores, axis=1)[:, -2:]
    gap = top2[:, 1] - top2[:, 0]
    tol = ARGMAX_MARGIN * ((1.0 + np.abs(top2[:, 1])) if q_values else 1.0)
    return best, gap > tol


def predict_actions(model: Any, observations: np.ndarray) -> np.ndarray:
    """Deterministic actions of a batch, equal to per-row ``model.predict``.

    Discrete actor-critic and DQN policies: one plain batched forward; rows whose best score
    does not clearly beat the runner-up (:data:`ARGMAX_MARGIN`) are recomputed with
    row-exact inference (:func:`predict_batch`). Every other policy: :func:`predict_batch`.
    """
    obs = np.asarray(observations, dtype=np.float32)
    if obs.shape[0] == 0:
        return np.empty((0, *model.action_space.shape), dtype=model.action_space.dtype)
    found = _discrete_scores(model, obs) if _uses_margin_rule(model) else None
    if found is None:
        return predict_batch(model, obs)
    heads, q_values = found
    picks = [_argmax_with_margin(h, q_values) for h in heads]
    actions = np.stack([p[0] for p in picks], axis=1).astype(np.int64)
    safe = np.logical_and.reduce([p[1] for p in picks])
    unsafe = np.flatnonzero(~safe)
    if unsafe.size:  # near-ties: row-exact inference decides
        actions[unsafe] = predict_batch(model, obs[unsafe]).reshape(unsafe.size, -1)
    return actions[:, 0] if not model.action_space.shape else actions


def rows_match_predict(model: Any, observations: np.ndarray, rows: int = 64) -> bool:
    """Whether :func:`predict_batch` equals per-row ``model.predict`` bit for bit on a few rows
    spread over ``observations``.
    """
    obs = np.asarray(observations, dtype=np.float32)
    idx = np.unique(np.linspace(0, obs.shape[0] - 1, min(rows, obs.shape[0])).astype(int))
    batch = predict_batch(model, obs[idx])
    for j, i in enumerate(idx):
        single, _ = model.predict(obs[i], deterministic=True)
        if not np.array_equal(np.asarray(single), batch[j]):
            return False
    return True


def _base_observations(core: SingleCore, k_max: int) -> np.ndarray:
    """``(k_max, D)`` observations of every decision bar with zeroed position/PnL slots."""
    first = core.earliest - (core.config.window - 1)
    obs = np.zeros((k_max, core.obs_dim), dtype=np.float32)
    obs[:, : core._feat_dim] = core._windows[first : first + k_max]
    return obs


def _first_guess(model: Any, core: SingleCore, base: np.ndarray) -> np.ndarray:
    """Initial actions: a scan over one batched forward per held level for discrete single-asset
    policies (position slot = the level's weight), else the actions of flat observations.
    """
    if not (core.discrete and core.n_assets == 1):
        return predict_actions(model, base)
    k = core._feat_dim
    table = []
    for level in core._levels:
        obs = base.copy()
        obs[:, k] = level
        table.append(predict_actions(model, obs).reshape(-1).tolist())
    held = core._flat
    guess = np.empty(base.shape[0], dtype=np.int64)
    for t in range(base.shape[0]):
        held = table[held][t]
        guess[t] = held
    return guess


def _differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row bitwise inequality of two action arrays (NaN-safe)."""
    if a.ndim == 1:
        return a != b
    return (a != b).reshape(a.shape[0], -1).any(axis=1)


def fast_policy_backtest(
    model: Any, core: SingleCore, *, max_passes: int = 50, check: bool = True
) -> tuple[BacktestResult, dict[str, int]]:
    """Run ``model`` deterministically over the core's whole range, from its first bar.

    Gives the trajectory of stepping a ``TradingEnv`` on this core with
    ``model.predict(obs, deterministic=True)`` per bar (see the module docstring).

    Args:
        model: a loaded SB3 model.
        core: the env core (reset here to its earliest bar).
        max_passes: corrections before falling back to per-bar ``model.predict``.
        check: verify row-exact batching on a few observations first; when it does not hold
            the whole run uses per-bar ``model.predict``.

    Returns:
        ``(result, stats)`` with ``stats`` = ``{"passes", "sequential_steps"}``.
    """
    rec = Recorder(core)
    k_max = rec.n_max
    base = _base_observations(core, k_max)
    obs = base.copy()
    obs[0] = core.observe()
    exact = not check or rows_match_predict(model, base, rows=16)
    stats = {"passes": 0, "sequential_steps": 0}
    if not exact:
        actions = np.empty((k_max, *model.action_space.shape), dtype=model.action_space.dtype)
        _sequential(model, rec, obs, actions, 0, stats)
        return rec.result(actions), stats
    actions = _first_guess(model, core, base)
    m = 0  # actions[:m+1] are known exact; rec is positioned at <= m decisions
    while True:
        rec.rewind(m)
        for k in range(rec.k, k_max):
            nxt = rec.step(actions[k])
            if rec.done:
                break
            obs[k + 1] = nxt
        n = rec.k
        stats["passes"] += 1
        new = predict_actions(model, obs[m:n])
        bad = np.flatnonzero(_differs(new, actions[m:n]))
        if bad.size == 0:
            return rec.result(actions), stats
        m += int(bad[0])
        actions[m:n] = new[bad[0] :]
        if stats["passes"] >= max_passes:
            rec.rewind(m)
            for k in range(rec.k, m):
                obs[k + 1] = rec.step(actions[k])
            _sequential(model, rec, obs, actions, m, stats)
            return rec.result(actions), stats


def _sequential(
    model: Any, rec: Recorder, obs: np.ndarray, actions: np.ndarray, k0: int, stats: dict
) -> None:
    """Step from decision ``k0`` (the recorder is there) with ``model.predict`` per bar."""
    for k in range(k0, rec.n_max):
        action, _ = model.predict(obs[k], deterministic=True)
        actions[k] = action
        nxt = rec.step(action)
        stats["sequential_steps"] += 1
        if rec.done:
            return
        obs[k + 1] = nxt
