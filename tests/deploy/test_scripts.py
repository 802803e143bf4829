"""scripts/install-system-deps.sh, docker/images.mk and the MinIO init script."""

from __future__ import annotations

import re

import pytest

from tests.deploy.support import MANIFEST, ROOT, find_tool, run

pytestmark = pytest.mark.unit

INSTALL = ROOT / "scripts" / "install-system-deps.sh"
IMAGES_MK = ROOT / "docker" / "images.mk"


def test_install_script_lints() -> None:
    run(["bash", "-n", str(INSTALL)])
    run([find_tool("shellcheck"), str(INSTALL), str(ROOT / "docker" / "minio" / "init.sh")])


def test_install_script_covers_the_tools_and_starts_nothing() -> None:
    text = INSTALL.read_text()
    packages = re.search(r"APT_PACKAGES=\(([^)]*)\)", text)
    assert packages
    assert {
        "prometheus",
        "prometheus-alertmanager",
        "nginx-light",
        "shellcheck",
        "jq",
        "curl",
        "wrk",
    } <= set(packages[1].split())
    pip_tools = re.search(r"PIP_TOOLS=\(([^)]*)\)", text)
    assert pip_tools
    assert all("==" in tool for tool in pip_tools[1].split()), "pin the pip tools"
    assert "policy-rc.d" in text and "exit 101" in text  # packaged daemons are not started
    assert not re.search(r"systemctl (start|enable)|service \S+ start", text)


def make(*args: str) -> str:
    return run(
        [
            "make",
            "--no-print-directory",
            "-f",
            str(IMAGES_MK),
            *args,
            "REVISION=abc123",
            "CREATED=2026-01-01T00:00:00Z",
        ]
    ).stdout


def test_images_target_builds_every_image_with_one_tag() -> None:
    out = make("-n", "images", "VERSION=1.2.3", "REGISTRY=ghcr.io/acme/")
    builds = [line for line in out.replace("\\\n", " ").splitlines() if "docker build" in line]
    tags = [re.search(r"-t (\S+)", b)[1] for b in builds]
    services = [s.name for s in MANIFEST.built()]  # every built service, in manifest order
    names = ["base", "compute", *services, "gateway", "cli"]
    assert tags == [f"ghcr.io/acme/trading-optimization-{n}:1.2.3" for n in names]
    for build in builds:
        for arg in ("VERSION=1.2.3", "REVISION=abc123", "CREATED=2026-01-01T00:00:00Z"):
            assert f"--build-arg {arg}" in build
    training = builds[3]
    assert "--build-arg SERVICE=training --build-arg SERVICE_PORT=8002" in training
    assert "--build-arg BASE_IMAGE=ghcr.io/acme/trading-optimization-compute:1.2.3" in training
    tuning = builds[4]
    assert "--build-arg SERVICE=tuning --build-arg SERVICE_PORT=8003" in tuning
    assert "--build-arg BASE_IMAGE=ghcr.io/acme/trading-optimization-compute:1.2.3" in tuning
    evaluation = builds[5]
    assert "--build-arg SERVICE=evaluation --build-arg SERVICE_PORT=8004" in evaluation
    assert "--build-arg BASE_IMAGE=ghcr.io/acme/trading-optimization-compute:1.2.3" in evaluation
    # the CLI runs every service in-process, training included: it needs torch too
    assert "--build-arg BASE_IMAGE=ghcr.io/acme/trading-optimization-compute:1.2.3" in builds[-1]
    data = builds[2]
    assert "-f docker/service.Dockerfile" in data
    assert "--build-arg SERVICE=data --build-arg SERVICE_PORT=8001" in data
    assert "--build-arg BASE_IMAGE=ghcr.io/acme/trading-optimization-base:1.2.3" in data


def test_ml_services_build_on_compute() -> None:
    out = make("-n", "images", "IMAGE_SERVICES=data training", "VERSION=2", "TORCH_VARIANT=cu128")
    flat = out.replace("\\\n", " ")
    assert "-f docker/compute.Dockerfile" in flat
    assert "--build-arg TORCH_VARIANT=cu128" in flat
    assert "-t trading-optimization-compute:2-cu128" in flat
    training = next(line for line in flat.splitlines() if "SERVICE=training" in line)
    assert "--build-arg SERVICE_PORT=8002" in training
    assert "--build-arg BASE_IMAGE=trading-optimization-compute:2-cu128" in training
    listed = make("-s", "images-list", "IMAGE_SERVICES=data training", "VERSION=2").split()
    assert (
        "trading-optimization-compute:2" in listed and "trading-optimization-training:2" in listed
    )
    # A CUDA build tags every torch image with the variant: it never overwrites the CPU images.
    cuda = make("-s", "images-list", "VERSION=2", "TORCH_VARIANT=cu128").split()
    torch_tag = {s.name: "2-cu128" if s.image == "compute" else "2" for s in MANIFEST.built()}
    assert cuda == [
        "trading-optimization-base:2",
        "trading-optimization-compute:2-cu128",
        *(f"trading-optimization-{name}:{tag}" for name, tag in torch_tag.items()),
        "trading-optimization-gateway:2",
        "trading-optimization-cli:2-cu128",
    ]
    assert "-t trading-optimization-training:2-cu128" in flat
    # Without an ML service nothing needs compute: the CLI builds on base.
    plain = make("-n", "images", "IMAGE_SERVICES=data", "VERSION=3").replace("\\\n", " ")
    assert "compute" not in plain
