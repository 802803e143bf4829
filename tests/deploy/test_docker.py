"""Dockerfiles, .dockerignore, the entrypoint and the dependency resolver (no Docker daemon)."""

from __future__ import annotations

import importlib.util
import os
import re
import stat
from pathlib import Path
from types import ModuleType

import pytest

from tests.deploy.support import ROOT, Dockerfile, find_tool, parse, resolve, run

pytestmark = pytest.mark.unit

DOCKER = ROOT / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
RUNNABLE = ["service", "gateway", "cli"]  # images that run as containers


@pytest.fixture(scope="module", params=[p.stem.removesuffix(".Dockerfile") for p in DOCKERFILES])
def dockerfile(request: pytest.FixtureRequest) -> Dockerfile:
    return parse(DOCKER / f"{request.param}.Dockerfile")


def test_expected_dockerfiles_exist() -> None:
    names = {p.name for p in DOCKERFILES}
    assert {
        "base.Dockerfile",
        "compute.Dockerfile",
        "service.Dockerfile",
        "gateway.Dockerfile",
        "cli.Dockerfile",
    } <= names


def test_base_images_are_pinned(dockerfile: Dockerfile) -> None:
    stage_names = {s.name for s in dockerfile.stages if s.name}
    for stage in dockerfile.stages:
        ref = resolve(stage.base, dockerfile.global_args)
        assert "$" not in ref, f"{dockerfile.path.name}: FROM {stage.base} has no default"
        if ref in stage_names:
            continue
        name, _, tag = ref.rpartition(":") if ":" in ref.split("/")[-1] else (ref, "", "")
        assert tag, f"{dockerfile.path.name}: FROM {ref} has no tag"
        assert tag not in {"latest", "stable", "mainline"}, f"{dockerfile.path.name}: FROM {ref}"
        if not name.startswith("trading-optimization-"):  # our own images carry VERSION
            assert re.search(r"\d+\.\d+", tag), f"third-party FROM {ref} is not version-pinned"


def test_no_latest_anywhere(dockerfile: Dockerfile) -> None:
    assert ":latest" not in dockerfile.path.read_text()


def test_final_user_is_numeric_non_root(dockerfile: Dockerfile) -> None:
    users = dockerfile.final.all("USER")
    assert users, f"{dockerfile.path.name}: final stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"{dockerfile.path.name}: runs as {users[-1]}"
    if dockerfile.path.name != "gateway.Dockerfile":
        assert uid == "10001"


def test_oci_labels_from_build_args(dockerfile: Dockerfile) -> None:
    final = dockerfile.final
    declared = {a.split("=")[0] for a in final.all("ARG")}
    assert {"VERSION", "REVISION", "CREATED"} <= declared
    labels = " ".join(final.all("LABEL"))
    for key, arg in [("version", "VERSION"), ("revision", "REVISION"), ("created", "CREATED")]:
        assert f'org.opencontainers.image.{key}="${{{arg}}}"' in labels
    assert "org.opencontainers.image.title=" in labels


@pytest.mark.parametrize("name", RUNNABLE)
def test_runnable_images_declare_healthcheck(name: str) -> None:
    checks = parse(DOCKER / f"{name}.Dockerfile").final.all("HEALTHCHECK")
    assert len(checks) == 1, f"{name}: expected exactly one HEALTHCHECK"
    if name == "cli":
        assert checks[0] == "NONE"  # one-shot command, said explicitly
    else:
        assert "CMD [" in checks[0], "exec form"
        assert "/healthz" in checks[0]


def test_service_healthcheck_is_curl_less_python() -> None:
    (check,) = parse(DOCKER / "service.Dockerfile").final.all("HEALTHCHECK")
    assert '"python", "-c"' in check and "urllib.request" in check
    assert "curl" not in check


def test_service_image_layout() -> None:
    df = parse(DOCKER / "service.Dockerfile")
    names = [s.name for s in df.stages]
    assert names == ["requirements", "builder", "runtime"]
    reqs, builder, runtime = df.stages
    # The dependency stage sees only metadata: pyproject files, constraints, the resolver.
    for copy in reqs.all("COPY"):
        sources = copy.split()[:-1]
        for src in sources:
            assert src.endswith(("pyproject.toml", "constraints.txt", "requirements.py")), copy
    # Dependencies are installed before the local wheels (code) in the runtime stage.
    runs = runtime.all("RUN")
    dep_index = next(i for i, r in enumerate(runs) if "-r /build/requirements.txt" in r)
    code_index = next(i for i, r in enumerate(runs) if "/wheels/*.whl" in r)
    assert dep_index < code_index
    assert "from=requirements" in runs[dep_index] and "from=builder" in runs[code_index]
    assert not runtime.all("COPY") or all("--from" not in c for c in runtime.all("COPY"))
    env = " ".join(runtime.all("ENV"))
    assert "PYTHONUNBUFFERED=1" in env and "TRADEOPT_SERVICE=${SERVICE}" in env
    assert runtime.all("ENTRYPOINT") == ['["tini", "--", "tradeopt-entrypoint"]']
    assert any("SERVICE" in a for a in builder.all("ARG"))


