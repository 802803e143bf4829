"""Checkpoint folders: write them atomically, read them back, find the latest one.

A checkpoint is a folder ``<workdir>/checkpoints/ckpt_<timesteps:012d>/`` holding

- ``model.zip``            the SB3 model (policy + optimiser state),
- ``replay_buffer.pkl``    off-policy algorithms only (filled rows only, see ``replay.py``),
- ``vecnormalize.pkl``     when the training env is wrapped in ``VecNormalize``,
- ``best_model.zip``       (+ ``best_vecnormalize.pkl``) the best evaluated model so far, so a
                           resume on a fresh machine keeps it,
- ``state.json``           ``{timesteps, total_timesteps, algorithm, seed, best_eval,
                           eval_history, rng, ...}``; written last, so a folder without it is
                           incomplete and ignored.

The folder is written under a temporary name and renamed into place, so a crash mid-save never
leaves a half checkpoint under a final name.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tradeopt_ml.training.spec import EvalRecord

if TYPE_CHECKING:
    from stable_baselines3.common.base_class import BaseAlgorithm

CHECKPOINTS_DIR = "checkpoints"
MODEL_FILE = "model.zip"
REPLAY_FILE = "replay_buffer.pkl"
VECNORM_FILE = "vecnormalize.pkl"
BEST_MODEL_FILE = "best_model.zip"
BEST_VECNORM_FILE = "best_vecnormalize.pkl"
STATE_FILE = "state.json"
_FORMAT = 1


@dataclass(slots=True)
class CheckpointState:
    """The ``state.json`` of a checkpoint."""

    algorithm: str
    timesteps: int
    total_timesteps: int
    seed: int
    best_eval: float | None = None
    best_eval_timesteps: int | None = None
    eval_history: list[EvalRecord] = field(default_factory=list)
    rng: dict[str, Any] | None = None
    created_at: str = ""

    def to_json(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "format": _FORMAT,
            "algorithm": self.algorithm,
            "timesteps": self.timesteps,
            "total_timesteps": self.total_timesteps,
            "seed": self.seed,
            "best_eval": self.best_eval,
            "best_eval_timesteps": self.best_eval_timesteps,
            "eval_history": [r.to_dict() for r in self.eval_history],
            "rng": self.rng,
            "created_at": self.created_at,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckpointState:
        """Inverse of :meth:`to_json`."""
        if int(data.get("format", 0)) != _FORMAT:
            raise ValueError(f"unsupported checkpoint format {data.get('format')!r}")
        return cls(
            algorithm=str(data["algorithm"]),
            timesteps=int(data["timesteps"]),
            total_timesteps=int(data["total_timesteps"]),
            seed=int(data["seed"]),
            best_eval=None if data.get("best_eval") is None else float(data["best_eval"]),
            best_eval_timesteps=(
                None
                if data.get("best_eval_timesteps") is None
                else int(data["best_eval_timesteps"])
            ),
            eval_history=[EvalRecord.from_dict(r) for r in data.get("eval_history", [])],
            rng=data.get("rng"),
            created_at=str(data.get("created_at", "")),
        )


def capture_rng_state() -> dict[str, Any]:
    """The global python / numpy / torch RNG states, JSON-serialisable."""
    import torch

    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)
    return {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_name, np.asarray(np_keys).tolist(), int(np_pos), int(np_has_gauss), np_gauss],
        "torch": torch.get_rng_state().tolist(),
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    import torch

    py_version, py_state, py_gauss = state["python"]
    random.setstate((py_version, tuple(py_state), py_gauss))
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))


def checkpoint_dir(workdir: Path, timesteps: int) -> Path:
    """The folder of the checkpoint at ``timesteps``."""
    return Path(workdir) / CHECKPOINTS_DIR / f"ckpt_{int(timesteps):012d}"


def save_checkpoint(
    model: BaseAlgorithm,
    workdir: Path,
    state: CheckpointState,
    *,
    best_model_dir: Path | None = None,
) -> Path:
    """Write a complete checkpoint folder for ``model`` and return its path.

    ``best_model_dir`` (the run's workdir) is where ``best_model.zip`` lives, copied in if present.
    """
    final = checkpoint_dir(workdir, state.timesteps)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    model.save(tmp / MODEL_FILE)
    if hasattr(model, "replay_buffer") and getattr(model, "replay_buffer", None) is not None:
        from tradeopt_ml.training.replay import save_replay_buffer

        save_replay_buffer(model, tmp / REPLAY_FILE)
    vecnorm = model.get_vec_normalize_env()
    if vecnorm is not None:
        vecnorm.save(str(tmp / VECNORM_FILE))
    if best_model_dir is not None:
        for name in (BEST_MODEL_FILE, BEST_VECNORM_FILE):
            if (best_model_dir / name).exists():
                shutil.copy2(best_model_dir / name, tmp / name)
    state.created_at = datetime.now(UTC).isoformat()
    (tmp / STATE_FILE).write_text(json.dumps(state.to_json()))
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    return final


def read_checkpoint(path: Path) -> CheckpointState:
    """Read the ``state.json`` of a checkpoint folder.

    Raises:
        FileNotFoundError: ``path`` is not a complete checkpoint folder.
    """
    path = Path(path)
    if not (path / STATE_FILE).is_file() or not (path / MODEL_FILE).is_file():
        raise FileNotFoundError(f"{path} is not a complete checkpoint (state.json + model.zip)")
    return CheckpointState.from_json(json.loads((path / STATE_FILE).read_text()))


def list_checkpoints(workdir: Path) -> list[Path]:
    """Complete checkpoint folders under ``workdir``, oldest first."""
    root = Path(workdir) / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    found = [
        p
        for p in root.iterdir()
        if p.is_dir() and p.name.startswith("ckpt_") and (p / STATE_FILE).is_file()
    ]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(workdir: Path) -> Path | None:
    """The most advanced complete checkpoint under ``workdir``, or None."""
    found = list_checkpoints(workdir)
    return found[-1] if found else None
