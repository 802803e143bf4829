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

Discrete policies need no bit-exact batch: their action is an argmax, taken from a batched
forward only where the best score clearly beats the runner-up (:data:`ARGMAX_MARGIN`), near
ties going to per-row ``model.predict``. For MLP policies on the flat observation the first
``nn.Linear`` is split (:class:`_FirstLayerSplit`): its window-feature part, fixed per bar, is
one GEMM for all bars, so a pass only adds the position/PnL tail and runs the small rest of
the network. One-asset discrete cores without the PnL slot observe only the features and the
held weight, so they are simulated without building observations
(:meth:`Recorder.run_levels`), the weights being read back from the recorder.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
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
            layer.forward = _rowwise_linear(layer)  # type: ignore[method-assign]
        for act in tanhs:
            act.forward = _rowwise_elementwise(original_tanh)  # type: ignore[method-assign]
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
        # Categorical heads (discrete actions) carry ``probs``; torch's base class does not.
        return [h.probs.cpu().numpy() for h in heads], False  # type: ignore[attr-defined]


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


def _pick(
    model: Any,
    heads: list[np.ndarray],
    q_values: bool,
    rows_obs: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Actions from per-head scores: the argmax where it clearly beats the runner-up
    (:data:`ARGMAX_MARGIN`), else ``model.predict`` on that row's observation
    (``rows_obs(indices)``), which is the reference itself.
    """
    picks = [_argmax_with_margin(h, q_values) for h in heads]
    actions = np.stack([p[0] for p in picks], axis=1).astype(np.int64)
    safe = np.logical_and.reduce([p[1] for p in picks])
    unsafe = np.flatnonzero(~safe)
    if unsafe.size:  # near-ties: the one-row forward decides
        obs = rows_obs(unsafe)
        one_row = _one_row_action(model)
        for j, i in enumerate(unsafe):
            actions[i] = one_row(obs[j])
    return actions[:, 0] if not model.action_space.shape else actions


def _linear(linear: Callable[..., Any], module: Any) -> Callable[[Any], Any]:
    """``module.forward`` of an ``nn.Linear``: ``F.linear`` with its own weight and bias."""

    def forward(x: Any) -> Any:
        return linear(x, module.weight, module.bias)

    return forward


def _unrolled(mlp_extractor: Any, action_net: Any) -> list[Callable[[Any], Any]] | None:
    """The actor of an SB3 ``MlpExtractor`` followed by ``action_net`` as the functions their
    modules' ``forward`` call (``F.linear`` with the layer's own weight and bias,
    ``torch.tanh``, ``F.relu``): the same operations on the same tensors, without a module
    call per layer (hooks, ``__call__`` dispatch). ``None`` when any part is not exactly one of
    those plain modules (a subclass, another activation, a hook) or the extractor's
    ``forward_actor`` is not SB3's own: the caller then calls the modules.
    """
    import torch
    import torch.nn.functional as F  # noqa: N812
    from stable_baselines3.common.torch_layers import MlpExtractor
    from torch import nn

    if (
        type(mlp_extractor) is not MlpExtractor
        or type(mlp_extractor.policy_net) is not nn.Sequential
    ):
        return None
    modules = [*mlp_extractor.policy_net, action_net]
    layers: list[Callable[[Any], Any]] = []
    for module in modules:
        if module._forward_hooks or module._forward_pre_hooks or module._backward_hooks:
            return None
        if type(module) is nn.Linear:
            layers.append(_linear(F.linear, module))
        elif type(module) is nn.Tanh:
            layers.append(torch.tanh)
        elif type(module) is nn.ReLU and not module.inplace:
            layers.append(F.relu)
        else:
            return None
    from torch.nn.modules import module as torch_module

    if torch_module._global_forward_hooks or torch_module._global_forward_pre_hooks:
        return None
    return layers


def _one_row_action(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """``model.predict(row, deterministic=True)[0]`` (flattened) for one observation row.

    For a one-asset :class:`~gymnasium.spaces.Discrete` actor-critic policy on a ``Box``
    observation, the same torch operations on the same one-row tensor as SB3's ``predict``
    (features, ``mlp_extractor.forward_actor``, ``action_net``, then
    :class:`torch.distributions.Categorical`'s normalisation ``logits - logsumexp``, its
    ``softmax`` and the mode's ``argmax``), without the per-call overhead (training-mode switch,
    input checks, distribution objects) that made a near-tie cost ~0.75 ms. Other policies get
    ``model.predict`` itself.
    """
    from gymnasium import spaces
    from stable_baselines3.common.distributions import CategoricalDistribution
    from stable_baselines3.common.policies import ActorCriticPolicy, BasePolicy

    policy = model.policy

    def reference(row: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(row, deterministic=True)[0]).reshape(-1)

    if not (
        isinstance(policy, ActorCriticPolicy)
        and isinstance(policy.action_dist, CategoricalDistribution)
        and isinstance(policy.observation_space, spaces.Box)
    ):
        return reference
    import torch
    import torch.nn.functional as F  # noqa: N812

    policy.set_training_mode(False)
    shape = policy.observation_space.shape
    device = policy.device  # looked up once: the property walks the parameters
    actor = _unrolled(policy.mlp_extractor, policy.action_net)

    def fast(row: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            obs = torch.as_tensor(np.array(row).reshape((-1, *shape)), device=device)
            features = BasePolicy.extract_features(policy, obs, policy.pi_features_extractor)
            if actor is None:
                logits = policy.action_net(policy.mlp_extractor.forward_actor(features))
            else:
                logits = features
                for layer in actor:
                    logits = layer(logits)
            logits = logits - logits.logsumexp(dim=-1, keepdim=True)
            action = torch.argmax(F.softmax(logits, dim=-1), dim=1)
        return action.cpu().numpy().reshape(-1)

    return fast


def predict_actions(model: Any, observations: np.ndarray) -> np.ndarray:
    """Deterministic actions of a batch, equal to per-row ``model.predict``.

    Discrete actor-critic and DQN policies: one plain batched forward; rows whose best score
    does not clearly beat the runner-up (:data:`ARGMAX_MARGIN`) are decided by per-row
    ``model.predict``. Every other policy: row-exact inference (:func:`predict_batch`).
    """
    obs = np.asarray(observations, dtype=np.float32)
    if obs.shape[0] == 0:
        return np.empty((0, *model.action_space.shape), dtype=model.action_space.dtype)
    found = _discrete_scores(model, obs) if _uses_margin_rule(model) else None
    if found is None:
        return predict_batch(model, obs)
    heads, q_values = found
    return _pick(model, heads, q_values, lambda rows: obs[rows])


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


#: Rows per forward of :class:`_FirstLayerSplit` (intermediates stay in cache).
_CHUNK = 2048


class _FirstLayerSplit:
    """Discrete scores with the policy's first ``nn.Linear`` split in two (see
    :func:`fast_policy_backtest`): ``W x = W_feat x_feat + W_tail x_tail``. The feature part
    (the window features, fixed per bar) is one GEMM over all decision bars, computed once;
    each evaluation only adds the tail (position weights, unrealised PnL) and runs the small
    rest of the network. The scores agree with a one-row forward to float32 rounding, like a
    plain batched forward, and are used with the same :data:`ARGMAX_MARGIN` guard.
    """

    def __init__(self, model: Any, net: Any, q_values: bool, base: np.ndarray, k: int) -> None:
        import torch

        layer = net[0]
        self.feat_dim = k
        weight = layer.weight.detach()
        self._w_tail = weight[:, k:].contiguous()
        self._net = net[1:]
        self._policy = model.policy
        self._space = model.action_space
        self.q_values = q_values
        with torch.no_grad(), warnings.catch_warnings():
            # ``base`` may be read-only (the core's table); the GEMM only reads it. Its tail
            # columns are zero, so ``W base + b`` is the feature part plus the bias.
            warnings.simplefilter("ignore", UserWarning)
            x = torch.from_numpy(np.ascontiguousarray(base, dtype=np.float32))
            self._pre = torch.nn.functional.linear(x, weight, layer.bias)

    @classmethod
    def build(cls, model: Any, base: np.ndarray, k: int) -> _FirstLayerSplit | None:
        """The split for a discrete actor-critic or DQN policy whose observation goes straight
        (flattened 1-D ``Box``) into an ``nn.Sequential`` starting with ``nn.Linear``; else None.

        Args:
            model: a loaded SB3 model.
            base: ``(K, D)`` observations with zeroed tail columns (from ``k`` on).
            k: the number of leading (window-feature) columns.
        """
        import torch
        from gymnasium import spaces
        from stable_baselines3.common.policies import ActorCriticPolicy
        from stable_baselines3.common.torch_layers import FlattenExtractor
        from stable_baselines3.dqn.policies import DQNPolicy

        policy = model.policy
        obs_space = policy.observation_space
        if not (
            _uses_margin_rule(model)
            and isinstance(obs_space, spaces.Box)
            and len(obs_space.shape) == 1
            and 0 < k < obs_space.shape[0] == base.shape[1]
        ):
            return None
        if isinstance(policy, DQNPolicy):
            extractor, net, q_values = policy.q_net.features_extractor, policy.q_net.q_net, True
        elif isinstance(policy, ActorCriticPolicy):
            extractor = getattr(policy, "pi_features_extractor", policy.features_extractor)
            net, q_values = policy.mlp_extractor.policy_net, False
        else:
            return None
        if not (
            isinstance(extractor, FlattenExtractor)
            and isinstance(net, torch.nn.Sequential)
            and len(net) > 0
            and isinstance(net[0], torch.nn.Linear)
            and net[0].in_features == obs_space.shape[0]
        ):
            return None
        policy.set_training_mode(False)
        return cls(model, net, q_values, base, k)

    def _latent(self, rows: slice | np.ndarray, tail: np.ndarray) -> Any:
        """The network's output before the action head (Q-values for DQN)."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(tail, dtype=np.float32))
        pre = self._pre[rows] if isinstance(rows, slice) else self._pre[torch.from_numpy(rows)]
        if x.shape[1] == 1:  # one position slot: an outer product, cheaper than a k=1 GEMM
            h = torch.addcmul(pre, x, self._w_tail[:, 0])
        else:
            h = pre + torch.nn.functional.linear(x, self._w_tail)
        return self._net(h)

    def scores(self, rows: slice | np.ndarray, tail: np.ndarray) -> list[np.ndarray]:
        """Per-head scores (as :func:`_discrete_scores`) of decision bars ``rows`` (a slice or
        indices) whose observation tails are ``tail``.
        """
        if isinstance(rows, slice):
            lo, hi, _ = rows.indices(self._pre.shape[0])
            idx: Any = np.arange(lo, hi)
        else:
            idx = rows
        parts = [
            self._chunk_scores(idx[i : i + _CHUNK], tail[i : i + _CHUNK])
            for i in range(0, len(idx), _CHUNK)
        ]
        if not parts:  # no rows (torch distributions reject empty batches)
            widths = self._space.nvec if self._space.shape else [self._space.n]
            return [np.empty((0, int(w)), dtype=np.float32) for w in widths]
        return [np.concatenate(heads) for heads in zip(*parts, strict=True)]

    def _chunk_scores(self, rows: np.ndarray, tail: np.ndarray) -> list[np.ndarray]:
        import torch

        rows_: slice | np.ndarray = rows
        if rows.size and rows[-1] - rows[0] == rows.size - 1:  # contiguous: a view
            rows_ = slice(int(rows[0]), int(rows[-1]) + 1)
        with torch.no_grad():
            out = self._latent(rows_, tail)
            if self.q_values:
                return [out.numpy()]
            dist = self._policy._get_action_dist_from_latent(out).distribution
            heads = dist if isinstance(dist, list) else [dist]
            return [d.probs.numpy() for d in heads]

    def guess(self, tails: np.ndarray) -> np.ndarray:
        """Approximate actions (argmax of the raw logits or Q-values, no margin: a guess) of
        every decision bar, once per row of ``tails`` (``(L, d_tail)``: the same tail on every
        bar); ``(L, K)`` or ``(L, K, heads)``.
        """
        import torch

        n = self._pre.shape[0]
        parts = []
        with torch.no_grad():
            t = torch.from_numpy(np.ascontiguousarray(tails, dtype=np.float32))
            shift = (t @ self._w_tail.T).unsqueeze(1)  # (L, 1, hidden)
            for i in range(0, n, _CHUNK):  # chunks keep the intermediates in cache
                h = self._pre[i : i + _CHUNK].unsqueeze(0) + shift
                out = self._net(h.reshape(-1, h.shape[-1]))
                if not self.q_values:
                    out = self._policy.action_net(out)
                parts.append(out.reshape(tails.shape[0], -1, out.shape[-1]).numpy())
        out = np.concatenate(parts, axis=1)  # (L, K, outputs)
        if not self._space.shape:
            return out.argmax(axis=2)
        edges = np.cumsum(self._space.nvec)[:-1]
        return np.stack([h.argmax(axis=2) for h in np.split(out, edges, axis=2)], axis=2)

    def agrees(self, model: Any, base: np.ndarray, rows: int = 4) -> bool:
        """Whether the split scores equal one-row forwards within 1% of the argmax margin on
        a few bars (seeded random tails): the premise of using them under the margin guard.
        """
        k = base.shape[0]
        idx = np.unique(np.linspace(0, k - 1, min(rows, k)).astype(np.int64))
        d_tail = self._w_tail.shape[1]
        tails = np.random.default_rng(0).uniform(-1, 1, (idx.size, d_tail)).astype(np.float32)
        mine = self.scores(idx, tails)
        for j, i in enumerate(idx):
            obs = base[i : i + 1].copy()
            obs[0, base.shape[1] - d_tail :] = tails[j]
            one = _discrete_scores(model, obs)
            if one is None:
                return False
            for a, b in zip(one[0], mine, strict=True):
                scale = (1.0 + np.abs(a)) if self.q_values else 1.0
                if not np.all(np.abs(a - b[j]) <= 0.01 * ARGMAX_MARGIN * scale):
                    return False
        return True


