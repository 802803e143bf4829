"""Generate every file (or region of a file) that repeats the service list, from services.yaml.

    python -m scripts.manifest.generate            # rewrite (make generate)
    python -m scripts.manifest.generate --check    # fail if anything is stale or disagrees
    python -m scripts.manifest.generate --check --root DIR   # the same on a copy of the tree

Two kinds of output:

* whole files (``k8s/services/<svc>/kustomization.yaml``, ``mk/services.mk``), starting with a
  "generated from services.yaml — do not edit" header;
* regions inside hand-written files, between ``# BEGIN generated from services.yaml: <name>``
  and ``# END generated from services.yaml: <name>`` lines (the gateway's resource map, the
  Prometheus scrape jobs, ruff's first-party list, the k8s overlays' service list, ...).

``--check`` also runs the semantic checks of :mod:`scripts.manifest.checks` on the places that
are checked rather than generated (compose files, the fleet, KEDA, ...). Every problem names the
service and the place.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from scripts.manifest.model import ROOT, Manifest, ManifestError, Service, load

HEADER = "generated from services.yaml by `make generate` — do not edit"
BEGIN = "# BEGIN generated from services.yaml: {name} (make generate; do not edit)"
END = "# END generated from services.yaml: {name}"
NAMESPACE = "trading-optimization"
K8S_SERVICES = "k8s/services"
WORKER_METRICS_PORT = 9808


@dataclass(frozen=True)
class Region:
    """A generated region of a hand-written file."""

    path: str
    name: str
    render: Callable[[Manifest], list[str]]


# --- whole files -------------------------------------------------------------------------------


def k8s_service(service: Service) -> str:
    """k8s/services/<svc>/kustomization.yaml: the per-kind bases, patched for one service."""
    api, worker = service.api, service.worker
    assert api is not None
    assert worker is not None
    name = service.name
    selector = "/spec/template/spec/topologySpreadConstraints/0/labelSelector/matchLabels"
    api_ops = [
        {
            "op": "replace",
            "path": "/spec/template/metadata/annotations/prometheus.io~1port",
            "value": str(service.port),
        },
        {"op": "add", "path": f"{selector}/app.kubernetes.io~1name", "value": name},
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/args",
            "value": service.api_argv(),
        },
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/ports/0/containerPort",
            "value": service.port,
        },
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/startupProbe/failureThreshold",
            "value": api.startup_seconds // 2,  # periodSeconds: 2
        },
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/resources",
            "value": api.resources.model_dump(),
        },
    ]
    api_ops += [
        {
            "op": "add",
            "path": "/spec/template/spec/containers/0/env",
            "value": [{"name": k, "value": v} for k, v in api.env.items()],
        }
    ] * bool(api.env)
    ping = (
        f'celery -A {service.package}.worker:celery_app inspect ping -d "celery@$HOSTNAME" '
        "--timeout 10"
    )
    env = "/spec/template/spec/containers/0/env"
    worker_ops = [
        {"op": "add", "path": f"{selector}/app.kubernetes.io~1name", "value": name},
        {
            "op": "replace",
            "path": "/spec/template/spec/terminationGracePeriodSeconds",
            "value": worker.grace_seconds,
        },
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/args",
            "value": service.worker_argv(),
        },
        {
            "op": "test",
            "path": f"{env}/2/name",
            "value": "TRADING_OPT_WORKER_SOFT_SHUTDOWN_SECONDS",
        },
        {"op": "replace", "path": f"{env}/2/value", "value": str(worker.soft_shutdown_seconds)},
        *[
            {"op": "add", "path": f"{env}/-", "value": {"name": k, "value": v}}
            for k, v in worker.env.items()
        ],
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/livenessProbe/exec/command",
            "value": ["sh", "-c", ping],
        },
        {
            "op": "replace",
            "path": "/spec/template/spec/containers/0/resources",
            "value": worker.resources.model_dump(),
        },
        {"op": "test", "path": "/spec/template/spec/volumes/0/name", "value": "tmp"},
        {
            "op": "replace",
            "path": "/spec/template/spec/volumes/0/emptyDir/sizeLimit",
            "value": worker.tmp_size,
        },
    ]
    hpa_ops = [
        {"op": "replace", "path": "/spec/maxReplicas", "value": worker.max_replicas},
        {
            "op": "replace",
            "path": "/spec/behavior/scaleDown/stabilizationWindowSeconds",
            "value": worker.scale_in.stabilization_seconds,
        },
        {
            "op": "replace",
            "path": "/spec/behavior/scaleDown/policies/0/periodSeconds",
            "value": worker.scale_in.period_seconds,
        },
    ]
    service_ops = [{"op": "replace", "path": "/spec/ports/0/port", "value": service.port}]

    def patch(kind: str, target: str, ops: list[dict[str, object]]) -> list[str]:
        lines = [f"  - target: {{kind: {kind}, name: {target}}}", "    patch: |-"]
        body = yaml.safe_dump(ops, default_flow_style=None, sort_keys=False, width=90)
        lines += [f"      {line}" for line in body.splitlines()]
        return lines

    out = [
        f"# {HEADER}.",
        f"# The {name} service ({service.image} image): API on :{service.port}, worker on",
        f"# {service.worker_queues}, autoscaling, disruption budgets and the migration Job,",
        "# from the per-kind bases in ../../bases (names get the prefix, objects the",
        "# app.kubernetes.io/name label).",
        "apiVersion: kustomize.config.k8s.io/v1beta1",
        "kind: Kustomization",
        f"namespace: {NAMESPACE}",
        f"namePrefix: {name}-",
        "resources:",
        "  - ../../bases/api",
        "  - ../../bases/worker",
        "  - ../../bases/migrate",
        "labels:",
        f"  - pairs: {{app.kubernetes.io/name: {name}}}",
        "    includeSelectors: true",
        "    includeTemplates: true",
        "images:",
        f"  - {{name: trading-optimization-service, newName: {service.image_name}, newTag: dev}}",
        "patches:",
        *patch("Deployment", "api", api_ops),
        *patch("Service", "api", service_ops),
        *patch("Deployment", "worker", worker_ops),
        *patch("HorizontalPodAutoscaler", "worker", hpa_ops),
    ]
    return "\n".join(out) + "\n"


def services_mk(manifest: Manifest) -> str:
    """mk/services.mk: the service lists make needs (Makefile and docker/images.mk include it)."""
    built = manifest.built()
    lines = [
        f"# {HEADER}.",
        "# Included by the Makefile and docker/images.mk.",
        "",
        "# Built services (their folders exist), in manifest order.",
        f"SERVICES := {' '.join(s.name for s in built)}",
        "# Planned services (DESIGN §1; not built, nothing runs them).",
        f"PLANNED_SERVICES := {' '.join(s.name for s in manifest.planned())}",
        "# Built services whose image builds on trading-optimization-compute (torch).",
        f"COMPUTE_SERVICES := {' '.join(s.name for s in built if s.image == 'compute')}",
        "# Editable installs of the services and the pyproject.toml files they come from.",
        f"SERVICE_PACKAGES := {' '.join(f'-e {s.path}' for s in built)}",
        f"SERVICE_PYPROJECTS := {' '.join(f'{s.path}/pyproject.toml' for s in built)}",
        "# API port of each built service.",
        *[f"SERVICE_PORT_{s.name} := {s.port}" for s in built],
    ]
    return "\n".join(lines) + "\n"


def whole_files(manifest: Manifest) -> dict[str, str]:
    """Relative path -> content of every wholly generated file."""
    files = {"mk/services.mk": services_mk(manifest)}
    for service in manifest.built():
        files[f"{K8S_SERVICES}/{service.name}/kustomization.yaml"] = k8s_service(service)
    return files


# --- regions -----------------------------------------------------------------------------------


def _alternation(resources: list[str]) -> str:
    return resources[0] if len(resources) == 1 else f"({'|'.join(resources)})"


def gateway_map(manifest: Manifest) -> list[str]:
    """The nginx resource map: built services' resources -> their upstream; planned ones -> ''
    (and ``$tradeopt_not_deployed`` names their service, answered with a 503).
    """
    lines = ["map $uri $tradeopt_upstream {", '    default "";']
    width = max(len(f'"~^/api/v1/{_alternation(s.gateway)}(/|$)"') for s in manifest.services)
    for s in manifest.built():
        pattern = f'"~^/api/v1/{_alternation(s.gateway)}(/|$)"'
        lines.append(f'    {pattern.ljust(width)}  "${{{s.upper}_UPSTREAM}}";')
    lines.append("}")
    lines.append("")
    lines.append(
        "# Resources of planned services (not built): a 503 problem+json names the service."
    )
    lines.append("map $uri $tradeopt_not_deployed {")
    lines.append('    default "";')
    for s in manifest.planned():
        pattern = f'"~^/api/v1/{_alternation(s.gateway)}(/|$)"'
        lines.append(f'    {pattern.ljust(width)}  "{s.name}";')
    lines.append("}")
    return lines


def gateway_not_deployed(manifest: Manifest) -> list[str]:
    """One internal location per planned service: its 503 problem document."""
    lines: list[str] = []
    for s in manifest.planned():
        detail = (
            f"the {s.name} service ({', '.join('/api/v1/' + r for r in s.gateway)}) is planned "
            "and not deployed yet"
        )
        lines += [
            f"location = /_gateway/not-deployed/{s.name} {{",
            "    internal;",
            "    types { }",
            "    default_type application/problem+json;",
            "    add_header X-Request-ID $tradeopt_request_id always;",
            "    add_header X-Content-Type-Options nosniff always;",
            '    return 503 \'{"type":"https://tradeopt.dev/problems/service-not-deployed",'
            f'"title":"Service not deployed","status":503,"detail":"{detail}",'
            f'"service":"{s.name}","request_id":"$tradeopt_request_id"}}\\n\';',
            "}",
        ]
    return lines


def prometheus_jobs(manifest: Manifest) -> list[str]:
    """The scrape jobs of every built service's API and worker (compose DNS names)."""
    lines = [
        "# Every API replica (DNS A records; deploy.replicas > 1 gives several).",
        "- job_name: tradeopt-api",
        "  metrics_path: /metrics",
        "  dns_sd_configs:",
    ]
    for s in manifest.built():
        lines += [
            f"    - names: [{s.name}-api]",
            "      type: A",
            f"      port: {s.port}",
            "      refresh_interval: 30s",
        ]
    lines += [
        "  relabel_configs:",
        "    - source_labels: [__meta_dns_name]",
        '      regex: "(.+)-api"',
        "      target_label: service",
        "    - target_label: component",
        "      replacement: api",
        "",
        f"# Celery workers export on TRADING_OPT_WORKER_METRICS_PORT ({WORKER_METRICS_PORT}).",
        "- job_name: tradeopt-worker",
        "  metrics_path: /metrics",
        "  dns_sd_configs:",
        f"    - names: [{', '.join(f'{s.name}-worker' for s in manifest.built())}]",
        "      type: A",
        f"      port: {WORKER_METRICS_PORT}",
        "      refresh_interval: 30s",
        "  relabel_configs:",
        "    - source_labels: [__meta_dns_name]",
        '      regex: "(.+)-worker"',
        "      target_label: service",
        "    - target_label: component",
        "      replacement: worker",
    ]
    return lines


