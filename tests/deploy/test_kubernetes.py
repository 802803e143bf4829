"""k8s/: every overlay and component variant builds with `kubectl kustomize`, validates against the
Kubernetes JSON schemas (kubernetes-validate, strict) and passes the fleet's hardening rules."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.support import (
    DATA_API_ARGV,
    DATA_WORKER_ARGV,
    EVALUATION_API_ARGV,
    EVALUATION_WORKER_ARGV,
    INSTALL_HINT,
    MANIFEST,
    MIGRATE_ARGV,
    ROOT,
    SERVICES,
    STRATEGY_API_ARGV,
    STRATEGY_WORKER_ARGV,
    TRAINING_API_ARGV,
    TRAINING_SOFT_SHUTDOWN_MIN,
    TRAINING_WORKER_ARGV,
    TUNING_API_ARGV,
    TUNING_WORKER_ARGV,
    known_settings,
)
from tradeopt_common.config import CommonSettings

pytestmark = pytest.mark.unit

K8S = ROOT / "k8s"
NAMESPACE = "trading-optimization"
K8S_VERSION = "1.31.0"  # oldest minor we support
SOFT_SHUTDOWN_DEFAULT = CommonSettings.model_fields["worker_soft_shutdown_seconds"].default
CLUSTER_SCOPED = {"Namespace"}
CRD_KINDS = {"ScaledObject", "ServiceMonitor", "PodMonitor", "PrometheusRule"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job", "CronJob"}
OUR_IMAGES = re.compile(r"(^|/)trading-optimization-(\w+)(:|@)")
BUILT_IN_SECRETS = {"tradeopt-secrets", "tradeopt-infra-secrets", "tradeopt-alpaca"}
#: Singletons: one replica, Recreate, no autoscaler (the beat; the paper-trading bar feed).
SINGLETONS = {"beat", "feed"}

Objects = list[dict[str, Any]]


def kustomization(tmp: Path, resources: list[str], components: list[str]) -> Path:
    """A throwaway overlay in tmp combining k8s/ folders (relative paths, as kustomize wants)."""
    tmp.mkdir(parents=True, exist_ok=True)
    rel = [os.path.relpath(K8S / r, tmp) for r in resources]
    comps = [os.path.relpath(K8S / c, tmp) for c in components]
    (tmp / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": rel,
                "components": comps,
            }
        )
    )
    return tmp


@pytest.fixture(scope="module")
def variants(
    kustomize: Callable[[Path], Objects], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Objects]:
    tmp = tmp_path_factory.mktemp("kustomize")
    app = ["base", "platform", "gateway", "workflows", *(f"services/{s}" for s in SERVICES)]
    # The GPU component as users enable it: in the prod overlay's `components:` (a copy of k8s/),
    # so the overlay's images map the CUDA worker image.
    gpu = tmp / "gpu" / "k8s"
    shutil.copytree(K8S, gpu)
    prod = gpu / "overlays" / "prod" / "kustomization.yaml"
    doc = yaml.safe_load(prod.read_text())
    doc["components"] = ["../../components/gpu-workers"]
    prod.write_text(yaml.safe_dump(doc, sort_keys=False))
    # Paper trading as users enable it: in the prod overlay's `components:`.
    paper = tmp / "paper" / "k8s"
    shutil.copytree(K8S, paper)
    prod = paper / "overlays" / "prod" / "kustomization.yaml"
    doc = yaml.safe_load(prod.read_text())
    doc["components"] = ["../../components/paper-trading"]
    prod.write_text(yaml.safe_dump(doc, sort_keys=False))
    return {
        "dev": kustomize(K8S / "overlays" / "dev"),
        "prod": kustomize(K8S / "overlays" / "prod"),
        "prod+keda+monitoring": kustomize(
            kustomization(
                tmp / "keda",
                ["overlays/prod"],
                ["components/keda", "components/monitoring"],
            )
        ),
        "external-infra": kustomize(
            kustomization(tmp / "external", app, ["components/external-infra"])
        ),
        "prod+gpu": kustomize(gpu / "overlays" / "prod"),
        "prod+paper-trading": kustomize(paper / "overlays" / "prod"),
    }


VARIANTS = [
    "dev",
    "prod",
    "prod+keda+monitoring",
    "external-infra",
    "prod+gpu",
    "prod+paper-trading",
]


def of_kind(objs: Objects, kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def named(objs: Objects, kind: str, name: str) -> dict[str, Any]:
    (obj,) = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    return obj["spec"]["template"]["metadata"]["labels"]


def workloads(objs: Objects) -> Iterator[dict[str, Any]]:
    return (o for o in objs if o["kind"] in WORKLOAD_KINDS)


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """matchLabels / matchExpressions (In, NotIn, Exists) against a label set."""
    match = selector.get("matchLabels", selector if "matchExpressions" not in selector else {})
    if any(labels.get(k) != v for k, v in match.items() if k != "matchExpressions"):
        return False
    for expr in selector.get("matchExpressions", []):
        value = labels.get(expr["key"])
        op = expr["operator"]
        if (op == "In" and value not in expr["values"]) or (
            op == "NotIn" and value in expr["values"]
        ):
            return False
        if op == "Exists" and value is None:
            return False
    return True


def component(obj: dict[str, Any]) -> str:
    return pod_labels(obj).get("app.kubernetes.io/component", "")


# --- schema ------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_schema_valid(variants: dict[str, Objects], variant: str) -> None:
    try:
        import kubernetes_validate
        from kubernetes_validate.utils import ValidationError
    except ImportError:
        pytest.fail(f"kubernetes-validate is not installed: {INSTALL_HINT}", pytrace=False)
    errors = []
    for obj in variants[variant]:
        if obj["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except ValidationError as exc:
            path = "/".join(map(str, exc.path))
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("variant", VARIANTS)
def test_custom_resources_are_well_formed(variants: dict[str, Objects], variant: str) -> None:
    objs = variants[variant]
    expected_api = {
        "ScaledObject": "keda.sh/v1alpha1",
        "ServiceMonitor": "monitoring.coreos.com/v1",
        "PodMonitor": "monitoring.coreos.com/v1",
        "PrometheusRule": "monitoring.coreos.com/v1",
    }
    for obj in objs:
        if obj["kind"] in CRD_KINDS:
            assert obj["apiVersion"] == expected_api[obj["kind"]]
            assert obj["metadata"]["name"] and obj["spec"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_everything_lives_in_the_namespace(variants: dict[str, Objects], variant: str) -> None:
    for obj in variants[variant]:
        if obj["kind"] in CLUSTER_SCOPED:
            continue
        assert obj["metadata"].get("namespace") == NAMESPACE, (
            f"{obj['kind']}/{obj['metadata']['name']} has no namespace"
        )
    if variant != "external-infra":
        ns = named(variants[variant], "Namespace", NAMESPACE)
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# --- pods --------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_pods_are_hardened(variants: dict[str, Objects], variant: str) -> None:
    for obj in workloads(variants[variant]):
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        spec = pod_spec(obj)
        pod_sc = spec.get("securityContext", {})
        assert spec.get("automountServiceAccountToken") is False, where
        assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        mounts_tmp = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c.get("securityContext", {})
            assert sc.get("allowPrivilegeEscalation") is False, where
            assert sc.get("readOnlyRootFilesystem") is True, where
            assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
            assert (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")) is True, where
            uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
            assert uid and uid != 0, where
            if OUR_IMAGES.search(c["image"]) and "gateway" not in c["image"]:
                assert uid == 10001, f"{where}: tradeopt images run as uid 10001"
                tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
                assert tmp and tmp[0]["name"] in mounts_tmp, f"{where}: /tmp must be an emptyDir"
            resources = c.get("resources", {})
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(kind, {})), f"{where}: {kind}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_images_are_pinned(variants: dict[str, Objects], variant: str) -> None:
    for obj in workloads(variants[variant]):
        for c in pod_spec(obj)["containers"]:
            image = c["image"]
            assert "@sha256:" in image or re.search(r":[\w.-]+$", image.split("/")[-1]), image
            assert not image.endswith(":latest"), image
            if variant.startswith("prod") and OUR_IMAGES.search(image):
                assert image.startswith("registry.example.com/"), image
                assert re.search(r":\d+\.\d+\.\d+", image), f"prod runs a release tag: {image}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_deployments_have_probes(variants: dict[str, Objects], variant: str) -> None:
    for dep in of_kind(variants[variant], "Deployment"):
        role = component(dep)
        for c in pod_spec(dep)["containers"]:
            where = f"{dep['metadata']['name']}/{c['name']}"
            assert "livenessProbe" in c, f"{where}: no liveness probe"
            ports = {p["name"] for p in c.get("ports", [])}
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                handler = c.get(probe, {})
                port = (handler.get("httpGet") or handler.get("tcpSocket") or {}).get("port")
                if port is not None:
                    assert port in ports, f"{where}: {probe} uses unknown port {port}"
            if role == "api":
                assert c["livenessProbe"]["httpGet"]["path"] == "/healthz", where
                assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", where
            if role == "gateway":
                assert "readinessProbe" in c, where
            if role == "worker":
                command = " ".join(c["livenessProbe"]["exec"]["command"])
                assert "inspect ping" in command and "$HOSTNAME" in command, where


@pytest.mark.parametrize("variant", VARIANTS)
def test_statefulsets_have_probes_and_storage(variants: dict[str, Objects], variant: str) -> None:
    sets = of_kind(variants[variant], "StatefulSet")
    if variant == "external-infra":
        assert not sets
        return
    assert {s["metadata"]["name"] for s in sets} == {"postgres", "redis", "minio"}
    for sts in sets:
        (c,) = pod_spec(sts)["containers"]
        assert "livenessProbe" in c and "readinessProbe" in c
        assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
        assert named(variants[variant], "Service", sts["spec"]["serviceName"])


@pytest.mark.parametrize("variant", VARIANTS)
def test_scalable_workloads_have_autoscaler_and_budget(
    variants: dict[str, Objects], variant: str
) -> None:
    objs = variants[variant]
    hpa_targets = {
        h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(objs, "HorizontalPodAutoscaler")
    }
    scaled = {s["spec"]["scaleTargetRef"]["name"] for s in of_kind(objs, "ScaledObject")}
    pdbs = of_kind(objs, "PodDisruptionBudget")
    for dep in of_kind(objs, "Deployment"):
        name = dep["metadata"]["name"]
        if component(dep) in SINGLETONS:
            assert name not in hpa_targets and name not in scaled
            assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"] == {"type": "Recreate"}
            continue
        assert (name in hpa_targets) != (name in scaled), f"{name}: exactly one autoscaler"
        assert "replicas" not in dep["spec"], f"{name}: the autoscaler owns replicas"
        if name in hpa_targets:
            hpa = hpa_targets[name]
            assert hpa["apiVersion"] == "autoscaling/v2"
            resources = {m["resource"]["name"] for m in hpa["spec"]["metrics"]}
            assert resources == {"cpu", "memory"}, name
            assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        matching = [p for p in pdbs if selects(p["spec"]["selector"], pod_labels(dep))]
        assert len(matching) == 1, f"{name}: needs exactly one PodDisruptionBudget"


@pytest.mark.parametrize("variant", VARIANTS)
def test_beat_is_a_singleton(variants: dict[str, Objects], variant: str) -> None:
    beat = named(variants[variant], "Deployment", "beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    (c,) = pod_spec(beat)["containers"]
    assert c["args"] == [
        "celery",
        "-A",
        "tradeopt_common.jobs.beat:celery_app",
        "beat",
        "--schedule",
        "/tmp/celerybeat-schedule",
        "--loglevel=INFO",
    ]


@pytest.mark.parametrize("variant", VARIANTS)
def test_workers_shut_down_gracefully(variants: dict[str, Objects], variant: str) -> None:
    workers = [d for d in of_kind(variants[variant], "Deployment") if component(d) == "worker"]
    assert workers
    for dep in workers:
        spec = pod_spec(dep)
        (c,) = spec["containers"]
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        soft = float(env.get("TRADING_OPT_WORKER_SOFT_SHUTDOWN_SECONDS", SOFT_SHUTDOWN_DEFAULT))
        assert spec["terminationGracePeriodSeconds"] > soft
        assert env["REMAP_SIGTERM"] == "SIGQUIT"
        assert env["TRADING_OPT_WORKER_METRICS_PORT"] == "9808"
        assert {"name": "metrics", "containerPort": 9808} in c["ports"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_data_service_commands(variants: dict[str, Objects], variant: str) -> None:
    objs = variants[variant]
    (api,) = pod_spec(named(objs, "Deployment", "data-api"))["containers"]
    assert api["args"] == DATA_API_ARGV
    assert api["ports"] == [{"name": "http", "containerPort": 8001}]
    (worker,) = pod_spec(named(objs, "Deployment", "data-worker"))["containers"]
    assert worker["args"] == DATA_WORKER_ARGV
    job = named(objs, "Job", "data-migrate")
    assert pod_spec(job)["containers"][0]["args"] == MIGRATE_ARGV
    assert pod_spec(job)["restartPolicy"] == "Never"


#: The services on the compute image: service -> (API argv, worker argv).
ML_SERVICES = {
    "training": (TRAINING_API_ARGV, TRAINING_WORKER_ARGV),
    "tuning": (TUNING_API_ARGV, TUNING_WORKER_ARGV),
    "evaluation": (EVALUATION_API_ARGV, EVALUATION_WORKER_ARGV),
    "strategy": (STRATEGY_API_ARGV, STRATEGY_WORKER_ARGV),
}


def test_ml_services_are_the_built_compute_services() -> None:
    """The per-service expectations above cover every built service on the compute image of
    services.yaml (a new one needs its commands written down here)."""
    assert set(ML_SERVICES) == {s.name for s in MANIFEST.built() if s.image == "compute"}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("service", list(ML_SERVICES))
def test_ml_service_commands(variants: dict[str, Objects], variant: str, service: str) -> None:
    objs = variants[variant]
    api_argv, worker_argv = ML_SERVICES[service]
    image = f"trading-optimization-{service}"
    api_pod = pod_spec(named(objs, "Deployment", f"{service}-api"))
    (api,) = api_pod["containers"]
    assert api["args"] == api_argv
    assert api["ports"] == [{"name": "http", "containerPort": SERVICES[service][0]}]
    assert image in api["image"]
    # the compute image imports torch at start: the startup probe allows for it
    startup = api["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120
    worker_dep = named(objs, "Deployment", f"{service}-worker")
    (worker,) = pod_spec(worker_dep)["containers"]
    assert worker["args"] == worker_argv and image in worker["image"]
    assert f"tradeopt_{service}.worker:celery_app inspect ping" in " ".join(
        worker["livenessProbe"]["exec"]["command"]
    )
    job = named(objs, "Job", f"{service}-migrate")
    (migrate,) = pod_spec(job)["containers"]
    assert migrate["args"] == MIGRATE_ARGV and image in migrate["image"]
    assert pod_spec(job)["restartPolicy"] == "Never"


def cpu_cores(quantity: str | int) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def memory_bytes(quantity: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    for suffix, factor in units.items():
        if str(quantity).endswith(suffix):
            return float(str(quantity)[: -len(suffix)]) * factor
    return float(quantity)


@pytest.mark.parametrize("variant", VARIANTS)
def test_training_worker_is_sized_for_long_cpu_bound_runs(
    variants: dict[str, Objects], variant: str
) -> None:
    objs = variants[variant]
    training = pod_spec(named(objs, "Deployment", "training-worker"))
    data = pod_spec(named(objs, "Deployment", "data-worker"))
    (t,), (d,) = training["containers"], data["containers"]
    env = {e["name"]: e.get("value") for e in t["env"]}
    soft = float(env["TRADING_OPT_WORKER_SOFT_SHUTDOWN_SECONDS"])
    assert soft >= TRAINING_SOFT_SHUTDOWN_MIN
    assert training["terminationGracePeriodSeconds"] > soft
    assert training["terminationGracePeriodSeconds"] > data["terminationGracePeriodSeconds"]
    threads = int(env["TRADING_OPT_TORCH_THREADS"])
    assert 1 <= threads <= cpu_cores(t["resources"]["limits"]["cpu"])
    for kind in ("limits",) if variant == "dev" else ("requests", "limits"):
        assert cpu_cores(t["resources"][kind]["cpu"]) >= cpu_cores(d["resources"][kind]["cpu"])
        assert memory_bytes(t["resources"][kind]["memory"]) > memory_bytes(
            d["resources"][kind]["memory"]
        ), f"{variant}: training worker {kind}"
    if variant != "dev":
        assert threads <= cpu_cores(t["resources"]["requests"]["cpu"]), "threads beyond request"


@pytest.mark.parametrize("variant", VARIANTS)
def test_evaluation_worker_is_sized_for_short_cpu_bound_jobs(
    variants: dict[str, Objects], variant: str
) -> None:
    """One evaluation per pod on one torch/BLAS thread, the data workers' shutdown window, and
    moderate resources: at most a training worker's."""
    objs = variants[variant]
    evaluation = pod_spec(named(objs, "Deployment", "evaluation-worker"))
    data = pod_spec(named(objs, "Deployment", "data-worker"))
    training = pod_spec(named(objs, "Deployment", "training-worker"))
    (e,), (t,) = evaluation["containers"], training["containers"]
    env = {x["name"]: x.get("value") for x in e["env"]}
    soft = float(env.get("TRADING_OPT_WORKER_SOFT_SHUTDOWN_SECONDS", SOFT_SHUTDOWN_DEFAULT))
    assert soft < TRAINING_SOFT_SHUTDOWN_MIN
    assert evaluation["terminationGracePeriodSeconds"] == data["terminationGracePeriodSeconds"]
    assert evaluation["terminationGracePeriodSeconds"] < training["terminationGracePeriodSeconds"]
    assert env["OMP_NUM_THREADS"] == "1"
    assert "TRADING_OPT_TORCH_THREADS" not in env  # not an evaluation setting
    assert "nvidia.com/gpu" not in e["resources"]["limits"] and "nodeSelector" not in evaluation
    assert cpu_cores(e["resources"]["limits"]["cpu"]) >= 1
    assert memory_bytes(e["resources"]["limits"]["memory"]) >= 2**30  # torch + an SB3 model
    for kind in ("requests", "limits"):
        assert cpu_cores(e["resources"][kind]["cpu"]) <= cpu_cores(t["resources"][kind]["cpu"])
        assert memory_bytes(e["resources"][kind]["memory"]) <= memory_bytes(
            t["resources"][kind]["memory"]
        ), f"{variant}: evaluation worker {kind}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_gpu_workers_component(variants: dict[str, Objects], variant: str) -> None:
    """Only with components/gpu-workers: the training worker (not its API) asks for a GPU, lands
    on GPU nodes and runs the CUDA image."""
    objs = variants[variant]
    worker = pod_spec(named(objs, "Deployment", "training-worker"))
    api = pod_spec(named(objs, "Deployment", "training-api"))
    (w,), (a,) = worker["containers"], api["containers"]
    assert "nvidia.com/gpu" not in a["resources"].get("limits", {})
    assert "nodeSelector" not in api and "tolerations" not in api
    if variant != "prod+gpu":
        assert "nvidia.com/gpu" not in w["resources"]["limits"]
        assert "nodeSelector" not in worker and "tolerations" not in worker
        return
    assert w["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert worker["nodeSelector"] and any(
        t["key"] == "nvidia.com/gpu" and t["effect"] == "NoSchedule" for t in worker["tolerations"]
    )
    assert w["image"].endswith("/trading-optimization-training:0.1.0-cu128"), w["image"]
    assert a["image"].endswith("/trading-optimization-training:0.1.0"), a["image"]


