"""Search spaces: one distribution per hyperparameter of an algorithm.

A space is ``{name: distribution}`` with distributions written as JSON (the API's
``search_space``)::

    {"learning_rate": {"type": "float", "low": 1e-5, "high": 1e-2, "log": true},
     "n_steps": {"type": "categorical", "choices": [128, 256, 512]},
     "n_epochs": {"type": "int", "low": 1, "high": 20}}

The sampler's view (Optuna distributions, primitive values) is kept separate from the converter
that turns a trial's values into the algorithm's hyperparameters (:func:`to_hyperparams`, as in
rl-baselines3-zoo): ``net_arch`` is sampled as a string such as ``"64x64"`` and becomes
``[64, 64]``. Every value a distribution can produce is checked against the hyperparameter's own
constraints when the space is parsed; constraints between fields (PPO's batch size must divide
the rollout) are left to the trial, whose run request is validated before it starts.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tradeopt_ml.agents.registry import get_algorithm

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

Choice = str | int | float | bool | None
_NET_ARCH = re.compile(r"^[1-9][0-9]*(x[1-9][0-9]*){0,7}$")


class FloatDistribution(BaseModel):
    """A float in ``[low, high]``, optionally log-uniform or on a ``step`` grid."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False
    step: float | None = None


class IntDistribution(BaseModel):
    """An integer in ``[low, high]`` (both ends included), optionally log-uniform or on a
    ``step`` grid.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["int"] = "int"
    low: int
    high: int
    log: bool = False
    step: int = 1


class CategoricalDistribution(BaseModel):
    """One of ``choices`` (strings, numbers, booleans or null)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["categorical"] = "categorical"
    choices: list[Choice] = Field(min_length=1)


AnyDistribution = FloatDistribution | IntDistribution | CategoricalDistribution
Distribution = Annotated[AnyDistribution, Field(discriminator="type")]
_DISTRIBUTION: TypeAdapter[Any] = TypeAdapter(Distribution)


class SearchSpaceError(ValueError):
    """An invalid search space; ``errors`` lists ``{"loc", "msg", "type"}`` per field, with
    ``loc`` relative to the space (``[name, field]``).
    """

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__(
            "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
        )


def _f(low: float, high: float, log: bool = False) -> FloatDistribution:
    return FloatDistribution(low=low, high=high, log=log)


def _c(*choices: Choice) -> CategoricalDistribution:
    return CategoricalDistribution(choices=list(choices))


_GAMMA = _c(0.9, 0.95, 0.98, 0.99, 0.995, 0.999)
_GAE = _c(0.8, 0.9, 0.92, 0.95, 0.98, 0.99, 1.0)
_GRAD = _c(0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 2.0, 5.0)
_LR = _f(1e-5, 1e-2, log=True)