def test_base_image_environment() -> None:
    env = " ".join(parse(DOCKER / "base.Dockerfile").final.all("ENV"))
    for expected in ("PYTHONUNBUFFERED=1", "VIRTUAL_ENV=/opt/venv", "TRADING_OPT_LOG_JSON=true"):
        assert expected in env


def test_compute_torch_variants() -> None:
    df = parse(DOCKER / "compute.Dockerfile")
    args = dict(a.partition("=")[::2] for a in df.final.all("ARG"))
    assert args["TORCH_VARIANT"] == "cpu"
    assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/${TORCH_VARIANT}"
    install = " ".join(df.final.all("RUN"))
    assert "cpu|cu[0-9][0-9][0-9]" in install and "'libs/ml[rl]'" in install


def test_gateway_tolerates_missing_or_empty_html() -> None:
    df = parse(DOCKER / "gateway.Dockerfile")
    (copy_step,) = [r for r in df.final.all("RUN") if "source=docker/nginx" in r]
    assert "--mount=type=bind,source=docker/nginx" in copy_step
    assert 'for f in /src/html/*; do if [ -e "$f" ]; then has_html=1; fi; done' in copy_step
    assert "rm -f /etc/nginx/conf.d/default.conf" in copy_step
    assert df.final.all("EXPOSE") == ["8080"]
    assert "nginx-unprivileged" in df.global_args["NGINX_IMAGE"]


def test_gateway_builds_the_dashboard() -> None:
    """A node stage runs `npm ci && npm run build` on web/ (lockfile first, for the layer cache)
    and the final stage serves its dist/ at /, as `make web` does for the local fleet."""
    df = parse(DOCKER / "gateway.Dockerfile")
    (web,) = [s for s in df.stages if s.name == "web"]
    assert resolve(web.base, df.global_args).startswith("node:20.")
    copies = web.all("COPY")
    assert copies[0] == "web/package.json web/package-lock.json ./"
    runs = web.all("RUN")
    assert runs[0].startswith("npm ci") and runs[-1] == "npm run build"
    assert copies.index("web/ ./") == len(copies) - 1  # sources after the dependencies
    assert "--from=web /web/dist/ /usr/share/nginx/html/" in df.final.all("COPY")
    package = (ROOT / "web" / "package.json").read_text()
    assert "check-bundle-size" in package  # the build checks the initial JS budget
    assert (ROOT / "web" / "package-lock.json").exists()
    patterns = dockerignore_patterns()
    assert not ignored("web/src/main.tsx", patterns)
    assert ignored("web/node_modules/react/index.js", patterns)
    assert ignored("web/dist/index.html", patterns)


def test_hadolint(tmp_path: Path) -> None:
    hadolint = find_tool("hadolint")
    run([hadolint, "--config", str(DOCKER / "hadolint.yaml"), *map(str, DOCKERFILES)])


# --- build context -----------------------------------------------------------------------------


def dockerignore_patterns() -> list[tuple[bool, str]]:
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negate = line.startswith("!")
            patterns.append((negate, line.lstrip("!").rstrip("/")))
    return patterns


def glob_regex(pattern: str) -> str:
    """Go filepath.Match plus `**`, as .dockerignore uses them."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out, i = out + pattern[i : end + 1], end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


def ignored(rel: str, patterns: list[tuple[bool, str]]) -> bool:
    """Docker's rule, enough for our patterns: last match wins, a match on a parent excludes."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for negate, pattern in patterns:
        regex = glob_regex(pattern)
        if any(re.fullmatch(regex, c) for c in candidates):
            result = not negate
    return result


def test_dockerignore_excludes_local_state() -> None:
    patterns = dockerignore_patterns()
    for path in [
        ".venv/bin/python",
        ".git/HEAD",
        ".tradeopt/tradeopt.db",
        ".run/fleet.pid",
        "libs/common/src/tradeopt_common/__pycache__/x.pyc",
        "libs/common/src/tradeopt_common.egg-info/PKG-INFO",
        "tests/deploy/test_docker.py",
        ".pytest_cache/v/cache",
        ".env",
    ]:
        assert ignored(path, patterns), f"{path} would be sent to the Docker daemon"


