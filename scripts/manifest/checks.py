"""Semantic checks: every place that lists the services agrees with services.yaml.

Each check reads one place the way its consumer does (compose service names, the nginx map's
upstream variables, the overlays' resources, the rendered supervisord programs, ...) and reports
``<place>: <service>: <problem>``: a built service that is missing, a planned or unknown one that
is present, or a port/queue/image kind that differs from the manifest.
"""

from __future__ import annotations

import configparser
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


def _compare_roles(
    place: str, manifest: Manifest, found: Iterable[tuple[str, str]], what: Callable[[str], str]
) -> list[str]:
    """:func:`_compare` of the built services with the ``(service, role)`` pairs found, for the
    API and the worker; ``what(role)`` names what was looked for (e.g. ``"{} container".format``).
    """
    found = list(found)
    problems = []
    for role in ("api", "worker"):
        services = [svc for svc, r in found if r == role]
        problems += _compare(place, [s.name for s in manifest.built()], services, what(role))
    return problems


#: Gateway upstreams of fleet components that are not services of the manifest (DESIGN §1:
#: optuna-dashboard at /optuna/, run from the tuning image); checked by tests/deploy.
COMPONENT_UPSTREAMS = frozenset({"OPTUNA_DASHBOARD_UPSTREAM", "TENSORBOARD_UPSTREAM"})


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
            if k.endswith("_UPSTREAM") and k not in COMPONENT_UPSTREAMS
        ]
        problems += _compare(
            path, [s.name for s in manifest.built()], upstreams, "gateway <SVC>_UPSTREAM"
        )
        for s in manifest.built():
            api, worker = services.get(f"{s.name}-api"), services.get(f"{s.name}-worker")
            if api:
                urls = {
                    k.removeprefix("TRADING_OPT_").removesuffix("_URL").lower(): str(v)
                    for k, v in (api.get("environment") or {}).items()
                    if k.startswith("TRADING_OPT_") and k.endswith("_URL")
                }
                problems += _compare(
                    path,
                    [x.name for x in manifest.built()],
                    urls,
                    f"TRADING_OPT_<SVC>_URL of {s.name}-api",
                )
                problems += [
                    f"{path}: service {x.name!r}: TRADING_OPT_{x.upper}_URL is {urls[x.name]}, "
                    f"expected http://{x.name}-api:{x.port}"
                    for x in manifest.built()
                    if x.name in urls and urls[x.name] != f"http://{x.name}-api:{x.port}"
                ]
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


#: Images of ours that are not services: the gateway (nginx + dashboard) and the CLI.
OTHER_IMAGES = {"gateway", "cli"}
SERVICE_OBJECT = re.compile(r"^([a-z][a-z0-9]*)-(api|worker|migrate)$")


def _image_service(name: str) -> str | None:
    """``training`` for ``trading-optimization-training`` (and its ``-cu128`` variant); None for
    the gateway/CLI images and for images not of ours.
    """
    if not name.startswith("trading-optimization-"):
        return None
    rest = name.removeprefix("trading-optimization-")
    return None if rest in OTHER_IMAGES else rest.split("-")[0]


def _patch_targets(doc: dict) -> list[tuple[str, str]]:
    """(kind, name) of every patch target of a kustomization that names one object."""
    found = []
    for patch in doc.get("patches") or []:
        target = patch.get("target") or {}
        if target.get("name"):
            found.append((str(target.get("kind", "")), str(target["name"])))
    return found