# --- wiring ------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_services_select_pods_on_named_ports(variants: dict[str, Objects], variant: str) -> None:
    objs = variants[variant]
    pods = [o for o in workloads(objs) if o["kind"] in {"Deployment", "StatefulSet"}]
    for svc in of_kind(objs, "Service"):
        backing = [
            p for p in pods if selects({"matchLabels": svc["spec"]["selector"]}, pod_labels(p))
        ]
        assert backing, f"Service {svc['metadata']['name']} selects no pods"
        ports = {
            p["name"]
            for w in backing
            for c in pod_spec(w)["containers"]
            for p in c.get("ports", [])
        }
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in ports, f"{svc['metadata']['name']}: {port}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_config_and_secret_references(variants: dict[str, Objects], variant: str) -> None:
    objs = variants[variant]
    configmaps = {c["metadata"]["name"]: c["data"] for c in of_kind(objs, "ConfigMap")}
    secrets = {s["metadata"]["name"]: s.get("data", {}) for s in of_kind(objs, "Secret")}
    templates = {
        doc["metadata"]["name"]: set(doc["stringData"])
        for path in (K8S / "base" / "secrets").glob("*.template.yaml")
        for doc in [yaml.safe_load(path.read_text())]
    }
    assert set(templates) == BUILT_IN_SECRETS

    def secret_keys(name: str) -> set[str]:
        if variant == "dev":
            assert name in secrets, f"dev generates every secret, {name} is missing"
            return set(secrets[name])
        assert not secrets, "only dev may ship secrets"
        base = re.sub(r"-[a-z0-9]{10}$", "", name)
        assert base in templates, f"unknown secret {name}"
        return templates[base]

    for obj in workloads(objs):
        for c in pod_spec(obj)["containers"]:
            for source in c.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] in configmaps
                else:
                    secret_keys(source["secretRef"]["name"])
            for env in c.get("env", []):
                ref = env.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    assert ref["secretKeyRef"]["key"] in secret_keys(ref["secretKeyRef"]["name"])
                if "configMapKeyRef" in ref:
                    cm = configmaps[ref["configMapKeyRef"]["name"]]
                    assert ref["configMapKeyRef"]["key"] in cm