def first_party(manifest: Manifest) -> list[str]:
    """Ruff's known-first-party: the libraries, the built services' packages and the CLI."""
    names = ["tradeopt_common", "tradeopt_ml", *(s.package for s in manifest.built())]
    names += ["tradeopt_cli", "scripts"]
    return [f"known-first-party = {json.dumps(names)}"]


#: A service's modules nothing outside the service imports; its public ones are ``service``,
#: ``schemas``, ``config``, ``errors`` and ``jobs`` (the CLI runs jobs in-process through them).
PRIVATE_MODULES = ("app", "deps", "models", "repository", "routes", "tasks", "worker")


def import_contracts(manifest: Manifest) -> list[str]:
    """The service-dependent import-linter contracts: root packages, the layers (every built
    service one independent layer), no torch in base-image services, the CLI through public
    modules only.
    """
    built = [s.package for s in manifest.built()]
    base = [s.package for s in manifest.built() if s.image == "base"]
    lines = ["[importlinter]", "root_packages ="]
    lines += [f"    {p}" for p in ["tradeopt_common", "tradeopt_ml", "tradeopt_cli", *built]]
    lines += ["include_external_packages = True", "exclude_type_checking_imports = True", ""]
    lines += [
        "[importlinter:contract:layers]",
        "name = CLI over services over libraries; services never import each other",
        "type = layers",
        "layers =",
        "    tradeopt_cli",
        f"    {' | '.join(built)}",
        "    tradeopt_common",
        "    tradeopt_ml",
        "",
        "[importlinter:contract:base-image-services]",
        "name = services built on the base image (no torch) import no torch or stable-baselines3",
        "type = forbidden",
        "source_modules =",
        *(f"    {p}" for p in base),
        "forbidden_modules =",
        "    torch",
        "    stable_baselines3",
        "    optuna",
        "",
        "[importlinter:contract:cli-through-public-modules]",
        "name = the CLI uses a service only through its public modules (service, schemas, config,"
        " jobs)",
        "type = forbidden",
        "source_modules =",
        "    tradeopt_cli",
        "forbidden_modules =",
        *(f"    {p}.{m}" for p in built for m in PRIVATE_MODULES),
        "allow_indirect_imports = True",
    ]
    return lines