def check_k8s_overlays(manifest: Manifest, root: Path) -> list[str]:
    """Each overlay pins an image of every built service (and none of another); prod sizes the
    API and worker autoscalers of every built service; no kustomization of k8s/ patches an
    object of a service that is not built (kustomize ignores a patch that matches nothing).
    """
    problems = []
    built = [s.name for s in manifest.built()]
    for overlay in ("dev", "prod"):
        place = f"k8s/overlays/{overlay}/kustomization.yaml"
        doc = yaml.safe_load((root / place).read_text())
        images = doc.get("images") or []
        named = {str(i["name"]): _image_service(str(i["name"])) for i in images if i.get("name")}
        # The service's own image (trading-optimization-<svc>), exactly; variants (…-cu128)
        # only of built services.
        own = [s for n, s in named.items() if s and n == f"trading-optimization-{s}"]
        problems += _compare(place, built, own, "images: entry")
        problems += [
            f"{place}: service {s!r} is not a built service of services.yaml (image {n})"
            for n, s in named.items()
            if s and s not in built and n != f"trading-optimization-{s}"
        ]
        for image in images:
            service = named.get(str(image.get("name")))
            new_name = str(image.get("newName", ""))
            if (
                service in built
                and new_name
                and not new_name.endswith(f"trading-optimization-{service}")
            ):
                problems.append(
                    f"{place}: service {service!r}: image {image['name']} is pinned to "
                    f"{new_name}, not to its own trading-optimization-{service}"
                )
    place = "k8s/overlays/prod/kustomization.yaml"
    doc = yaml.safe_load((root / place).read_text())
    sizes: dict[str, dict[str, int]] = {}
    for patch in doc.get("patches") or []:
        target = patch.get("target") or {}
        if target.get("kind") != "HorizontalPodAutoscaler" or not target.get("name"):
            continue
        for op in yaml.safe_load(str(patch.get("patch", ""))) or []:
            if isinstance(op, dict) and op.get("path") in (
                "/spec/minReplicas",
                "/spec/maxReplicas",
            ):
                sizes.setdefault(str(target["name"]), {})[op["path"].rsplit("/", 1)[1]] = op[
                    "value"
                ]
    for role in ("api", "worker"):
        found = [
            n.removesuffix(f"-{role}")
            for n, size in sizes.items()
            if n.endswith(f"-{role}") and {"minReplicas", "maxReplicas"} <= set(size)
        ]
        problems += _compare(place, built, found, f"{role} HPA minReplicas/maxReplicas patch")
    for name, size in sizes.items():
        low, high = size.get("minReplicas"), size.get("maxReplicas")
        if isinstance(low, int) and isinstance(high, int) and low > high:
            match = SERVICE_OBJECT.match(name)
            who = f"service {match[1]!r}: " if match else ""
            problems.append(f"{place}: {who}HPA {name}: minReplicas {low} > maxReplicas {high}")
    for path in sorted((root / "k8s").rglob("kustomization.yaml")):
        rel = str(path.relative_to(root))
        if rel.startswith("k8s/services/"):
            continue  # generated per built service
        doc = yaml.safe_load(path.read_text()) or {}
        for kind, name in _patch_targets(doc):
            match = SERVICE_OBJECT.match(name)
            if match and match[1] not in built:
                problems.append(
                    f"{rel}: service {match[1]!r} is not a built service of services.yaml "
                    f"(patch of {kind} {name})"
                )
    place = "k8s/components/keda/kustomization.yaml"
    doc = yaml.safe_load((root / place).read_text())
    deleted = [
        name.removesuffix("-worker")
        for kind, name in _patch_targets(doc)
        if kind == "HorizontalPodAutoscaler" and name.endswith("-worker")
    ]
    problems += _compare(place, built, deleted, "worker HPA removed for KEDA")
    return problems


ABSENT = re.compile(r'absent\(up\{service="([a-z0-9]+)", component="(api|worker)"\}\)')


def _absent_terms(place: str, groups: list[dict], manifest: Manifest) -> list[str]:
    exprs = [
        str(rule.get("expr", ""))
        for group in groups
        for rule in group.get("rules", [])
        if rule.get("alert") == "TradeoptServiceAbsent"
    ]
    if len(exprs) != 1:
        return [f"{place}: expected one TradeoptServiceAbsent alert, found {len(exprs)}"]
    return _compare_roles(
        place,
        manifest,
        ABSENT.findall(exprs[0]),
        "TradeoptServiceAbsent absent(up{{component={!r}}})".format,
    )


