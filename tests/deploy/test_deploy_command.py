"""scripts/deploy.sh (make deploy, tradeopt deploy): validation, dry runs for compose and k8s, and
the real path end to end against fake docker/kubectl executables that record their argv."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.deploy.support import MANIFEST, ROOT, find_tool, run

pytestmark = pytest.mark.unit

DEPLOY = ROOT / "scripts" / "deploy.sh"
OUR_IMAGE = re.compile(r"\bimage: (\S*trading-optimization-[\w-]+\S*)")
#: Images a release deploys: every built service of services.yaml, the gateway and the CLI.
BUILT = [s.name for s in MANIFEST.built()]
DEPLOYABLE = {*BUILT, "gateway", "cli"}


def deploy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run(["bash", str(DEPLOY), *args], env=env, check=False, timeout=120)


def fake_bin(tmp_path: Path, kubectl: str) -> tuple[Path, Path]:
    """docker/kubectl stand-ins appending argv to calls.log; kubectl kustomize runs the real one."""
    bindir, log = tmp_path / "bin", tmp_path / "calls.log"
    bindir.mkdir()
    scripts = {
        "docker": f'echo "docker $*" >> {shlex.quote(str(log))}\n',
        "kubectl": (
            f'echo "kubectl $*" >> {shlex.quote(str(log))}\n'
            f'if [ "$1" = kustomize ]; then exec {shlex.quote(kubectl)} "$@"; fi\n'
        ),
    }
    for name, body in scripts.items():
        path = bindir / name
        path.write_text("#!/usr/bin/env bash\n" + body)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return bindir, log


def fake_env(bindir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    env["PATH"] = f"{bindir}:{Path(sys.executable).parent}:{env['PATH']}"
    env.pop("DOCKER_COMPOSE", None)
    env["KUSTOMIZE"] = "no-such-kustomize"  # the PyYAML path, deterministic everywhere
    return env


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "swarm", "--version", "1.2.3"], "unknown target 'swarm'"),
        (["--version", "1.2.3"], "--target is required"),
        (["--target", "k8s"], "--version is required"),
        (["--target", "k8s", "--version", "dev"], "version 'dev' is not semantic"),
        (["--target", "compose", "--version", "1.2"], "version '1.2' is not semantic"),
        (["--target", "k8s", "--version", "1.2.3", "--overlay", "qa"], "unknown overlay 'qa'"),
        (["--target", "k8s", "--version", "1.2.3", "--registry", "Bad Reg"], "not a registry"),
        (["--target", "k8s", "--version", "1.2.3", "--frobnicate"], "unknown argument"),
    ],
)
def test_bad_input_fails_with_a_clear_message(args: list[str], message: str) -> None:
    proc = deploy(*args, "--dry-run")
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "+ " not in proc.stderr  # nothing ran


def test_make_deploy_without_version_fails() -> None:
    proc = run(["make", "--no-print-directory", "deploy", "TARGET=k8s"], check=False)
    assert proc.returncode != 0 and "version 'dev' is not semantic" in proc.stderr


def test_k8s_dry_run_renders_every_image_at_registry_and_version(kubectl: str) -> None:
    before = (ROOT / "k8s" / "overlays" / "prod" / "kustomization.yaml").read_text()
    proc = deploy(
        "--target", "k8s", "--version", "v2.3.4", "--registry", "ghcr.io/acme/", "--dry-run"
    )
    assert proc.returncode == 0, proc.stderr
    commands = [line for line in proc.stderr.splitlines() if line.startswith("+ ")]
    assert "images REGISTRY=ghcr.io/acme/ VERSION=2.3.4" in commands[0]
    assert "images-push REGISTRY=ghcr.io/acme/ VERSION=2.3.4" in commands[1]
    assert any("kubectl kustomize" in c for c in commands)
    assert any("delete job -n trading-optimization data-migrate" in c for c in commands)
    assert re.search(r"kubectl apply -k \S+/k8s/overlays/prod", commands[-1])
    images = set(OUR_IMAGE.findall(proc.stdout))
    assert {i.split(":")[0].rsplit("-", 1)[-1] for i in images} >= {"data", "gateway", "cli"}
    assert all(
        re.fullmatch(r"ghcr\.io/acme/trading-optimization-[\w-]+:2\.3\.4", i) for i in images
    )
    kinds = {d["kind"] for d in yaml.safe_load_all(proc.stdout) if d}
    assert {"Deployment", "Job", "Service"} <= kinds
    assert (ROOT / "k8s" / "overlays" / "prod" / "kustomization.yaml").read_text() == before


def test_render_prints_only_the_manifest(kubectl: str) -> None:
    proc = deploy("--target", "k8s", "--version", "1.0.0", "--overlay", "dev", "--render")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert docs and all("kind" in d for d in docs)
    images = set(OUR_IMAGE.findall(proc.stdout))
    assert images and all(re.fullmatch(r"trading-optimization-[\w-]+:1\.0\.0", i) for i in images)


def test_compose_dry_run_prints_commands_and_config(compose_cmd: list[str]) -> None:
    env = {**os.environ, "DOCKER_COMPOSE": shlex.join(compose_cmd)}
    proc = deploy(
        "--target", "compose", "--version", "1.4.0", "--registry", "registry.example.com/team",
        "--env-file", str(ROOT / ".env.example"), "--dry-run", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    commands = [line for line in proc.stderr.splitlines() if line.startswith("+ ")]
    assert "images REGISTRY=registry.example.com/team/ VERSION=1.4.0" in commands[0]
    assert "images-push" in commands[1]
    assert "TRADEOPT_VERSION=1.4.0 REGISTRY=registry.example.com/team/" in commands[2]
    assert commands[-1].endswith(
        "-f docker-compose.prod.yml --env-file "
        + str(ROOT / ".env.example")
        + " up -d --remove-orphans "
    )
    images = set(OUR_IMAGE.findall(proc.stdout))
    assert images == {
        f"registry.example.com/team/trading-optimization-{name}:1.4.0"
        for name in [*BUILT, "gateway"]
    }


def test_compose_end_to_end_with_fake_docker(tmp_path: Path, kubectl: str) -> None:
    bindir, log = fake_bin(tmp_path, kubectl)
    proc = deploy(
        "--target", "compose", "--version", "3.0.1", "--env-file", str(ROOT / ".env.example"),
        env=fake_env(bindir),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    builds = [c for c in calls if c.startswith("docker build")]
    tags = {m for c in builds for m in re.findall(r"-t (\S+)", c)}
    assert {f"trading-optimization-{n}:3.0.1" for n in DEPLOYABLE | {"base"}} <= tags
    assert not any(c.startswith("docker push") for c in calls)  # no registry: nothing pushed
    assert calls[-1].startswith("docker compose --project-directory")
    assert calls[-1].endswith("up -d --remove-orphans")
    assert "no --registry" in proc.stderr


def test_k8s_end_to_end_with_fake_docker_and_kubectl(tmp_path: Path, kubectl: str) -> None:
    bindir, log = fake_bin(tmp_path, kubectl)
    proc = deploy(
        "--target", "k8s", "--version", "1.2.3", "--registry", "ghcr.io/acme",
        env=fake_env(bindir),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    pushes = {c.split()[-1] for c in calls if c.startswith("docker push")}
    assert {f"ghcr.io/acme/trading-optimization-{n}:1.2.3" for n in DEPLOYABLE} <= pushes
    kubectl_calls = [c for c in calls if c.startswith("kubectl")]
    assert kubectl_calls[0].startswith("kubectl kustomize ")
    # The one-shot Jobs of the rendered overlay: each built service's migration and minio-init.
    deleted = kubectl_calls[1].split()
    assert deleted[:5] == ["kubectl", "delete", "job", "-n", "trading-optimization"]
    assert deleted[-1] == "--ignore-not-found"
    assert sorted(deleted[5:-1]) == sorted([*(f"{s}-migrate" for s in BUILT), "minio-init"])
    applied = kubectl_calls[2].split()
    assert applied[:3] == ["kubectl", "apply", "-k"]
    tmp_overlay = Path(applied[3])
    assert tmp_overlay.name == "prod" and not tmp_overlay.is_relative_to(ROOT)
    assert not tmp_overlay.exists()  # the temporary copy is cleaned up
    # Every build happened before the first kubectl call, every push after its build.
    first_kubectl = calls.index(kubectl_calls[0])
    assert all(i < first_kubectl for i, c in enumerate(calls) if c.startswith("docker "))


def test_failing_kubectl_fails_the_deploy(tmp_path: Path, kubectl: str) -> None:
    bindir, log = fake_bin(tmp_path, kubectl)
    (bindir / "kubectl").write_text(
        "#!/usr/bin/env bash\n"
        f'if [ "$1" = kustomize ]; then exec {shlex.quote(kubectl)} "$@"; fi\n'
        'echo "apply refused" >&2; exit 1\n'
    )
    proc = deploy(
        "--target", "k8s", "--version", "1.2.3", "--skip-build", env=fake_env(bindir)
    )  # fmt: skip
    assert proc.returncode == 1 and "apply refused" in proc.stderr
    assert not log.exists()  # --skip-build: docker never called


def test_cli_runs_the_same_script() -> None:
    from tradeopt_cli.deploy import deploy_argv, deploy_script

    assert deploy_script() == DEPLOY
    argv = deploy_argv("k8s", "1.2.3", "ghcr.io/acme", "dev", dry_run=True)
    assert argv == [
        "bash", str(DEPLOY), "--target", "k8s", "--version", "1.2.3", "--registry",
        "ghcr.io/acme", "--overlay", "dev", "--dry-run",
    ]  # fmt: skip
    tradeopt = find_tool("tradeopt")
    bad = run([tradeopt, "deploy", "--target", "nomad", "--version", "1.0.0"], check=False)
    assert bad.returncode == 2 and "unknown target 'nomad'" in bad.stderr
    ok = run(
        [tradeopt, "deploy", "--target", "k8s", "--version", "1.0.0", "--overlay", "dev",
         "--dry-run"],
        check=False,
        timeout=120,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert set(OUR_IMAGE.findall(ok.stdout)) >= {"trading-optimization-data:1.0.0"}


def test_images_mk_adds_a_cache_scope_per_image_only_when_asked() -> None:
    args = ["make", "--no-print-directory", "-n", "images", "VERSION=1.0.0", "REGISTRY=r/"]
    plain = run([*args, "REVISION=x", "CREATED=y"]).stdout
    cached = run([*args, "REVISION=x", "CREATED=y", "BUILD_CACHE=gha"]).stdout
    assert "--cache-from" not in plain
    for name in ("base", "data", "gateway", "cli"):
        assert (
            f"--cache-from type=gha,scope={name} --cache-to type=gha,scope={name},mode=max"
            in cached
        )