@pytest.mark.parametrize("variant", VARIANTS)
def test_settings_are_real_settings(variants: dict[str, Objects], variant: str) -> None:
    """Every TRADING_OPT_* key we set is a field of the settings classes (catches typos)."""
    fields = known_settings()
    keys = set()
    for cm in of_kind(variants[variant], "ConfigMap"):
        keys |= {k for k in cm["data"] if k.startswith("TRADING_OPT_")}
    for template in (K8S / "base" / "secrets").glob("*.template.yaml"):
        keys |= {
            k
            for k in yaml.safe_load(template.read_text())["stringData"]
            if k.startswith("TRADING_OPT_")
        }
    for obj in workloads(variants[variant]):
        for c in pod_spec(obj)["containers"]:
            keys |= {e["name"] for e in c.get("env", []) if e["name"].startswith("TRADING_OPT_")}
    unknown = {k for k in keys if k.removeprefix("TRADING_OPT_").lower() not in fields}
    assert not unknown, f"not settings: {sorted(unknown)}"


def config_of(objs: Objects) -> dict[str, str]:
    (cm,) = [
        c for c in of_kind(objs, "ConfigMap") if c["metadata"]["name"].startswith("tradeopt-config")
    ]
    return cm["data"]


def test_dev_and_prod_environments(variants: dict[str, Objects]) -> None:
    dev, prod = variants["dev"], variants["prod"]
    assert config_of(dev)["TRADING_OPT_ENV"] == "development"
    assert config_of(prod)["TRADING_OPT_ENV"] == "production"
    assert not of_kind(prod, "Secret"), "prod secrets are created out of band"
    ingress = named(prod, "Ingress", "gateway")
    assert ingress["spec"]["tls"][0]["hosts"] == [ingress["spec"]["rules"][0]["host"]]
    for svc in SERVICES:  # every API survives a pod loss in production
        assert named(prod, "HorizontalPodAutoscaler", f"{svc}-api")["spec"]["minReplicas"] >= 2
    for obj in prod:
        assert obj["metadata"]["labels"].get("tradeopt.io/environment") == "prod"


