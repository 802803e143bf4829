"""Packages whose heavy names are imported on first use (``tradeopt_ml.lazy``): every public
name resolves, and no API process imports torch, stable-baselines3 or arch at start (the
training API used to import all three: 3.0 s of every start; now they wait for a job)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit
LAZY_PACKAGES = ("tradeopt_ml.evaluation", "tradeopt_ml.training", "tradeopt_ml.envs")
HEAVY = ("torch", "stable_baselines3", "arch")


@pytest.mark.parametrize("package", LAZY_PACKAGES)
def test_every_public_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    assert set(module.__all__) <= set(dir(module))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        module.nope  # noqa: B018


@pytest.mark.parametrize(
    "app",
    [
        "tradeopt_data.app",
        "tradeopt_training.app",
        "tradeopt_tuning.app",
        "tradeopt_evaluation.app",
        "tradeopt_strategy.app",
    ],
)
def test_an_api_process_starts_without_the_training_stack(app: str) -> None:
    code = f"import sys, {app}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", f"{app} imports {done.stdout.strip()} at start"