# rl-baselines3-zoo's samplers (``rl_zoo3/hyperparams_opt.py``), trimmed to the fields our
# hyperparameter models have and to sizes that suit daily bars.
_DEFAULTS: dict[str, dict[str, Any]] = {
    "ppo": {
        "learning_rate": _LR,
        "gamma": _GAMMA,
        "n_steps": _c(64, 128, 256, 512, 1024),
        "batch_size": _c(32, 64),
        "n_epochs": _c(1, 5, 10, 20),
        "gae_lambda": _GAE,
        "clip_range": _c(0.1, 0.2, 0.3, 0.4),
        "ent_coef": _f(1e-8, 0.1, log=True),
        "vf_coef": _f(0.0, 1.0),
        "max_grad_norm": _GRAD,
        "net_arch": _c("64x64", "128x128", "256x256"),
        "activation_fn": _c("tanh", "relu"),
    },
    "a2c": {
        "learning_rate": _LR,
        "gamma": _GAMMA,
        "n_steps": _c(8, 16, 32, 64, 128),
        "gae_lambda": _GAE,
        "ent_coef": _f(1e-8, 0.1, log=True),
        "vf_coef": _f(0.0, 1.0),
        "max_grad_norm": _GRAD,
        "normalize_advantage": _c(False, True),
        "use_rms_prop": _c(False, True),
        "net_arch": _c("64x64", "128x128", "256x256"),
        "activation_fn": _c("tanh", "relu"),
    },
    "dqn": {
        "learning_rate": _LR,
        "gamma": _GAMMA,
        "batch_size": _c(16, 32, 64, 128, 256),
        "buffer_size": _c(10_000, 50_000, 100_000),
        "exploration_final_eps": _f(0.0, 0.2),
        "exploration_fraction": _f(0.05, 0.5),
        "target_update_interval": _c(1, 1_000, 5_000, 10_000),
        "learning_starts": _c(0, 1_000, 5_000),
        "train_freq": _c(1, 4, 8, 16),
        "net_arch": _c("64x64", "128x128", "256x256"),
    },
    "sac": {
        "learning_rate": _LR,
        "gamma": _GAMMA,
        "batch_size": _c(64, 128, 256, 512),
        "buffer_size": _c(10_000, 50_000, 100_000),
        "learning_starts": _c(0, 1_000, 5_000),
        "train_freq": _c(1, 4, 8),
        "tau": _c(0.001, 0.005, 0.01, 0.02, 0.05),
        "net_arch": _c("64x64", "256x256", "400x300"),
    },
    "td3": {
        "learning_rate": _LR,
        "gamma": _GAMMA,
        "batch_size": _c(64, 128, 256, 512),
        "buffer_size": _c(10_000, 50_000, 100_000),
        "train_freq": _c(1, 4, 8),
        "tau": _c(0.001, 0.005, 0.01, 0.02, 0.05),
        "action_noise_sigma": _f(0.0, 0.5),
        "net_arch": _c("64x64", "256x256", "400x300"),
    },
}


def default_search_space(
    algorithm: str,
) -> dict[str, AnyDistribution]:
    """The default space of ``algorithm`` (rl-zoo-like ranges).

    Raises:
        ValueError: unknown algorithm.
    """
    return dict(_DEFAULTS[get_algorithm(algorithm).name])


def space_to_json(
    space: Mapping[str, AnyDistribution],
) -> dict[str, dict[str, Any]]:
    """The JSON form of a space (what :func:`parse_search_space` reads back)."""
    return {name: dist.model_dump(mode="json", exclude_none=True) for name, dist in space.items()}


def _shape_errors(dist: Any) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if isinstance(dist, CategoricalDistribution):
        if len({repr(c) for c in dist.choices}) != len(dist.choices):
            problems.append(("choices", "choices must be distinct"))
        if any(isinstance(c, float) and not math.isfinite(c) for c in dist.choices):
            problems.append(("choices", "choices must be finite"))
        return problems
    if not (math.isfinite(dist.low) and math.isfinite(dist.high)):
        problems.append(("low", "low and high must be finite"))
        return problems
    if dist.low > dist.high:
        problems.append(("high", f"high ({dist.high}) must be >= low ({dist.low})"))
    if dist.log and dist.low <= 0:
        problems.append(("low", "a log distribution needs low > 0"))
    if dist.log and isinstance(dist, FloatDistribution) and dist.step is not None:
        problems.append(("step", "step cannot be combined with log"))
    if dist.log and isinstance(dist, IntDistribution) and dist.step != 1:
        problems.append(("step", "step cannot be combined with log"))
    if dist.step is not None and dist.step <= 0:
        problems.append(("step", "step must be > 0"))
    return problems


def _samples(dist: Any) -> list[tuple[str, Any]]:
    """Values that stand for everything ``dist`` can produce (its ends, or every choice)."""
    if isinstance(dist, CategoricalDistribution):
        return [("choices", c) for c in dist.choices]
    return [("low", dist.low), ("high", dist.high)]