@pytest.mark.parametrize("variant", VARIANTS)
def test_network_policies(variants: dict[str, Objects], variant: str) -> None:
    objs = variants[variant]
    policies = of_kind(objs, "NetworkPolicy")
    deny = named(objs, "NetworkPolicy", "default-deny")
    assert deny["spec"]["podSelector"] == {} and set(deny["spec"]["policyTypes"]) == {
        "Ingress",
        "Egress",
    }
    dns = named(objs, "NetworkPolicy", "allow-dns")
    assert {p["port"] for p in dns["spec"]["egress"][0]["ports"]} == {53}
    # Every pod behind a Service is allowed ingress by some policy; every pod may egress somewhere.
    for svc in of_kind(objs, "Service"):
        labels = svc["spec"]["selector"]
        ingress = [
            p
            for p in policies
            if "Ingress" in p["spec"]["policyTypes"]
            and p["spec"].get("ingress")
            and selects(p["spec"]["podSelector"], labels)
        ]
        assert ingress, f"nothing may reach Service {svc['metadata']['name']}"
    for obj in workloads(objs):
        if component(obj) in {"database", "broker", "object-storage"}:
            continue
        egress = [
            p
            for p in policies
            if "Egress" in p["spec"]["policyTypes"]
            and p["spec"].get("egress")
            and p["metadata"]["name"] != "allow-dns"
            and selects(p["spec"]["podSelector"], pod_labels(obj))
        ]
        assert egress, f"{obj['metadata']['name']} can only resolve DNS"