def k8s_config_urls(manifest: Manifest) -> list[str]:
    """TRADING_OPT_<SVC>_URL of every built service in the base ConfigMap."""
    return [f"- TRADING_OPT_{s.upper}_URL=http://{s.name}-api:{s.port}" for s in manifest.built()]


def k8s_gateway_env(manifest: Manifest) -> list[str]:
    """The gateway Deployment's upstreams (fully qualified: nginx ignores the search path)."""
    return [
        f"- {{name: {s.upper}_UPSTREAM, "
        f"value: {s.name}-api.{NAMESPACE}.svc.cluster.local:{s.port}}}"
        for s in manifest.built()
    ]


def k8s_overlay_resources(manifest: Manifest) -> list[str]:
    """The built services in an overlay's resources."""
    return [f"- ../../{K8S_SERVICES.removeprefix('k8s/')}/{s.name}" for s in manifest.built()]


def dockerfile_upstreams(manifest: Manifest) -> list[str]:
    """The gateway image's default upstreams (compose service names)."""
    return [f"ENV {s.upper}_UPSTREAM={s.name}-api:{s.port}" for s in manifest.built()]


ABSENT_ROLES = ("api", "worker")


def absent_alert(manifest: Manifest) -> list[str]:
    """The TradeoptServiceAbsent rule: one ``absent(up{...})`` per built service and role (a
    service with no target at all has no ``up`` series to be 0).
    """
    terms = [
        f'absent(up{{service="{s.name}", component="{role}"}})'
        for s in manifest.built()
        for role in ABSENT_ROLES
    ]
    return [
        "- alert: TradeoptServiceAbsent",
        "  expr: |",
        *[f"    {'or ' if i else ''}{term}" for i, term in enumerate(terms)],
        "  for: 5m",
        "  labels:",
        "    severity: critical",
        "  annotations:",
        '    summary: "{{ $labels.service }} {{ $labels.component }}: no target to scrape"',
        '    description: "Prometheus has found no {{ $labels.service }} {{ $labels.component }} '
        'instance for 5 minutes: nothing is running or discovery fails."',
    ]


