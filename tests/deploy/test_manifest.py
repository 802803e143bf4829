"""services.yaml is the one list of services: every generated file is up to date, every checked
place agrees with it, and a copy of the tree with one built service deleted from any place fails
the check naming that service and that place."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from scripts.manifest.generate import check, generate
from scripts.manifest.model import ManifestError, load
from tests.deploy.support import MANIFEST, ROOT

pytestmark = pytest.mark.unit

#: What the checker needs of the tree (and what the broken copies break).
TREE = [
    "services.yaml",
    "Makefile",
    "pyproject.toml",
    ".importlinter",
    "docker-compose.yml",
    "docker-compose.prod.yml",
    "docker",
    "k8s",
    "mk",
    "monitoring/prometheus",
    "monitoring/render_prometheusrule.py",
    "scripts",
]
VICTIM = "training"  # a built service


def copy_tree(dest: Path) -> Path:
    """The parts of the repository the checker reads, plus each built service's pyproject."""
    for rel in TREE:
        src = ROOT / rel
        if src.is_dir():
            shutil.copytree(src, dest / rel, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    for service in MANIFEST.built():
        target = dest / service.path / "pyproject.toml"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / service.path / "pyproject.toml", target)
    return dest


def edit(path: Path, old: str, new: str = "") -> None:
    text = path.read_text()
    assert old in text, f"{path}: {old!r} not found (the breaker is stale)"
    path.write_text(text.replace(old, new))


def drop_line(path: Path, pattern: str) -> None:
    """Remove the one line matching ``pattern`` (whatever its alignment)."""
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not re.match(pattern, line.rstrip("\n"))]
    assert len(kept) == len(lines) - 1, f"{path}: no single line matches {pattern!r} (stale)"
    path.write_text("".join(kept))