@pytest.mark.parametrize("variant", VARIANTS)
def test_gateway_upstream_is_fully_qualified(variants: dict[str, Objects], variant: str) -> None:
    objs = variants[variant]
    (c,) = pod_spec(named(objs, "Deployment", "gateway"))["containers"]
    env = {e["name"]: e["value"] for e in c["env"]}
    for name, (expected_port, _) in SERVICES.items():
        svc = named(objs, "Service", f"{name}-api")
        port = svc["spec"]["ports"][0]["port"]
        assert port == expected_port, name
        upstream = env[f"{name.upper()}_UPSTREAM"]
        assert upstream == f"{name}-api.{NAMESPACE}.svc.cluster.local:{port}"
    config = config_of(objs)
    for name, (port, _) in SERVICES.items():
        assert config[f"TRADING_OPT_{name.upper()}_URL"] == f"http://{name}-api:{port}"
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    assert {"/tmp", "/etc/nginx/conf.d"} <= mounts


@pytest.mark.parametrize("service", list(SERVICES))
def test_per_service_folder_is_self_contained(
    kustomize: Callable[[Path], Objects], service: str
) -> None:
    """k8s/services/<service> (generated from services.yaml over k8s/bases) holds only objects
    named and labelled after it."""
    objs = kustomize(K8S / "services" / service)
    assert {o["kind"] for o in objs} == {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Job",
    }
    for obj in objs:
        assert obj["metadata"]["name"].startswith(f"{service}-"), obj["metadata"]["name"]
        assert obj["metadata"]["labels"]["app.kubernetes.io/name"] == service
        for container in pod_spec(obj)["containers"] if "template" in obj["spec"] else []:
            assert container["image"] == f"trading-optimization-{service}:dev"


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_overlays_deploy_every_service(variants: dict[str, Objects], overlay: str) -> None:
    objs = variants[overlay]
    for svc in SERVICES:
        for kind, name in [
            ("Deployment", f"{svc}-api"),
            ("Deployment", f"{svc}-worker"),
            ("Service", f"{svc}-api"),
            ("Job", f"{svc}-migrate"),
            ("HorizontalPodAutoscaler", f"{svc}-api"),
            ("HorizontalPodAutoscaler", f"{svc}-worker"),
        ]:
            assert named(objs, kind, name), f"{overlay}: {kind}/{name}"


