"""Semantic checks: every place that lists the services agrees with services.yaml.

Each check reads one place the way its consumer does (compose service names, the nginx map's
upstream variables, the overlays' resources, the rendered supervisord programs, ...) and reports
``<place>: <service>: <problem>``: a built service that is missing, a planned or unknown one that
is present, or a port/queue/image kind that differs from the manifest.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tempfile
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path

import yaml

from scripts.manifest.model import Manifest

Check = Callable[[Manifest, Path], list[str]]
ROLES = ("api", "worker", "migrate")


def _compare(place: str, expected: Iterable[str], found: Iterable[str], what: str) -> list[str]:
    expected, found = set(expected), set(found)
    problems = [f"{place}: service {s!r} is missing ({what})" for s in sorted(expected - found)]
    problems += [
        f"{place}: service {s!r} is not a built service of services.yaml ({what})"
        for s in sorted(found - expected)
    ]
    return problems


def _compose(path: str) -> Check:
    def check(manifest: Manifest, root: Path) -> list[str]:
        doc = yaml.safe_load((root / path).read_text())
        services = doc.get("services", {})
        problems = []
        for role in ROLES:
            found = [n.removesuffix(f"-{role}") for n in services if n.endswith(f"-{role}")]
            problems += _compare(
                path, [s.name for s in manifest.built()], found, f"{role} container"
            )
        gateway = services.get("gateway", {})
        upstreams = [
            k.removesuffix("_UPSTREAM").lower()
            for k in gateway.get("environment", {})
            if k.endswith("_UPSTREAM")
        ]
        problems += _compare(
            path, [s.name for s in manifest.built()], upstreams, "gateway <SVC>_UPSTREAM"
        )
        for s in manifest.built():
            api, worker = services.get(f"{s.name}-api"), services.get(f"{s.name}-worker")
            if api:
                command = " ".join(map(str, api.get("command", [])))
                if f"--port={s.port}" not in command and f"--port {s.port}" not in command:
                    problems.append(f"{path}: service {s.name!r}: API does not listen on {s.port}")
                base = str(api.get("build", {}).get("args", {}).get("BASE_IMAGE", ""))
                if base and f"trading-optimization-{s.image}:" not in base:
                    problems.append(
                        f"{path}: service {s.name!r}: image builds on {base}, "
                        f"manifest says {s.image}"
                    )
            if worker and s.worker:
                command = " ".join(map(str, worker.get("command", [])))
                if f"-Q {s.worker_queues}" not in command:
                    problems.append(
                        f"{path}: service {s.name!r}: worker does not consume {s.worker_queues}"
                    )
                if f"--concurrency={s.worker.concurrency}" not in command:
                    problems.append(
                        f"{path}: service {s.name!r}: worker concurrency is not "
                        f"{s.worker.concurrency}"
                    )
        return problems

    return check


def check_gateway_map(manifest: Manifest, root: Path) -> list[str]:
    """The nginx resource map routes exactly the built services' resources to their upstream."""
    place = "docker/nginx/templates/gateway.conf.template"
    text = (root / place).read_text()
    routed = {
        svc.lower(): regex
        for regex, svc in re.findall(r'"(~[^"]+)"\s+"\$\{(\w+)_UPSTREAM\}"', text)
    }
    problems = _compare(place, [s.name for s in manifest.built()], routed, "gateway resource map")
    planned = {svc: regex for regex, svc in re.findall(r'"(~[^"]+)"\s+"([a-z]+)";', text)}
    problems += [
        f"{place}: service {s.name!r} is planned but its resources have no 503 answer"
        for s in manifest.planned()
        if s.name not in planned
    ]
    for s in manifest.built():
        for resource in s.gateway:
            if s.name in routed and not re.search(routed[s.name][1:], f"/api/v1/{resource}"):
                problems.append(
                    f"{place}: service {s.name!r}: resource {resource!r} is not routed to it"
                )
    return problems


def check_k8s(manifest: Manifest, root: Path) -> list[str]:
    """Each overlay deploys exactly the built services; each has its k8s/services folder; KEDA
    scales each worker.
    """
    problems = []
    for overlay in ("dev", "prod"):
        place = f"k8s/overlays/{overlay}/kustomization.yaml"
        doc = yaml.safe_load((root / place).read_text())
        found = [
            r.rsplit("/", 1)[-1]
            for r in doc.get("resources", [])
            if r.startswith("../../services/")
        ]
        problems += _compare(
            place, [s.name for s in manifest.built()], found, "kustomization resources"
        )
    folder = root / "k8s" / "services"
    found = (
        [p.name for p in folder.iterdir() if (p / "kustomization.yaml").is_file()]
        if folder.is_dir()
        else []
    )
    problems += _compare(
        "k8s/services/", [s.name for s in manifest.built()], found, "kustomization folder"
    )
    place = "k8s/components/keda/scaledobject.yaml"
    scaled = [
        d["metadata"]["name"].removesuffix("-worker")
        for d in yaml.safe_load_all((root / place).read_text())
        if d
    ]
    problems += _compare(place, [s.name for s in manifest.built()], scaled, "worker ScaledObject")
    return problems


def check_prometheus(manifest: Manifest, root: Path) -> list[str]:
    """Prometheus scrapes every built service's API and worker, and nothing else of ours."""
    place = "monitoring/prometheus/prometheus.yml"
    doc = yaml.safe_load((root / place).read_text())
    jobs = {j["job_name"]: j for j in doc.get("scrape_configs", [])}
    problems = []
    for role in ("api", "worker"):
        job = jobs.get(f"tradeopt-{role}", {})
        names = [n for sd in job.get("dns_sd_configs", []) for n in sd.get("names", [])]
        found = [n.removesuffix(f"-{role}") for n in names]
        problems += _compare(
            place, [s.name for s in manifest.built()], found, f"scrape job tradeopt-{role}"
        )
        if role == "api":
            for sd in job.get("dns_sd_configs", []):
                for name in sd.get("names", []):
                    svc = name.removesuffix("-api")
                    ports = {s.name: s.port for s in manifest.services}
                    if svc in ports and sd.get("port") != ports[svc]:
                        problems.append(
                            f"{place}: service {svc!r}: scraped on {sd.get('port')}, "
                            f"API port is {ports[svc]}"
                        )
    return problems