def drop_compose_service(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    for role in ("api", "worker", "migrate"):
        doc["services"].pop(f"{VICTIM}-{role}")
    doc["services"]["gateway"]["environment"].pop(f"{VICTIM.upper()}_UPSTREAM")
    doc["services"]["gateway"].get("depends_on", {}).pop(f"{VICTIM}-api", None)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def drop_scaled_object(path: Path) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    kept = [d for d in docs if d["metadata"]["name"] != f"{VICTIM}-worker"]
    assert len(kept) == len(docs) - 1
    path.write_text(yaml.safe_dump_all(kept, sort_keys=False))


def drop_from_fleet(path: Path) -> None:
    # A special case creeping back into fleetctl: the service's programs are skipped.
    path.write_text(
        path.read_text()
        + "\n\n_all_services = fleet_services\n\n\ndef fleet_services():\n"
        + f"    return [s for s in _all_services() if s.name != {VICTIM!r}]\n"
    )


def drop_prod_hpa_sizes(path: Path) -> None:
    text = path.read_text()
    kept = re.sub(
        rf"  - target: \{{kind: HorizontalPodAutoscaler, name: {VICTIM}-worker\}}\n"
        r"    patch: \|-\n(      - .*\n)+",
        "",
        text,
    )
    assert kept != text
    path.write_text(kept)


def drop_absent_terms(path: Path, indent: str) -> None:
    for role in ("api", "worker"):
        edit(path, f'{indent}or absent(up{{service="{VICTIM}", component="{role}"}})\n')


def drop_up_series(path: Path) -> None:
    # The promtool tests of TradeoptServiceAbsent lose the service's API (a new service whose
    # tests were not extended looks the same).
    text = path.read_text()
    kept = re.sub(
        rf"      - series: 'up\{{[^']*service=\"{VICTIM}\", component=\"api\"[^']*'\n"
        r"        values: '[^']*'\n",
        "",
        text,
    )
    assert kept != text
    path.write_text(kept)


#: place -> (how to break it in the copy, the file the failure must name).
BREAKERS: dict[str, tuple[Callable[[Path], None], str]] = {
    "compose-dev": (lambda r: drop_compose_service(r / "docker-compose.yml"), "docker-compose.yml"),
    "compose-prod": (
        lambda r: drop_compose_service(r / "docker-compose.prod.yml"),
        "docker-compose.prod.yml",
    ),
    "nginx-map": (
        lambda r: drop_line(
            r / "docker/nginx/templates/gateway.conf.template",
            r'^\s*"~\^/api/v1/\(runs\|models\|algorithms\)\(/\|\$\)"\s+"\$\{TRAINING_UPSTREAM\}";$',
        ),
        "docker/nginx/templates/gateway.conf.template",
    ),
    "k8s-overlay-dev": (
        lambda r: edit(r / "k8s/overlays/dev/kustomization.yaml", f"  - ../../services/{VICTIM}\n"),
        "k8s/overlays/dev/kustomization.yaml",
    ),
    "k8s-overlay-prod": (
        lambda r: edit(
            r / "k8s/overlays/prod/kustomization.yaml", f"  - ../../services/{VICTIM}\n"
        ),
        "k8s/overlays/prod/kustomization.yaml",
    ),
    "k8s-service-folder": (
        lambda r: shutil.rmtree(r / "k8s/services" / VICTIM),
        "k8s/services/",
    ),
    "k8s-keda": (
        lambda r: drop_scaled_object(r / "k8s/components/keda/scaledobject.yaml"),
        "k8s/components/keda/scaledobject.yaml",
    ),
    "import-contracts": (
        lambda r: edit(r / ".importlinter", f"    tradeopt_{VICTIM}\n"),
        ".importlinter",
    ),
    "import-layers": (
        lambda r: edit(r / ".importlinter", f" | tradeopt_{VICTIM}"),
        ".importlinter",
    ),
    "prometheus": (
        lambda r: edit(r / "monitoring/prometheus/prometheus.yml", f"{VICTIM}-worker, ", ""),
        "monitoring/prometheus/prometheus.yml",
    ),
    "images.mk": (
        lambda r: edit(
            r / "mk/services.mk",
            "SERVICES := data training tuning evaluation",
            "SERVICES := data tuning evaluation",
        ),
        "mk/services.mk (images.mk)",
    ),
    "makefile-packages": (
        lambda r: edit(r / "mk/services.mk", f" -e services/{VICTIM}", ""),
        "mk/services.mk (Makefile)",
    ),
    "ruff-first-party": (
        lambda r: edit(r / "pyproject.toml", f', "tradeopt_{VICTIM}"', ""),
        "pyproject.toml",
    ),
    "fleet": (
        lambda r: drop_from_fleet(r / "scripts/fleet/fleetctl.py"),
        "scripts/fleet/fleetctl.py",
    ),
    "compose-service-urls": (
        lambda r: edit(
            r / "docker-compose.yml",
            f"  TRADING_OPT_{VICTIM.upper()}_URL: http://{VICTIM}-api:8002\n",
        ),
        "docker-compose.yml",
    ),
    "k8s-images-dev": (
        lambda r: edit(
            r / "k8s/overlays/dev/kustomization.yaml",
            f"  - {{name: trading-optimization-{VICTIM}, newTag: dev}}\n",
        ),
        "k8s/overlays/dev/kustomization.yaml",
    ),
    "k8s-images-prod": (
        lambda r: edit(
            r / "k8s/overlays/prod/kustomization.yaml",
            f"  - name: trading-optimization-{VICTIM}\n"
            f"    newName: registry.example.com/tradeopt/trading-optimization-{VICTIM}\n"
            '    newTag: "0.1.0"\n',
        ),
        "k8s/overlays/prod/kustomization.yaml",
    ),
    "k8s-prod-hpa-sizes": (
        lambda r: drop_prod_hpa_sizes(r / "k8s/overlays/prod/kustomization.yaml"),
        "k8s/overlays/prod/kustomization.yaml",
    ),
    "k8s-keda-hpa": (
        lambda r: edit(
            r / "k8s/components/keda/kustomization.yaml",
            f"  - target: {{kind: HorizontalPodAutoscaler, name: {VICTIM}-worker}}\n"
            "    patch: |-\n"
            "      $patch: delete\n"
            "      apiVersion: autoscaling/v2\n"
            "      kind: HorizontalPodAutoscaler\n"
            "      metadata:\n"
            f"        name: {VICTIM}-worker\n",
        ),
        "k8s/components/keda/kustomization.yaml",
    ),
    "alert-rules": (
        lambda r: drop_absent_terms(r / "monitoring/prometheus/rules/tradeopt.yml", " " * 10),
        "monitoring/prometheus/rules/tradeopt.yml",
    ),
    "k8s-prometheusrule": (
        lambda r: drop_absent_terms(r / "k8s/components/monitoring/prometheusrule.yaml", " " * 8),
        "k8s/components/monitoring/prometheusrule.yaml",
    ),
    "promtool-tests": (
        lambda r: drop_up_series(r / "monitoring/prometheus/tests/tradeopt_test.yml"),
        "monitoring/prometheus/tests/tradeopt_test.yml",
    ),
    "deploy-jobs": (
        lambda r: edit(
            r / "scripts/deploy.sh",
            'run "$KUBECTL" delete job -n "$NAMESPACE" "${jobs[@]}" --ignore-not-found',
            'run "$KUBECTL" delete job -n "$NAMESPACE" data-migrate evaluation-migrate '
            "minio-init --ignore-not-found",
        ),
        "scripts/deploy.sh",
    ),
}


#: A planned service slipping into a place: place -> (how, the file the failure must name).
#: Every service of the manifest is built today, so the tests add this one to their copy.
PLANNED_VICTIM = "reports"
PLANNED_ENTRY = (
    f"  {PLANNED_VICTIM}:\n    status: planned\n    port: 8099\n"
    f"    queues: [{PLANNED_VICTIM}]\n    image: base\n    gateway: [{PLANNED_VICTIM}]\n"
)
INTRUDERS: dict[str, tuple[Callable[[Path], None], str]] = {
    "k8s-images-dev": (
        lambda r: edit(
            r / "k8s/overlays/dev/kustomization.yaml",
            "  - {name: trading-optimization-gateway, newTag: dev}\n",
            "  - {name: trading-optimization-gateway, newTag: dev}\n"
            f"  - {{name: trading-optimization-{PLANNED_VICTIM}, newTag: dev}}\n",
        ),
        "k8s/overlays/dev/kustomization.yaml",
    ),
    "k8s-prod-patch": (
        lambda r: edit(
            r / "k8s/overlays/prod/kustomization.yaml",
            "patches:\n",
            f"patches:\n  - target: {{kind: HorizontalPodAutoscaler, name: {PLANNED_VICTIM}-api}}\n"
            "    patch: |-\n      - {op: replace, path: /spec/minReplicas, value: 2}\n"
            "      - {op: replace, path: /spec/maxReplicas, value: 4}\n",
        ),
        "k8s/overlays/prod/kustomization.yaml",
    ),
    "alert-rules": (
        lambda r: edit(
            r / "monitoring/prometheus/rules/tradeopt.yml",
            '          or absent(up{service="data", component="worker"})\n',
            '          or absent(up{service="data", component="worker"})\n'
            f'          or absent(up{{service="{PLANNED_VICTIM}", component="api"}})\n',
        ),
        "monitoring/prometheus/rules/tradeopt.yml",
    ),
    "deploy-jobs": (
        lambda r: edit(
            r / "scripts/deploy.sh",
            'run "$KUBECTL" delete job -n "$NAMESPACE" "${jobs[@]}" --ignore-not-found',
            'run "$KUBECTL" delete job -n "$NAMESPACE" "${jobs[@]}" '
            f"{PLANNED_VICTIM}-migrate --ignore-not-found",
        ),
        "scripts/deploy.sh",
    ),
}


def test_tree_agrees_with_the_manifest() -> None:
    """Every generated file is up to date and every checked place agrees (make check-generated)."""
    assert check(ROOT) == []


def test_check_command_passes_on_the_tree() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.manifest.generate", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("place", list(BREAKERS))
def test_a_service_missing_from_a_place_fails_naming_both(tmp_path: Path, place: str) -> None:
    root = copy_tree(tmp_path)
    assert check(root) == [], "the copy must pass before it is broken"
    breaker, where = BREAKERS[place]
    breaker(root)
    problems = check(root)
    named = [p for p in problems if p.startswith(where) and f"'{VICTIM}'" in p]
    assert named, f"{place}: no problem names {VICTIM!r} in {where}:\n" + "\n".join(problems)


@pytest.mark.parametrize("place", list(INTRUDERS))
def test_a_planned_service_in_a_place_fails_naming_both(tmp_path: Path, place: str) -> None:
    root = copy_tree(tmp_path)
    write_manifest(root, (ROOT / "services.yaml").read_text() + "\n" + PLANNED_ENTRY)
    breaker, where = INTRUDERS[place]
    breaker(root)
    problems = check(root)
    named = [p for p in problems if p.startswith(where) and f"'{PLANNED_VICTIM}'" in p]
    assert named, f"{place}: no problem names {PLANNED_VICTIM!r} in {where}:\n" + "\n".join(
        problems
    )


def test_check_command_fails_on_a_broken_copy(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    drop_compose_service(root / "docker-compose.yml")
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.manifest.generate", "--check", "--root", str(root)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert f"docker-compose.yml: service '{VICTIM}' is missing (api container)" in proc.stderr


def test_stale_generated_file_is_reported_and_regenerated(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    target = root / "k8s/services" / VICTIM / "kustomization.yaml"
    target.write_text(target.read_text().replace("--concurrency=1", "--concurrency=3"))
    assert f"k8s/services/{VICTIM}/kustomization.yaml: stale generated content" in "\n".join(
        check(root)
    )
    assert generate(root) == [f"k8s/services/{VICTIM}/kustomization.yaml"]
    assert check(root) == []


def test_planned_services_are_deployed_nowhere() -> None:
    """Planned services (none today: every service is built) have no compose service, no k8s
    folder, no scrape target, no upstream, no image, no workflow template."""
    planned = [s.name for s in MANIFEST.planned()]
    texts = {
        rel: (ROOT / rel).read_text()
        for rel in [
            "docker-compose.yml",
            "docker-compose.prod.yml",
            "monitoring/prometheus/prometheus.yml",
            "mk/services.mk",
            "docker/gateway.Dockerfile",
            "k8s/gateway/deployment.yaml",
            "k8s/base/kustomization.yaml",
        ]
    }
    texts.update({str(p.relative_to(ROOT)): p.read_text() for p in (ROOT / "k8s").rglob("*.yaml")})
    for name in planned:
        assert not (ROOT / "k8s" / "services" / name).exists()
        for rel, text in texts.items():
            hits = re.findall(rf"\b{name}-(api|worker|migrate)\b|\b{name.upper()}_UPSTREAM\b", text)
            assert not hits, f"{rel} deploys the planned service {name!r}"
        assert not re.search(rf"^SERVICES :=.*\b{name}\b", texts["mk/services.mk"], re.M)


def write_manifest(root: Path, text: str) -> None:
    (root / "services.yaml").write_text(text)


def test_unknown_fields_fail_loudly(tmp_path: Path) -> None:
    text = (
        (ROOT / "services.yaml")
        .read_text()
        .replace("    port: 8001\n", "    port: 8001\n    prot: 1\n")
    )
    copy_tree(tmp_path)
    write_manifest(tmp_path, text)
    with pytest.raises(ManifestError, match=r"services\.0\.prot: Extra inputs are not permitted"):
        load(tmp_path)


def test_a_built_service_needs_its_folder(tmp_path: Path) -> None:
    copy_tree(tmp_path)
    text = (ROOT / "services.yaml").read_text()
    write_manifest(
        tmp_path,
        text
        + "\n"
        + PLANNED_ENTRY.replace("status: planned", "status: built")
        + (
            "    api: {resources: {requests: {cpu: 100m, memory: 128Mi},\n"
            "                      limits: {cpu: '1', memory: 1Gi}}}\n"
        ),
    )
    with pytest.raises(ManifestError):
        load(tmp_path)


def test_duplicate_ports_fail(tmp_path: Path) -> None:
    copy_tree(tmp_path)
    write_manifest(
        tmp_path, (ROOT / "services.yaml").read_text().replace("port: 8003", "port: 8001")
    )
    with pytest.raises(ManifestError, match="port used by more than one service: 8001"):
        load(tmp_path)