# --- components --------------------------------------------------------------------------------


@pytest.mark.parametrize("service", list(SERVICES))
def test_keda_replaces_the_worker_hpa(variants: dict[str, Objects], service: str) -> None:
    objs = variants["prod+keda+monitoring"]
    worker = f"{service}-worker"
    assert worker not in {h["metadata"]["name"] for h in of_kind(objs, "HorizontalPodAutoscaler")}
    scaled = named(objs, "ScaledObject", worker)
    assert scaled["spec"]["scaleTargetRef"]["name"] == worker
    triggers = {t["type"]: t for t in scaled["spec"]["triggers"]}
    assert set(triggers) == {"redis", "cpu", "memory"}
    redis = triggers["redis"]["metadata"]
    assert redis["listName"] == SERVICES[service][1]
    # the queue KEDA watches is the one the worker consumes
    args = pod_spec(named(objs, "Deployment", worker))["containers"][0]["args"]
    assert redis["listName"] in args[args.index("-Q") + 1].split(",")
    host, port = redis["address"].split(":")
    assert host == f"redis.{NAMESPACE}.svc.cluster.local"
    assert int(port) == named(objs, "Service", "redis")["spec"]["ports"][0]["port"]
    assert any(
        p["metadata"]["name"] == "redis-ingress-keda" for p in of_kind(objs, "NetworkPolicy")
    )


