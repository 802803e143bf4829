"""Validated hyperparameter models, one per stable-baselines3 algorithm.

Each model is a pydantic v2 model with ``extra="forbid"`` so a typo in a key is an error, not a
silently ignored setting. Defaults are rl-baselines3-zoo-like but small (short rollouts, small
buffers and networks) so that a run on daily bars stays cheap. ``to_sb3_kwargs()`` turns a model
into the keyword arguments of the SB3 constructor (``policy_kwargs`` included); anything that
depends on the environment (action noise, the vectorised batch-size check) is resolved by
:func:`tradeopt_ml.agents.factory.make_model`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, model_validator

#: Activation function names accepted in ``activation_fn``.
ActivationName = Literal["tanh", "relu"]


class _BaseParams(BaseModel):
    """Fields shared by every algorithm."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    learning_rate: float = Field(3e-4, gt=0, le=1, description="Optimizer step size in (0, 1].")
    gamma: float = Field(0.99, gt=0, le=1, description="Discount factor in (0, 1].")
    net_arch: list[int] = Field(
        default_factory=lambda: [64, 64],
        min_length=1,
        max_length=8,
        description="Hidden layer sizes of the policy and value/critic networks.",
    )
    activation_fn: ActivationName = Field("tanh", description="Hidden-layer activation.")

    @model_validator(mode="after")
    def _check_net_arch(self) -> _BaseParams:
        if any(size < 1 or size > 4096 for size in self.net_arch):
            raise ValueError(f"net_arch layer sizes must be in [1, 4096], got {self.net_arch}")
        return self

    def policy_kwargs(self) -> dict[str, Any]:
        """The SB3 ``policy_kwargs`` (network shape and activation)."""
        import torch.nn as nn

        activation = {"tanh": nn.Tanh, "relu": nn.ReLU}[self.activation_fn]
        return {"net_arch": list(self.net_arch), "activation_fn": activation}

    def to_sb3_kwargs(self) -> dict[str, Any]:
        """Constructor keyword arguments for the SB3 algorithm class."""
        kwargs = self.model_dump(exclude={"net_arch", "activation_fn"})
        kwargs["policy_kwargs"] = self.policy_kwargs()
        return kwargs


class _OnPolicyParams(_BaseParams):
    n_steps: int = Field(256, ge=1, le=16_384, description="Steps per environment per rollout.")
    gae_lambda: float = Field(0.95, ge=0, le=1, description="GAE lambda in [0, 1].")
    ent_coef: float = Field(0.0, ge=0, le=10, description="Entropy bonus coefficient.")
    vf_coef: float = Field(0.5, ge=0, le=10, description="Value loss coefficient.")
    max_grad_norm: float = Field(0.5, gt=0, le=1000, description="Gradient clipping norm.")


class PPOParams(_OnPolicyParams):
    """PPO hyperparameters. ``batch_size`` must divide ``n_steps * n_envs``."""

    batch_size: int = Field(
        64, ge=1, le=1_048_576, description="Minibatch size; divides n_steps * n_envs."
    )
    n_epochs: int = Field(10, ge=1, le=100, description="Optimisation epochs per rollout.")
    clip_range: float = Field(0.2, gt=0, le=1, description="Policy clip range in (0, 1].")
    clip_range_vf: float | None = Field(
        None, gt=0, le=100, description="Value clip range, None = off."
    )
    target_kl: float | None = Field(None, gt=0, le=10, description="Early-stop KL threshold.")
    normalize_advantage: bool = True

    @model_validator(mode="after")
    def _check_batch(self, info: ValidationInfo) -> PPOParams:
        n_envs = int((info.context or {}).get("n_envs", 1))
        check_ppo_batch(self.n_steps, self.batch_size, n_envs)
        return self


class A2CParams(_OnPolicyParams):
    """A2C hyperparameters (SB3 defaults: short rollouts, RMSprop)."""

    learning_rate: float = Field(7e-4, gt=0, le=1, description="Optimizer step size in (0, 1].")
    n_steps: int = Field(8, ge=1, le=16_384, description="Steps per environment per rollout.")
    gae_lambda: float = Field(1.0, ge=0, le=1, description="GAE lambda in [0, 1].")
    use_rms_prop: bool = True
    rms_prop_eps: float = Field(1e-5, gt=0, le=1)
    normalize_advantage: bool = False


