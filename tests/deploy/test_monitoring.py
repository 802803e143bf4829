"""monitoring/: promtool (config, rules, rule unit tests), amtool, Grafana provisioning and
dashboards (valid JSON, real PromQL on the metric names the code declares)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from tests.deploy.support import MANIFEST, ROOT, SERVICES, find_tool, run
from tradeopt_common.observability import metrics as declared_metrics
from tradeopt_strategy import metrics as strategy_metrics
from tradeopt_training import metrics as training_metrics
from tradeopt_tuning import metrics as tuning_metrics

pytestmark = pytest.mark.unit

MON = ROOT / "monitoring"
PROM = MON / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
RULE_TESTS = sorted((PROM / "tests").glob("*.yml"))
DASHBOARDS = sorted((MON / "grafana" / "dashboards").glob("*.json"))
# tradeopt_* metrics the rules and dashboards use before the code declaring them lands.
LANDS_LATER: set[str] = set()
#: The training worker's and API's metrics (names and labels fixed by the training brief).
TRAINING_METRICS = {
    "tradeopt_training_steps_per_second": ("algorithm",),
    "tradeopt_training_runs": ("status",),
    "tradeopt_training_checkpoint_age_seconds": ("run_id",),
}
#: The tuning API's and worker's metrics.
TUNING_METRICS = {
    "tradeopt_tuning_studies": ("status",),
    "tradeopt_tuning_trials": ("state",),
    "tradeopt_tuning_study_idle_seconds": ("study_id",),
    "tradeopt_tuning_trials_ended_total": ("state",),
    "tradeopt_tuning_study_duration_seconds": ("status",),
}
#: The strategy API's trading KPIs per paper session (read by the trading dashboard and alerts).
PAPER_METRICS = {
    name: ("session_id", "strategy_id", "mode")
    for name in (
        "tradeopt_paper_equity",
        "tradeopt_paper_drawdown",
        "tradeopt_paper_position",
        "tradeopt_paper_realised_pnl",
        "tradeopt_paper_unrealised_pnl",
        "tradeopt_paper_orders",
        "tradeopt_paper_rejected_orders",
        "tradeopt_paper_halted",
    )
}
GRAFANA_VARIABLES = {
    "$__rate_interval": "5m",
    "$__interval": "1m",
    "$__range": "1h",
}


def alerts() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def load_dashboard(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))
    return out


def declared() -> dict[str, tuple[str, ...]]:
    """Metric name -> label names, from tradeopt_common.observability.metrics and the services'
    metrics modules (metric objects, and custom collectors through a scratch registry)."""
    out = {}
    for module in (declared_metrics, training_metrics, tuning_metrics, strategy_metrics):
        for value in vars(module).values():
            name = getattr(value, "_name", None)
            if isinstance(name, str) and name.startswith("tradeopt_"):
                kind = getattr(value, "_type", "")
                full = f"{name}_total" if kind == "counter" else name
                out[full] = tuple(getattr(value, "_labelnames", ()))
            elif hasattr(value, "collect") and not isinstance(value, type | CollectorRegistry):
                registry = CollectorRegistry()
                try:
                    registry.register(value)
                except ValueError:
                    continue
                for family in registry.collect():
                    if family.name.startswith("tradeopt_"):
                        labels = {k for sample in family.samples for k in sample.labels}
                        out.setdefault(family.name, tuple(sorted(labels)))
    return out


def test_promtool_check_config() -> None:
    promtool = find_tool("promtool")
    out = run([promtool, "check", "config", str(PROM / "prometheus.yml")]).stdout
    assert f"{len(RULE_FILES)} rule files found" in out


def test_promtool_check_rules() -> None:
    run([find_tool("promtool"), "check", "rules", *map(str, RULE_FILES)])


def test_promtool_rule_unit_tests() -> None:
    assert RULE_TESTS
    run([find_tool("promtool"), "test", "rules", *map(str, RULE_TESTS)], cwd=PROM / "tests")


def test_every_alert_has_a_unit_test() -> None:
    tested = "\n".join(p.read_text() for p in RULE_TESTS)
    untested = [a["alert"] for a in alerts() if f"alertname: {a['alert']}" not in tested]
    assert not untested, f"no promtool test for {untested}"


def test_alerts_have_severity_and_annotations() -> None:
    names = [a["alert"] for a in alerts()]
    assert len(names) == len(set(names))
    for alert in alerts():
        assert alert["labels"]["severity"] in {"warning", "critical"}, alert["alert"]
        assert {"summary", "description"} <= set(alert["annotations"]), alert["alert"]


def test_required_alerts_exist() -> None:
    by_name = {a["alert"]: a["expr"] for a in alerts()}
    required = {
        "TradeoptServiceDown": "up{",
        "TradeoptHighErrorRatio": 'status="5xx"',
        "TradeoptHighLatencyP99": "http_request_duration_seconds_bucket",
        "TradeoptQueueBacklogGrowing": "tradeopt_jobs_queued",
        "CeleryQueueBacklogGrowing": "celery_queue_length",
        "TradeoptJobFailureRatioHigh": "tradeopt_jobs_finished_total",
        "TradeoptJobsStuckRunning": "tradeopt_job_heartbeat_age_seconds",
        "TradeoptTrainingCheckpointStale": "tradeopt_training_checkpoint_age_seconds",
        "TradeoptStudyNoProgress": "tradeopt_tuning_study_idle_seconds",
    }
    for name, needle in required.items():
        assert needle in by_name[name], name
    assert "> 0.05" in by_name["TradeoptHighErrorRatio"]
    assert "> 2" in by_name["TradeoptHighLatencyP99"]
    assert "> 15 * 60" in by_name["TradeoptTrainingCheckpointStale"]
    assert "> 30 * 60" in by_name["TradeoptStudyNoProgress"]
    for svc in SERVICES:
        for role in ("api", "worker"):
            assert f'up{{service="{svc}", component="{role}"}}' in by_name["TradeoptServiceAbsent"]


def test_tradeopt_metrics_exist_in_code() -> None:
    """Rules and dashboards only use tradeopt_* metrics the code declares (or that land later)."""
    known = declared()
    assert "tradeopt_jobs_finished_total" in known
    used: set[str] = set()
    texts = [p.read_text() for p in RULE_FILES + DASHBOARDS]
    for text in texts:
        used |= set(
            re.findall(r"\b(tradeopt_[a-z_]+?)(?:_bucket|_sum|_count)?\b(?=[{\[)\s])", text)
        )
    unknown = used - set(known) - LANDS_LATER
    assert not unknown, f"metrics not declared in tradeopt_common.observability.metrics: {unknown}"
    assert known["tradeopt_jobs_finished_total"] == ("kind", "status")
    assert known["tradeopt_jobs_queued"] == ("kind",)


def test_tuning_metrics_match_the_code() -> None:
    known = declared()
    for name, labels in TUNING_METRICS.items():
        assert known.get(name) == labels, (name, known.get(name))


def test_training_metrics_match_the_code() -> None:
    """The names and labels rules and dashboards rely on are the ones the training code exports
    (the checkpoint-age collector is exercised: a touched run appears, a forgotten one goes)."""
    known = declared()
    for name, labels in TRAINING_METRICS.items():
        if name == "tradeopt_training_checkpoint_age_seconds":
            continue  # a collector: no series until a run touches it (checked below)
        assert known.get(name) == labels, (name, known.get(name))
    collector = training_metrics.CheckpointAge()
    registry = CollectorRegistry()
    registry.register(collector)
    collector.touch("run-1")
    assert registry.get_sample_value(
        "tradeopt_training_checkpoint_age_seconds", {"run_id": "run-1"}
    ) == pytest.approx(0, abs=5)
    collector.forget("run-1")
    assert (
        registry.get_sample_value("tradeopt_training_checkpoint_age_seconds", {"run_id": "run-1"})
        is None
    )


def test_amtool_check_config() -> None:
    run([find_tool("amtool"), "check-config", str(MON / "alertmanager" / "alertmanager.yml")])


def test_scrape_targets_match_the_compose_services() -> None:
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    api = jobs["tradeopt-api"]["dns_sd_configs"][0]
    worker = jobs["tradeopt-worker"]["dns_sd_configs"][0]
    api_targets = {
        (name, sd["port"]) for sd in jobs["tradeopt-api"]["dns_sd_configs"] for name in sd["names"]
    }
    worker_targets = {
        (name, sd["port"])
        for sd in jobs["tradeopt-worker"]["dns_sd_configs"]
        for name in sd["names"]
    }
    assert api == jobs["tradeopt-api"]["dns_sd_configs"][0] and worker["port"] == 9808
    assert api_targets == {(f"{svc}-api", port) for svc, (port, _) in SERVICES.items()}
    assert worker_targets == {(f"{svc}-worker", 9808) for svc in SERVICES}
    for job, role in (("tradeopt-api", "api"), ("tradeopt-worker", "worker")):
        (rule,) = [r for r in jobs[job]["relabel_configs"] if r.get("target_label") == "service"]
        for svc in SERVICES:  # the service label the rules group by comes out of the DNS name
            assert re.fullmatch(rule["regex"], f"{svc}-{role}")[1] == svc
    compose = yaml.safe_load((ROOT / "docker-compose.monitoring.yml").read_text())["services"]
    app = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for name in ("celery", "postgres", "redis", "node", "alertmanager"):
        (target,) = jobs[name]["static_configs"][0]["targets"]
        host = target.split(":")[0]
        assert host in compose, f"scrape target {target} is not a compose service"
    for svc in SERVICES:
        assert {f"{svc}-api", f"{svc}-worker"} <= set(app), svc
    for job in ("tradeopt-api", "tradeopt-worker"):
        labels = {r["target_label"] for r in jobs[job]["relabel_configs"]}
        assert {"service", "component"} <= labels
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "alertmanager:9093"
    ]


def test_grafana_provisioning() -> None:
    datasources = yaml.safe_load(
        (MON / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )
    prom = next(d for d in datasources["datasources"] if d["type"] == "prometheus")
    assert prom["uid"] == "prometheus" and prom["url"] == "http://prometheus:9090"
    assert prom["isDefault"] is True
    providers = yaml.safe_load(
        (MON / "grafana" / "provisioning" / "dashboards" / "tradeopt.yml").read_text()
    )
    (provider,) = providers["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_dashboards_are_valid_grafana_json() -> None:
    names = {p.stem for p in DASHBOARDS}
    assert {"fleet-overview", "jobs-and-queues", "training-throughput"} <= names
    uids = set()
    for path in DASHBOARDS:
        dash = load_dashboard(path)
        assert dash["uid"] not in uids
        uids.add(dash["uid"])
        assert dash["title"] and isinstance(dash["schemaVersion"], int)
        variables = {v["name"] for v in dash.get("templating", {}).get("list", [])}
        ids = [p["id"] for p in panels(dash)]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in panels(dash):
            assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == "prometheus", panel["title"]
            assert panel["targets"], f"{path.name}: panel {panel['title']!r} has no query"
            for target in panel["targets"]:
                assert target.get("expr", "").strip(), f"{path.name}: {panel['title']!r}"
                for var in re.findall(r"\$(\w+)", target["expr"]):
                    assert var.startswith("__") or var in variables, f"{path.name}: ${var}"


def test_dashboards_use_the_expected_metrics() -> None:
    def exprs(stem: str) -> str:
        dash = load_dashboard(MON / "grafana" / "dashboards" / f"{stem}.json")
        return "\n".join(t["expr"] for p in panels(dash) for t in p.get("targets", []))

    assert "http_requests_total" in exprs("fleet-overview")
    assert "http_request_duration_seconds_bucket" in exprs("fleet-overview")
    for metric in (
        "tradeopt_jobs_queued",
        "tradeopt_jobs_running",
        "tradeopt_jobs_finished_total",
        "tradeopt_job_heartbeat_age_seconds",
        "celery_queue_length",
    ):
        assert metric in exprs("jobs-and-queues"), metric
    for metric in TRAINING_METRICS:
        assert metric in exprs("training-throughput"), metric
    for metric in TUNING_METRICS:
        assert metric in exprs("tuning"), metric
    assert "by (algorithm)" in exprs("training-throughput")
    known = declared()
    for metric, labels in PAPER_METRICS.items():
        assert metric in exprs("trading-kpis"), metric
        assert known[metric] == labels, metric


def test_paper_drawdown_alert_reads_the_strategy_metrics() -> None:
    rules = {
        r["alert"]: r["expr"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for r in group["rules"]
        if "alert" in r
    }
    assert "tradeopt_paper_drawdown" in rules["TradeoptPaperDrawdown"]
    assert "< -0.1" in rules["TradeoptPaperDrawdown"]
    assert "tradeopt_paper_halted" in rules["TradeoptPaperSessionHalted"]


def test_nothing_reads_metrics_of_planned_services() -> None:
    """Planned services (services.yaml) emit nothing: no alert or panel may wait on them."""
    planned = [s.name for s in MANIFEST.planned()]
    texts = [p.read_text() for p in [*RULE_FILES, *DASHBOARDS]]
    for name in planned:
        for text in texts:
            assert f'service="{name}"' not in text and f"tradeopt_{name}_" not in text, name


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """Each panel query, with Grafana's variables substituted, parses as PromQL (promtool)."""
    rules = []
    for path in DASHBOARDS:
        for panel in panels(load_dashboard(path)):
            for target in panel.get("targets", []):
                expr = target["expr"]
                for var, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(var, value)
                expr = re.sub(r"\$\w+", ".*", expr)
                rules.append({"record": f"dashboard:query{len(rules)}", "expr": expr})
    rule_file = tmp_path / "dashboards.yml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    run([find_tool("promtool"), "check", "rules", str(rule_file)])