def test_monitoring_component_matches_services_and_rules(variants: dict[str, Objects]) -> None:
    objs = variants["prod+keda+monitoring"]
    monitor = named(objs, "ServiceMonitor", "tradeopt-api")
    svc = named(objs, "Service", "data-api")
    assert selects(monitor["spec"]["selector"], svc["metadata"]["labels"])
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in svc["spec"]["ports"]}
    pod_monitor = named(objs, "PodMonitor", "tradeopt-worker")
    worker = named(objs, "Deployment", "data-worker")
    assert selects(pod_monitor["spec"]["selector"], pod_labels(worker))
    ports = {p["name"] for p in pod_spec(worker)["containers"][0]["ports"]}
    assert pod_monitor["spec"]["podMetricsEndpoints"][0]["port"] in ports
    for endpoint in monitor["spec"]["endpoints"] + pod_monitor["spec"]["podMetricsEndpoints"]:
        targets = {r["targetLabel"] for r in endpoint["relabelings"]}
        assert {"service", "component"} <= targets  # the labels the alert rules group by

    spec = importlib.util.spec_from_file_location(
        "render_prometheusrule", ROOT / "monitoring" / "render_prometheusrule.py"
    )
    assert spec and spec.loader
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    rule = named(objs, "PrometheusRule", "tradeopt")
    assert rule["spec"] == render.render()["spec"], (
        "k8s/components/monitoring/prometheusrule.yaml is stale: "
        "run python monitoring/render_prometheusrule.py"
    )