def keda_hpa_deletes(manifest: Manifest) -> list[str]:
    """The KEDA component removes each built service's worker HPA (KEDA brings its own)."""
    lines = []
    for s in manifest.built():
        lines += [
            f"- target: {{kind: HorizontalPodAutoscaler, name: {s.name}-worker}}",
            "  patch: |-",
            "    $patch: delete",
            "    apiVersion: autoscaling/v2",
            "    kind: HorizontalPodAutoscaler",
            "    metadata:",
            f"      name: {s.name}-worker",
        ]
    return lines


REGIONS = [
    Region("docker/nginx/templates/gateway.conf.template", "resource map", gateway_map),
    Region("docker/nginx/templates/gateway.conf.template", "not deployed", gateway_not_deployed),
    Region("docker/gateway.Dockerfile", "upstreams", dockerfile_upstreams),
    Region("monitoring/prometheus/prometheus.yml", "scrape jobs", prometheus_jobs),
    Region("pyproject.toml", "first-party", first_party),
    Region(".importlinter", "service contracts", import_contracts),
    Region("k8s/base/kustomization.yaml", "service urls", k8s_config_urls),
    Region("k8s/gateway/deployment.yaml", "upstreams", k8s_gateway_env),
    Region("k8s/overlays/dev/kustomization.yaml", "services", k8s_overlay_resources),
    Region("k8s/overlays/prod/kustomization.yaml", "services", k8s_overlay_resources),
    Region("k8s/components/keda/kustomization.yaml", "worker HPAs", keda_hpa_deletes),
    Region("monitoring/prometheus/rules/tradeopt.yml", "absent alert", absent_alert),
]
#: The PrometheusRule of k8s/components/monitoring: monitoring/prometheus/rules/*.yml (some with
#: generated regions) as one object, rendered by monitoring/render_prometheusrule.py.
PROMETHEUS_RULE = "k8s/components/monitoring/prometheusrule.yaml"
RULES_DIR = "monitoring/prometheus/rules"