def _base_observations(core: SingleCore, k_max: int) -> np.ndarray:
    """``(k_max, D)`` observations of every decision bar with zeroed position/PnL slots.

    A read-only view of the core's own prepared observation table when it has one (its
    position slots are never written: the core copies a row and writes the copy), else a
    fresh array. Callers copy before writing.
    """
    first = core.earliest - (core.config.window - 1)
    table = core._rows[0].base if core._padded and core._rows else None
    if (
        isinstance(table, np.ndarray)
        and table.dtype == np.float32
        and table.shape == (len(core._rows), core.obs_dim)
    ):
        view = table[first : first + k_max]
        view.flags.writeable = False
        return view
    obs = np.zeros((k_max, core.obs_dim), dtype=np.float32)
    obs[:, : core._feat_dim] = core._windows[first : first + k_max]
    return obs


def _first_guess(
    model: Any, core: SingleCore, base: np.ndarray, split: _FirstLayerSplit | None = None
) -> np.ndarray:
    """Initial actions: for discrete single-asset policies (``core.scalar``: the observation's
    tail is the position alone) a scan over one batched forward per held level (position slot
    = the level's weight: ``action_t = table[position_{t-1}][t]``), else the actions of flat
    observations. Held weights drift with prices, so this is a guess; the caller verifies it.
    """
    k = core._feat_dim
    scan = core.discrete and core.scalar
    levels = np.asarray(core._levels, dtype=np.float32).reshape(-1, 1) if scan else None
    if split is not None:
        tails = levels if levels is not None else np.zeros((1, base.shape[1] - k))
        table = split.guess(tails).astype(np.int64)
    else:
        per_level: list[np.ndarray] = []
        for level in levels if levels is not None else [0.0]:
            obs = base.copy()
            obs[:, k:] = level
            per_level.append(predict_actions(model, obs))
        table = np.stack(per_level)
    if not scan:
        return table[0]
    rows = table.tolist()
    held = core._flat
    guess = [0] * base.shape[0]
    for t in range(base.shape[0]):
        held = rows[held][t]
        guess[t] = held
    return np.asarray(guess, dtype=np.int64)