def test_external_infra_component(variants: dict[str, Objects]) -> None:
    objs = variants["external-infra"]
    assert not of_kind(objs, "StatefulSet")
    config = config_of(objs)
    assert config["TRADING_OPT_STORAGE_SECURE"] == "true"
    assert config["TRADING_OPT_STORAGE_ENDPOINT"] != "minio:9000"
    egress = named(objs, "NetworkPolicy", "external-infra-egress")
    ports = {p["port"] for p in egress["spec"]["egress"][0]["ports"]}
    assert {5432, 6379, 443} <= ports


# --- workflows ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("workflow-data-ingest", "/api/v1/datasets"),
        ("workflow-train", "/api/v1/runs"),
        ("workflow-tune", "/api/v1/studies"),
        ("workflow-backtest", "/api/v1/evaluations"),
    ],
)
def test_workflow_templates(variants: dict[str, Objects], name: str, path: str) -> None:
    objs = variants["prod"]
    cron = named(objs, "CronJob", name)
    assert cron["spec"]["suspend"] is True, "a template, never scheduled"
    (c,) = pod_spec(cron)["containers"]
    assert "trading-optimization-cli" in c["image"]
    script = c["args"][0]
    assert f"/scripts/submit.sh POST {path} " in script
    assert component(cron) == "workflow"
    env = {e["name"]: e for e in c["env"]}
    assert env["TRADEOPT_GATEWAY_URL"]["value"] == "http://gateway:8080"
    assert (
        env["IDEMPOTENCY_KEY"]["valueFrom"]["fieldRef"]["fieldPath"]
        == "metadata.labels['job-name']"
    )
    scripts = named(objs, "ConfigMap", "tradeopt-workflow-scripts")
    assert scripts["data"]["submit.sh"] == (K8S / "workflows" / "submit.sh").read_text()


def test_paper_trading_component(variants: dict[str, Objects]) -> None:
    """Only with components/paper-trading: the bar feed (one pod of the strategy image, its
    heartbeat checked), Alpaca's keys from the Secret tradeopt-alpaca for the feed and the
    strategy API and worker, and HTTPS egress to Alpaca for exactly those pods."""
    paper, prod = variants["prod+paper-trading"], variants["prod"]
    assert not [d for d in workloads(prod) if component(d) == "feed"]
    feed = named(paper, "Deployment", "strategy-feed")
    assert feed["spec"]["replicas"] == 1 and feed["spec"]["strategy"] == {"type": "Recreate"}
    assert pod_labels(feed)["app.kubernetes.io/name"] == "strategy"
    (c,) = pod_spec(feed)["containers"]
    assert c["args"] == [
        "python", "-m", "tradeopt_strategy.feed", "--heartbeat", "/tmp/feed-alive"
    ]  # fmt: skip
    (api,) = pod_spec(named(paper, "Deployment", "strategy-api"))["containers"]
    assert c["image"] == api["image"]
    assert "/tmp/feed-alive" in " ".join(c["livenessProbe"]["exec"]["command"])
    egress = named(paper, "NetworkPolicy", "alpaca-egress")
    for name in ("strategy-api", "strategy-worker", "strategy-feed"):
        dep = named(paper, "Deployment", name)
        (container,) = pod_spec(dep)["containers"]
        secrets = [s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s]
        assert "tradeopt-alpaca" in secrets, name
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert env["ALPACA_BASE_URL"] == "https://paper-api.alpaca.markets", name
        assert selects(egress["spec"]["podSelector"], pod_labels(dep)), name
    for name in ("strategy-api", "strategy-worker"):  # without the component: no Alpaca keys
        (plain,) = pod_spec(named(prod, "Deployment", name))["containers"]
        assert {"secretRef": {"name": "tradeopt-alpaca"}} not in plain["envFrom"], name
    (rule,) = egress["spec"]["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 443}]
    for dep in of_kind(paper, "Deployment"):
        if pod_labels(dep)["app.kubernetes.io/name"] != "strategy":
            assert not selects(egress["spec"]["podSelector"], pod_labels(dep))
    template = yaml.safe_load(
        (K8S / "base" / "secrets" / "tradeopt-alpaca.template.yaml").read_text()
    )
    assert set(template["stringData"]) == {"ALPACA_API_KEY", "ALPACA_API_SECRET"}