def check_alerts(manifest: Manifest, root: Path) -> list[str]:
    """TradeoptServiceAbsent watches each built service's API and worker, in the rules and in
    the k8s PrometheusRule; each promtool test of that alert gives every built service's API
    and worker an ``up`` series or expects the alert for it (else a new service is untested).
    """
    place = "monitoring/prometheus/rules/tradeopt.yml"
    problems = _absent_terms(place, yaml.safe_load((root / place).read_text())["groups"], manifest)
    place = "k8s/components/monitoring/prometheusrule.yaml"
    rule = yaml.safe_load((root / place).read_text())
    problems += _absent_terms(place, rule["spec"]["groups"], manifest)
    place = "monitoring/prometheus/tests/tradeopt_test.yml"
    doc = yaml.safe_load((root / place).read_text())
    up = re.compile(r'^up\{.*\bservice="([a-z0-9]+)", component="(api|worker)"')
    for test in doc.get("tests", []):
        checks = [
            c for c in test.get("alert_rule_test", []) if c["alertname"] == "TradeoptServiceAbsent"
        ]
        if not checks:
            continue
        covered = {m.groups() for s in test.get("input_series", []) if (m := up.match(s["series"]))}
        covered |= {
            (a["exp_labels"].get("service"), a["exp_labels"].get("component"))
            for c in checks
            for a in c.get("exp_alerts") or []
        }
        what = f"test {test.get('name')!r}: {{}} `up` series or expected alert"
        problems += _compare_roles(place, manifest, covered, what.format)
    return problems


MIGRATE_JOB = re.compile(r"\b([a-z][a-z0-9]*)-migrate\b")


def check_deploy_script(manifest: Manifest, root: Path) -> list[str]:
    """scripts/deploy.sh deletes the one-shot Jobs of the rendered manifest before applying it,
    never a list of migration Jobs by hand (a service missing from it would keep its finished
    Job: apply fails on the immutable Job template of the new version).
    """
    place = "scripts/deploy.sh"
    text = (root / place).read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    hand = sorted(set(MIGRATE_JOB.findall(code)))
    problems = []
    if hand:
        problems.append(
            f"{place}: lists migration Jobs by hand ({', '.join(f'{h}-migrate' for h in hand)}); "
            "delete the Jobs of the rendered manifest"
        )
        problems += _compare(
            place, [s.name for s in manifest.built()], hand, "<svc>-migrate Job deleted by hand"
        )
    elif 'doc.get("kind") == "Job"' not in code or "delete job" not in code:
        problems.append(f"{place}: does not delete the Jobs of the rendered manifest before apply")
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


def check_import_contracts(manifest: Manifest, root: Path) -> list[str]:
    """The import contracts know every built service: a root package and one independent layer."""
    place = ".importlinter"
    parser = configparser.ConfigParser()
    parser.read_string((root / place).read_text())

    def services(value: str) -> list[str]:
        names = [n.strip() for line in value.splitlines() for n in line.split("|")]
        found = [n.removeprefix("tradeopt_") for n in names if n.startswith("tradeopt_")]
        return [n for n in found if n not in {"common", "ml", "cli"}]

    built = [s.name for s in manifest.built()]
    problems = _compare(place, built, services(parser["importlinter"]["root_packages"]), "root")
    layers = parser["importlinter:contract:layers"]["layers"].strip().splitlines()
    service_layer = layers[1] if len(layers) > 1 else ""
    return problems + _compare(place, built, services(service_layer), "services layer")


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
    upstreams = [
        k.removesuffix("_UPSTREAM").lower()
        for k in values
        if k.endswith("_UPSTREAM") and k not in COMPONENT_UPSTREAMS
    ]
    problems += _compare(place, [s.name for s in manifest.built()], upstreams, "gateway upstream")
    return problems


CHECKS: dict[str, Check] = {
    "compose (dev)": _compose("docker-compose.yml"),
    "compose (prod)": _compose("docker-compose.prod.yml"),
    "gateway": check_gateway_map,
    "k8s": check_k8s,
    "k8s overlays": check_k8s_overlays,
    "alerts": check_alerts,
    "deploy": check_deploy_script,
    "prometheus": check_prometheus,
    "make": check_make,
    "pyproject": check_pyproject,
    "import contracts": check_import_contracts,
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