def _differs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-row bitwise inequality of two action arrays (NaN-safe)."""
    if a.ndim == 1:
        return a != b
    return (a != b).reshape(a.shape[0], -1).any(axis=1)


def fast_policy_backtest(
    model: Any,
    core: SingleCore,
    *,
    max_passes: int = 50,
    check: bool = True,
    trades: bool = True,
) -> tuple[BacktestResult, dict[str, int]]:
    """Run ``model`` deterministically over the core's whole range, from its first bar.

    Gives the trajectory of stepping a ``TradingEnv`` on this core with
    ``model.predict(obs, deterministic=True)`` per bar (see the module docstring).

    Discrete actor-critic/DQN policies whose first layer is an ``nn.Linear`` on the flat
    observation use :class:`_FirstLayerSplit` (the window-feature part of that layer computed
    once for all bars); one-asset discrete cores without the PnL observation (``core.scalar``)
    are simulated without building observations (:meth:`Recorder.run_levels`): their
    observation is the bar's features plus the held weight.

    Args:
        model: a loaded SB3 model.
        core: the env core (reset here to its earliest bar).
        max_passes: corrections before falling back to per-bar ``model.predict``.
        check: verify the batched scores on a few observations first (row-exact batching
            for continuous policies, one-row agreement of the split scores for discrete
            ones); when row-exact batching does not hold the whole run uses per-bar
            ``model.predict``, when the split does not agree the plain batched forward is used.
        trades: extract the trade list (False: left empty, for callers that only want the
            actions, such as :meth:`tradeopt_ml.paper.PaperEngine.plan`).

    Returns:
        ``(result, stats)`` with ``stats`` = ``{"passes", "sequential_steps"}``.
    """
    rec = Recorder(core)
    k_max = rec.n_max
    base = _base_observations(core, k_max)
    k = core._feat_dim
    margin = _uses_margin_rule(model)
    split = _FirstLayerSplit.build(model, base, k) if margin else None
    if split is not None and check and not split.agrees(model, base):
        split = None
    stats = {"passes": 0, "sequential_steps": 0}
    if not (margin or not check or rows_match_predict(model, base, rows=16)):
        first = base.copy()
        first[0] = core.observe()
        actions = np.empty((k_max, *model.action_space.shape), dtype=model.action_space.dtype)
        _sequential(model, rec, first, actions, 0, stats)
        return rec.result(actions, trades=trades), stats

    def decide(lo: int, hi: int, tail: np.ndarray, obs: np.ndarray | None) -> np.ndarray:
        """Exact actions of decisions ``lo .. hi-1`` whose observation tails are ``tail``."""
        if split is None:
            if obs is None:
                obs = base[lo:hi].copy()
                obs[:, k:] = tail
            return predict_actions(model, obs)

        def rows_obs(rows: np.ndarray) -> np.ndarray:
            full = base[lo + rows].copy()
            full[:, k:] = tail[rows]
            return full

        return _pick(model, split.scores(slice(lo, hi), tail), split.q_values, rows_obs)

    actions = _first_guess(model, core, base, split)
    levels_only = core.discrete and core.scalar
    obs = None if levels_only else base.copy()
    m = 0  # actions[:m+1] are known exact; rec is positioned at <= m decisions
    while True:
        rec.rewind(m)
        if obs is None:  # one asset, discrete: the tail is the held weight
            rec.run_levels(actions.tolist(), k_max)
            n = rec.k
            new = decide(m, n, rec.weights[m:n], None)
        else:
            if m == 0:
                obs[0] = core.observe()
            for i in range(rec.k, k_max):
                nxt = rec.step(actions[i])
                if rec.done:
                    break
                obs[i + 1] = nxt
            n = rec.k
            new = decide(m, n, obs[m:n, k:], obs[m:n])
        stats["passes"] += 1
        bad = np.flatnonzero(_differs(new, actions[m:n]))
        if bad.size == 0:
            return rec.result(actions, trades=trades), stats
        m += int(bad[0])
        actions[m:n] = new[bad[0] :]
        if stats["passes"] >= max_passes:
            if obs is None:
                obs = base.copy()
            rec.rewind(m)
            for i in range(rec.k, m):
                rec.step(actions[i])
            obs[m] = core.observe()
            _sequential(model, rec, obs, actions, m, stats)
            return rec.result(actions, trades=trades), stats


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