def prometheus_rule(root: Path, expected: dict[str, str]) -> str:
    """The PrometheusRule file from the rule files as they are after generation."""
    spec = importlib.util.spec_from_file_location(
        "_render_prometheusrule", root / "monitoring" / "render_prometheusrule.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    texts = []
    for path in sorted((root / RULES_DIR).glob("*.yml")):
        rel = str(path.relative_to(root))
        texts.append(expected[rel] if rel in expected else path.read_text())
    return str(module.text(module.render(texts)))


def replace_region(text: str, path: str, name: str, body: list[str]) -> str:
    """``text`` with the region ``name`` replaced by ``body`` (indented like its BEGIN line)."""
    begin = re.escape(BEGIN.format(name=name))
    end = re.escape(END.format(name=name))
    pattern = re.compile(rf"^([ \t]*){begin}\n.*?^[ \t]*{end}$", re.S | re.M)
    found = pattern.findall(text)
    if len(found) != 1:
        raise ManifestError(
            f"{path}: expected one region `{BEGIN.format(name=name)}` ... "
            f"`{END.format(name=name)}`, found {len(found)}"
        )

    def sub(match: re.Match[str]) -> str:
        indent = match.group(1)
        lines = [indent + BEGIN.format(name=name)]
        lines += [indent + line if line else "" for line in body]
        lines.append(indent + END.format(name=name))
        return "\n".join(lines)

    return pattern.sub(sub, text)


def render_tree(manifest: Manifest, root: Path) -> dict[str, str]:
    """Relative path -> expected content of every generated file (whole or with regions)."""
    expected = whole_files(manifest)
    for region in REGIONS:
        current = expected.get(region.path)
        if current is None:
            current = (root / region.path).read_text()
        expected[region.path] = replace_region(
            current, region.path, region.name, region.render(manifest)
        )
    expected[PROMETHEUS_RULE] = prometheus_rule(root, expected)
    return expected


def stale_service_dirs(manifest: Manifest, root: Path) -> list[Path]:
    """k8s/services/<x> folders of services that are not built (or not in the manifest)."""
    folder = root / K8S_SERVICES
    built = {s.name for s in manifest.built()}
    return (
        sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in built)
        if folder.is_dir()
        else []
    )


def generate(root: Path = ROOT) -> list[str]:
    """Rewrite every generated file under ``root``; returns the paths that changed."""
    manifest = load(root)
    changed = []
    for rel, content in render_tree(manifest, root).items():
        path = root / rel
        if not path.exists() or path.read_text() != content:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
            changed.append(rel)
    for stale in stale_service_dirs(manifest, root):
        shutil.rmtree(stale)
        changed.append(str(stale.relative_to(root)))
    return changed


def check(root: Path = ROOT) -> list[str]:
    """Every problem: semantic disagreements (naming service and place), then stale files."""
    from scripts.manifest.checks import run_checks

    manifest = load(root)
    problems = run_checks(manifest, root)
    for rel, content in render_tree(manifest, root).items():
        path = root / rel
        if not path.exists():
            problems.append(f"{rel}: missing generated file (run `make generate`)")
        elif path.read_text() != content:
            problems.append(f"{rel}: stale generated content (run `make generate`)")
    for stale in stale_service_dirs(manifest, root):
        problems.append(
            f"{stale.relative_to(root)}: service {stale.name!r} is not built in services.yaml "
            "(run `make generate`)"
        )
    return problems


def main(argv: list[str] | None = None) -> int:
    """Command line: generate, or ``--check``."""
    parser = argparse.ArgumentParser(prog="python -m scripts.manifest.generate")
    parser.add_argument("--check", action="store_true", help="fail if anything is stale")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    try:
        if args.check:
            problems = check(root)
            for problem in problems:
                print(f"manifest: {problem}", file=sys.stderr)
            if problems:
                print(f"manifest: {len(problems)} problem(s); see services.yaml", file=sys.stderr)
                return 1
            print("manifest: every generated and checked place agrees with services.yaml")
            return 0
        for rel in generate(root):
            print(f"generated {rel}")
    except ManifestError as exc:
        print(f"manifest: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