def test_copied_sources_exist_and_are_not_ignored() -> None:
    patterns = dockerignore_patterns()
    for df_path in DOCKERFILES:
        for stage in parse(df_path).stages:
            for kw, args in stage.instructions:
                if kw != "COPY" or "--from" in args:
                    continue
                sources = [a for a in args.split()[:-1] if not a.startswith("--")]
                for src in sources:
                    src = src.replace("${SERVICE}", "data").rstrip("/")
                    assert (ROOT / src).exists(), f"{df_path.name}: COPY {src} does not exist"
                    assert not ignored(src, patterns), f"{df_path.name}: {src} is dockerignored"
    assert not ignored(".env.example", patterns)


# --- entrypoint --------------------------------------------------------------------------------


def test_entrypoint_is_posix_and_executable() -> None:
    entry = DOCKER / "entrypoint.sh"
    assert entry.stat().st_mode & stat.S_IXUSR
    run([find_tool("shellcheck"), "-s", "sh", str(entry)])


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], "uvicorn tradeopt_data.app:create_app --factory --host 0.0.0.0 --port 8001"),
        (
            ["worker"],
            "celery -A tradeopt_data.worker:celery_app worker -Q data,maintenance --pool=threads "
            "--concurrency=2 --loglevel=INFO",
        ),
        (
            ["beat"],
            "celery -A tradeopt_common.jobs.beat:celery_app beat --schedule "
            "/tmp/celerybeat-schedule --loglevel=INFO",
        ),
        (["migrate"], "python -m tradeopt_common.db.upgrade"),
        (["storage-init"], "python -m tradeopt_common.storage.init"),
        (["celery", "-A", "x", "inspect", "ping"], "celery -A x inspect ping"),
    ],
)
def test_entrypoint_roles(tmp_path: Path, argv: list[str], expected: str) -> None:
    for tool in ("uvicorn", "celery", "python"):
        stub = tmp_path / tool
        stub.write_text(f'#!/bin/sh\necho {tool} "$@"\n')
        stub.chmod(0o755)
    env = {
        "PATH": f"{tmp_path}:/usr/bin:/bin",
        "TRADEOPT_SERVICE": "data",
        "TRADEOPT_PORT": "8001",
    }
    proc = run(["sh", str(DOCKER / "entrypoint.sh"), *argv], env=env)
    assert proc.stdout.strip() == expected


# --- dependency resolver -----------------------------------------------------------------------


def load_resolver() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "docker_requirements", DOCKER / "scripts" / "requirements.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_resolver_data_service_has_no_torch() -> None:
    requirements, local = load_resolver().resolve(ROOT, ["services/data"])
    names = {re.split(r"[<>=\[;! ]", r)[0].lower() for r in requirements}
    assert {"fastapi", "celery", "numpy"} <= names
    assert not names & {"torch", "stable-baselines3", "optuna"}
    assert not any(n.startswith("tradeopt") for n in names)
    assert local == ["libs/common", "libs/ml", "services/data"]


def test_resolver_follows_extras() -> None:
    requirements, local = load_resolver().resolve(ROOT, ["libs/ml[rl]"])
    assert "torch==2.13.0" in requirements
    assert any(r.startswith("stable-baselines3") for r in requirements)
    assert local == ["libs/ml"]


def test_resolver_cli_and_errors(tmp_path: Path) -> None:
    resolver = load_resolver()
    _, local = resolver.resolve(ROOT, ["cli"])
    assert local == ["cli", "libs/common", "libs/ml"]  # the typed lineage lives in tradeopt_ml
    (tmp_path / "services" / "x").mkdir(parents=True)
    (tmp_path / "services" / "x" / "pyproject.toml").write_text(
        '[project]\nname = "tradeopt-x"\ndependencies = ["tradeopt-missing"]\n'
    )
    with pytest.raises(SystemExit, match="tradeopt-missing"):
        resolver.resolve(tmp_path, ["services/x"])


def test_every_pinned_requirement_is_in_constraints() -> None:
    """What the images install is what CI tests: every third-party dependency is pinned."""
    constraints = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "requirements" / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    requirements, _ = load_resolver().resolve(ROOT, ["services/data", "libs/ml[rl]", "cli"])
    for requirement in requirements:
        name = re.split(r"[<>=\[;! ]", requirement)[0].lower().replace("_", "-")
        assert name in constraints, f"{name} is not pinned in requirements/constraints.txt"


def test_scripts_are_executable() -> None:
    for script in [DOCKER / "entrypoint.sh", DOCKER / "minio" / "init.sh"]:
        assert os.access(script, os.X_OK), script