class _OffPolicyParams(_BaseParams):
    net_arch: list[int] = Field(
        default_factory=lambda: [128, 128],
        min_length=1,
        max_length=8,
        description="Hidden layer sizes of the actor/Q networks.",
    )
    activation_fn: ActivationName = Field("relu", description="Hidden-layer activation.")
    buffer_size: int = Field(
        50_000, ge=1, le=2_000_000, description="Replay buffer capacity (transitions)."
    )
    learning_starts: int = Field(
        1_000, ge=0, le=100_000_000, description="Random steps before learning."
    )
    batch_size: int = Field(256, ge=1, le=65_536, description="Replay minibatch size.")
    tau: float = Field(0.005, gt=0, le=1, description="Polyak coefficient in (0, 1].")
    train_freq: int = Field(1, ge=1, le=1_000_000, description="Environment steps between updates.")
    gradient_steps: int = Field(
        1, ge=-1, le=10_000, description="Gradient steps per update (-1 = as many as steps)."
    )

    @model_validator(mode="after")
    def _check_gradient_steps(self) -> _OffPolicyParams:
        if self.gradient_steps == 0:
            raise ValueError("gradient_steps must be >= 1, or -1 for 'as many as env steps'")
        return self


class DQNParams(_OffPolicyParams):
    """DQN hyperparameters (discrete action spaces only)."""

    learning_rate: float = Field(1e-4, gt=0, le=1, description="Optimizer step size in (0, 1].")
    batch_size: int = Field(64, ge=1, le=65_536, description="Replay minibatch size.")
    tau: float = Field(1.0, gt=0, le=1, description="Target update coefficient (1 = hard copy).")
    train_freq: int = Field(4, ge=1, le=1_000_000, description="Environment steps between updates.")
    target_update_interval: int = Field(
        1_000, ge=1, le=100_000_000, description="Steps between target updates."
    )
    exploration_fraction: float = Field(0.1, gt=0, le=1)
    exploration_initial_eps: float = Field(1.0, ge=0, le=1)
    exploration_final_eps: float = Field(0.05, ge=0, le=1)
    max_grad_norm: float = Field(10.0, gt=0, le=1000)

    @model_validator(mode="after")
    def _check_eps(self) -> DQNParams:
        if self.exploration_final_eps > self.exploration_initial_eps:
            raise ValueError("exploration_final_eps must be <= exploration_initial_eps")
        return self


class SACParams(_OffPolicyParams):
    """SAC hyperparameters (continuous ``Box`` action spaces only)."""

    ent_coef: Literal["auto"] | float = Field(
        "auto", description="Entropy coefficient: 'auto' (learned) or a fixed value > 0."
    )
    target_update_interval: int = Field(1, ge=1, le=100_000_000)
    target_entropy: Literal["auto"] | float = "auto"
    action_noise_sigma: float = Field(0.0, ge=0, description="Gaussian action noise std (0 = off).")

    @model_validator(mode="after")
    def _check_ent(self) -> SACParams:
        if isinstance(self.ent_coef, float) and self.ent_coef <= 0:
            raise ValueError("ent_coef must be 'auto' or a float > 0")
        return self

    def to_sb3_kwargs(self) -> dict[str, Any]:
        """Constructor kwargs; ``action_noise_sigma`` is resolved by the factory."""
        kwargs = super().to_sb3_kwargs()
        kwargs.pop("action_noise_sigma")
        return kwargs


class TD3Params(_OffPolicyParams):
    """TD3 hyperparameters (continuous ``Box`` action spaces only)."""

    learning_rate: float = Field(1e-3, gt=0, le=1, description="Optimizer step size in (0, 1].")
    batch_size: int = Field(128, ge=1, le=65_536, description="Replay minibatch size.")
    policy_delay: int = Field(2, ge=1, le=1000)
    target_policy_noise: float = Field(0.2, ge=0, le=10)
    target_noise_clip: float = Field(0.5, ge=0, le=10)
    action_noise_sigma: float = Field(
        0.1, ge=0, description="Gaussian exploration noise std, as a fraction of the action range."
    )

    def to_sb3_kwargs(self) -> dict[str, Any]:
        """Constructor kwargs; ``action_noise_sigma`` is resolved by the factory."""
        kwargs = super().to_sb3_kwargs()
        kwargs.pop("action_noise_sigma")
        return kwargs


HyperParams = PPOParams | A2CParams | DQNParams | SACParams | TD3Params


def check_ppo_batch(n_steps: int, batch_size: int, n_envs: int) -> None:
    """Raise ``ValueError`` unless ``batch_size`` fits the PPO rollout of ``n_steps * n_envs``.

    SB3 needs a rollout of more than one transition, and a minibatch size that divides the
    rollout (otherwise the last minibatch is silently truncated).
    """
    rollout = n_steps * n_envs
    if rollout < 2:
        raise ValueError(f"PPO needs n_steps * n_envs > 1 (got n_steps={n_steps}, n_envs={n_envs})")
    if batch_size > rollout or rollout % batch_size != 0:
        raise ValueError(
            f"PPO batch_size={batch_size} is incompatible with the rollout size "
            f"n_steps * n_envs = {n_steps} * {n_envs} = {rollout}: batch_size must divide it"
        )