def _field_adapter(field: Any) -> TypeAdapter[Any]:
    return TypeAdapter(Annotated[field.annotation, field])


def _check_value(name: str, field: Any, value: Any) -> str | None:
    """Why ``value`` is not a valid value of hyperparameter ``name`` (``None`` if it is)."""
    try:
        value = _convert(name, value)
        _field_adapter(field).validate_python(value)
    except (ValidationError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            return "; ".join(e["msg"] for e in exc.errors(include_url=False))
        return str(exc)
    if name == "net_arch" and any(size > 4096 for size in value):
        return "net_arch layer sizes must be in [1, 4096]"
    return None


def parse_search_space(
    algorithm: str, raw: Mapping[str, Any] | None = None
) -> dict[str, AnyDistribution]:
    """Validate a JSON space for ``algorithm``; ``None`` or empty → the default space.

    Each name must be a hyperparameter of the algorithm, each distribution well-formed, and every
    value it can produce valid for that hyperparameter.

    Raises:
        ValueError: unknown algorithm.
        SearchSpaceError: with one error per bad field (``loc`` = ``[name, field]``).
    """
    info = get_algorithm(algorithm)
    if not raw:
        return default_search_space(info.name)
    fields = info.params.model_fields
    errors: list[dict[str, Any]] = []
    space: dict[str, AnyDistribution] = {}
    for name, value in raw.items():
        if name not in fields:
            errors.append(
                {
                    "loc": [name],
                    "msg": f"{info.name} has no hyperparameter {name!r}; "
                    f"known: {', '.join(sorted(fields))}",
                    "type": "unknown_hyperparameter",
                }
            )
            continue
        try:
            dist = _DISTRIBUTION.validate_python(value)
        except ValidationError as exc:
            for e in exc.errors(include_url=False, include_context=False, include_input=False):
                loc = [str(p) for p in e["loc"]]
                if loc and loc[0] in ("float", "int", "categorical"):
                    loc = loc[1:]  # the discriminator's tag
                errors.append({"loc": [name, *loc], "msg": e["msg"], "type": e["type"]})
            continue
        shape = _shape_errors(dist)
        if shape:
            errors.extend({"loc": [name, f], "msg": m, "type": "value_error"} for f, m in shape)
            continue
        for where, sample in _samples(dist):
            why = _check_value(name, fields[name], sample)
            if why is not None:
                errors.append(
                    {
                        "loc": [name, where],
                        "msg": f"{sample!r} is not a valid {name}: {why}",
                        "type": "value_error",
                    }
                )
                break
        else:
            space[name] = dist
    if errors:
        raise SearchSpaceError(errors)
    return space


def to_optuna(
    space: Mapping[str, AnyDistribution],
) -> dict[str, BaseDistribution]:
    """The Optuna distributions of a (parsed) space, for ``study.ask(fixed_distributions)``."""
    from optuna import distributions as od

    out: dict[str, BaseDistribution] = {}
    for name, dist in space.items():
        if isinstance(dist, FloatDistribution):
            out[name] = od.FloatDistribution(dist.low, dist.high, log=dist.log, step=dist.step)
        elif isinstance(dist, IntDistribution):
            out[name] = od.IntDistribution(dist.low, dist.high, log=dist.log, step=dist.step)
        else:
            out[name] = od.CategoricalDistribution(list(dist.choices))
    return out


def _convert(name: str, value: Any) -> Any:
    if name == "net_arch" and isinstance(value, str):
        if not _NET_ARCH.match(value):
            raise ValueError(
                f"net_arch choices are layer sizes joined by 'x', e.g. '64x64' (got {value!r})"
            )
        return [int(size) for size in value.split("x")]
    return value


def to_hyperparams(params: Mapping[str, Any]) -> dict[str, Any]:
    """A trial's sampled values → the algorithm's hyperparameters (``"64x64"`` → ``[64, 64]``)."""
    return {name: _convert(name, value) for name, value in params.items()}