def _make_vars(text: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:?=\s*(.*)$", text, re.M))


def check_make(manifest: Manifest, root: Path) -> list[str]:
    """mk/services.mk lists the built services; the Makefile and images.mk take them from it."""
    place = "mk/services.mk"
    problems = []
    values = _make_vars((root / place).read_text()) if (root / place).is_file() else {}
    built = [s.name for s in manifest.built()]
    problems += _compare(
        f"{place} (images.mk)", built, values.get("SERVICES", "").split(), "SERVICES"
    )
    problems += _compare(
        f"{place} (Makefile)",
        built,
        [
            p.removeprefix("services/")
            for p in values.get("SERVICE_PACKAGES", "").split()
            if p != "-e"
        ],
        "SERVICE_PACKAGES",
    )
    compute = [s.name for s in manifest.built() if s.image == "compute"]
    problems += _compare(
        f"{place} (images.mk)",
        compute,
        values.get("COMPUTE_SERVICES", "").split(),
        "COMPUTE_SERVICES",
    )
    makefile = (root / "Makefile").read_text()
    for needle in ("include mk/services.mk", "$(SERVICE_PACKAGES)", "$(SERVICE_PYPROJECTS)"):
        if needle not in makefile:
            problems.append(
                f"Makefile: does not use {needle} (the services come from services.yaml)"
            )
    images = (root / "docker" / "images.mk").read_text()
    if "IMAGE_SERVICES ?= $(SERVICES)" not in images:
        problems.append("docker/images.mk: IMAGE_SERVICES is not $(SERVICES) from mk/services.mk")
    hard = [s.name for s in manifest.services if re.search(rf"\bservices/{s.name}\b", makefile)]
    problems += [f"Makefile: service {s!r} is listed by hand" for s in hard]
    return problems


def check_pyproject(manifest: Manifest, root: Path) -> list[str]:
    """Ruff's known-first-party names every built service's package."""
    place = "pyproject.toml"
    doc = tomllib.loads((root / place).read_text())
    names = doc["tool"]["ruff"]["lint"]["isort"]["known-first-party"]
    found = [n.removeprefix("tradeopt_") for n in names if n.startswith("tradeopt_")]
    found = [n for n in found if n not in {"common", "ml", "cli"}]
    return _compare(place, [s.name for s in manifest.built()], found, "ruff known-first-party")


def check_fleet(manifest: Manifest, root: Path) -> list[str]:
    """The local fleet (the tree's fleetctl.py, as fleet.sh runs it) renders one API and one
    worker program per built service, on the manifest's port and queues.
    """
    place = "scripts/fleet/fleetctl.py"
    spec = importlib.util.spec_from_file_location("_fleetctl_under_check", root / place)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    saved = dict(os.environ)
    try:
        spec.loader.exec_module(module)
        module.REPO = root
        with tempfile.TemporaryDirectory() as run_dir:
            for key in [k for k in os.environ if k.endswith(("_PORT", "_UPSTREAM"))]:
                del os.environ[key]
            os.environ.update(S3_DATA_DIR=run_dir, TRADING_OPT_WORKER_SOFT_SHUTDOWN_SECONDS="60")
            conf = module.supervisord_conf(Path(run_dir), False, "nginx")
            values = module.gateway_values()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    programs = re.findall(r"^\[program:([\w-]+)\]\ncommand=(.*)$", conf, re.M)
    problems = []
    for role in ("api", "worker"):
        found = [n.removesuffix(f"-{role}") for n, _ in programs if n.endswith(f"-{role}")]
        problems += _compare(
            place, [s.name for s in manifest.built()], found, f"supervisord {role} program"
        )
    commands = dict(programs)
    for s in manifest.built():
        api, worker = commands.get(f"{s.name}-api", ""), commands.get(f"{s.name}-worker", "")
        if api and not api.endswith(f"--port {s.port}"):
            problems.append(f"{place}: service {s.name!r}: API not on port {s.port}")
        if worker and f"-Q {s.worker_queues}" not in worker:
            problems.append(
                f"{place}: service {s.name!r}: worker does not consume {s.worker_queues}"
            )
    upstreams = [k.removesuffix("_UPSTREAM").lower() for k in values if k.endswith("_UPSTREAM")]
    problems += _compare(place, [s.name for s in manifest.built()], upstreams, "gateway upstream")
    return problems


CHECKS: dict[str, Check] = {
    "compose (dev)": _compose("docker-compose.yml"),
    "compose (prod)": _compose("docker-compose.prod.yml"),
    "gateway": check_gateway_map,
    "k8s": check_k8s,
    "prometheus": check_prometheus,
    "make": check_make,
    "pyproject": check_pyproject,
    "fleet": check_fleet,
}


def run_checks(manifest: Manifest, root: Path) -> list[str]:
    """Every problem of every place (a place whose file is missing is one problem)."""
    problems: list[str] = []
    for name, check in CHECKS.items():
        try:
            problems += check(manifest, root)
        except (OSError, KeyError, TypeError, AttributeError, yaml.YAMLError) as exc:
            problems.append(f"{name}: cannot be checked: {type(exc).__name__}: {exc}")
    return problems
