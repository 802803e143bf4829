"""The fleet's one OpenAPI (scripts/openapi/merge.py), its Postman collection and curl examples.

* The merge refuses conflicting documents (same path or component name meaning different things,
  unroutable paths, duplicate operationIds) instead of overwriting one with the other.
* Drift: the committed document (served by the gateway at /api/v1/openapi.json) is exactly what
  the services' apps produce today; every ``/api/`` route of every built service is in it.
* examples/postman is what tools/api/postman.mjs generates from it; examples/curl passes
  shellcheck. (Both run against a live fleet in tests/e2e/test_api_clients.py.)
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from typing import Any

import pytest

from scripts.openapi.merge import (
    OUTPUT,
    MergeConflict,
    api_routes,
    drift,
    merge,
    render,
    service_documents,
)
from tests.deploy.support import ROOT, find_tool, parse, run

pytestmark = pytest.mark.unit

API_TOOLS = ROOT / "tools" / "api"


def _op(op_id: str, ref: str = "Thing") -> dict[str, Any]:
    return {
        "operationId": op_id,
        "responses": {"200": {"content": {"application/json": {"schema": {"$ref": f"#/c/{ref}"}}}}},
    }


def _doc(paths: dict[str, Any], schemas: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "x", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas or {}},
    }


JOB = {"Job": {"type": "object", "properties": {"id": {"type": "string"}}}}
ROUTES = {"datasets": "data", "jobs": "data", "runs": "training"}


def two_services() -> dict[str, dict[str, Any]]:
    """data and training, both serving the shared jobs route (owned by data)."""
    return {
        "data": _doc(
            {
                "/api/v1/datasets": {"post": _op("create_dataset")},
                "/api/v1/jobs/{job_id}": {"get": _op("get_job", "Job")},
                "/healthz": {},
            },
            {**JOB, "Thing": {"type": "object"}},
        ),
        "training": _doc(
            {
                "/api/v1/runs": {"post": _op("create_run")},
                "/api/v1/jobs/{job_id}": {"get": _op("get_job", "Job")},
                "/readyz": {},
            },
            {**JOB, "Run": {"type": "object"}},
        ),
    }


class TestMerge:
    def test_merges_paths_and_components_once(self) -> None:
        merged = merge(two_services(), ROUTES)
        assert list(merged["paths"]) == [
            "/api/v1/datasets",
            "/api/v1/jobs/{job_id}",
            "/api/v1/runs",
        ]
        assert set(merged["components"]["schemas"]) == {"Job", "Thing", "Run"}
        run_op = merged["paths"]["/api/v1/runs"]["post"]
        assert run_op["x-tradeopt-service"] == "training" and run_op["tags"] == ["training"]
        # the shared route comes from its owner (the gateway routes jobs to data)
        assert merged["paths"]["/api/v1/jobs/{job_id}"]["get"]["x-tradeopt-service"] == "data"
        # per-service routes (/healthz, /readyz) are not the gateway's API
        assert api_routes(merged) == {
            ("POST", "/api/v1/datasets"),
            ("GET", "/api/v1/jobs/{job_id}"),
            ("POST", "/api/v1/runs"),
        }
        assert render(merged) == render(merge(two_services(), ROUTES))  # stable

    def test_same_schema_name_different_meaning_is_a_conflict(self) -> None:
        docs = two_services()
        docs["training"]["components"]["schemas"]["Thing"] = {"type": "string"}
        with pytest.raises(MergeConflict) as err:
            merge(docs, ROUTES)
        assert err.value.problems == [
            "components/schemas/Thing: training's differs from data's (same name, different "
            "meaning: rename one of them)"
        ]

    def test_shared_route_that_differs_from_its_owner_is_a_conflict(self) -> None:
        docs = two_services()
        docs["training"]["paths"]["/api/v1/jobs/{job_id}"]["get"]["summary"] = "other"
        with pytest.raises(MergeConflict, match=r"training: path /api/v1/jobs/\{job_id\} differs"):
            merge(docs, ROUTES)

    def test_route_its_owner_does_not_serve_is_a_conflict(self) -> None:
        docs = two_services()
        docs["training"]["paths"]["/api/v1/datasets/{dataset_id}/x"] = {"get": _op("x")}
        with pytest.raises(MergeConflict, match=r"belongs to data .* would answer 404"):
            merge(docs, ROUTES)

    def test_unrouted_path_is_a_conflict(self) -> None:
        docs = two_services()
        docs["training"]["paths"]["/api/v1/widgets"] = {"get": _op("widgets")}
        with pytest.raises(MergeConflict, match="/api/v1/widgets is routed by no gateway resource"):
            merge(docs, ROUTES)

    def test_duplicate_operation_id_is_a_conflict(self) -> None:
        docs = two_services()
        docs["training"]["paths"]["/api/v1/runs"]["post"]["operationId"] = "create_dataset"
        with pytest.raises(MergeConflict, match="operationId 'create_dataset'"):
            merge(docs, ROUTES)


@pytest.fixture(scope="module")
def fleet_documents() -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Every built service's own document (its app built in-process) and the gateway map."""
    return service_documents(ROOT)


class TestCommittedDocument:
    def test_is_what_the_services_produce(self, fleet_documents) -> None:
        docs, routes = fleet_documents
        merged = merge(docs, routes)
        committed = json.loads((ROOT / OUTPUT).read_text())
        assert not drift(committed, merged), "\n".join(drift(committed, merged))
        assert (ROOT / OUTPUT).read_text() == render(merged), (
            "docker/nginx/api-docs/openapi.json is stale: run `make openapi`"
        )

    def test_every_service_route_is_in_it(self, fleet_documents) -> None:
        docs, _ = fleet_documents
        committed = api_routes(json.loads((ROOT / OUTPUT).read_text()))
        for service, doc in docs.items():
            missing = api_routes(doc) - committed
            assert not missing, f"{service} serves routes missing from {OUTPUT}: {missing}"
            assert api_routes(doc), f"{service} has no /api/ routes"

    def test_a_missing_route_is_named(self, fleet_documents) -> None:
        docs, routes = fleet_documents
        merged = merge(docs, routes)
        committed = copy.deepcopy(merged)
        del committed["paths"]["/api/v1/runs/{run_id}"]["get"]
        assert drift(committed, merged) == [
            "missing from the committed document: GET /api/v1/runs/{run_id}"
        ]

    def test_main_calls_and_auth_are_documented(self) -> None:
        doc = json.loads((ROOT / OUTPUT).read_text())
        for method, path in [
            ("POST", "/api/v1/datasets"),
            ("POST", "/api/v1/runs"),
            ("POST", "/api/v1/studies"),
            ("POST", "/api/v1/evaluations"),
            ("GET", "/api/v1/evaluations/{evaluation_id}/report"),
            ("POST", "/api/v1/strategies"),
            ("POST", "/api/v1/paper-sessions"),
            ("GET", "/api/v1/jobs/{job_id}"),
            ("POST", "/api/v1/auth/session"),
        ]:
            assert (method, path) in api_routes(doc), (method, path)
        assert set(doc["components"]["securitySchemes"]) >= {"HTTPBearer", "APIKeyCookie"}
        assert doc["servers"][0]["url"] == "/"


def test_postman_collection_is_generated_from_the_document() -> None:
    """tools/api/postman.mjs --check: the committed collection and environment are current."""
    if not (API_TOOLS / "node_modules" / "openapi-to-postmanv2").is_dir():
        pytest.fail("tools/api is not installed: run `make api-tools`", pytrace=False)
    node = shutil.which("node")
    assert node, "node is not installed"
    run([node, str(API_TOOLS / "postman.mjs"), "--check"])
    collection = json.loads(
        (ROOT / "examples/postman/tradeopt.postman_collection.json").read_text()
    )
    flow = next(item for item in collection["item"] if item["name"] == "Main flow")
    assert [step["name"] for step in flow["item"]][:3] == [
        "01 create dataset",
        "02 replay dataset creation",
        "03 wait for dataset",
    ]
    for step in flow["item"]:
        tests = [e for e in step["event"] if e["listen"] == "test"]
        assert tests and any("pm.test(" in line for line in tests[0]["script"]["exec"]), step[
            "name"
        ]
    creating = [s for s in flow["item"] if s["request"]["method"] == "POST"]
    keyed = [
        s for s in creating if any(h["key"] == "Idempotency-Key" for h in s["request"]["header"])
    ]
    assert len(keyed) == 4  # every creating POST of the flow but the invalid one


def test_curl_examples_pass_shellcheck() -> None:
    scripts = sorted((ROOT / "examples" / "curl").glob("*.sh"))
    assert {s.name for s in scripts} == {
        *("lib.sh", "datasets.sh", "train.sh", "evaluate.sh", "pipeline.sh", "study.sh", "jobs.sh")
    }
    run([find_tool("shellcheck"), "-x", *map(str, scripts)])


def test_gateway_image_builds_the_api_docs_from_the_lockfile() -> None:
    """docker/gateway.Dockerfile: an `api-docs` stage runs `npm ci --omit=dev` on tools/api's
    lockfile (swagger-ui-dist only: the Postman tools are devDependencies), and the final image
    serves its output from the roots the template's variables name."""
    df = parse(ROOT / "docker" / "gateway.Dockerfile")
    (stage,) = [s for s in df.stages if s.name == "api-docs"]
    assert stage.base == "${NODE_IMAGE}" and df.global_args["NODE_IMAGE"].startswith("node:20")
    copied = " ".join(stage.all("COPY"))
    assert "tools/api/package.json tools/api/package-lock.json tools/api/.npmrc" in copied
    assert "docker/nginx/api-docs/" in copied
    (install,) = stage.all("RUN")
    assert "npm ci --omit=dev --ignore-scripts" in install
    assert "node_modules/swagger-ui-dist/." in install
    final_copies = df.final.all("COPY")
    env = " ".join(df.final.all("ENV"))
    for root, source in (
        ("API_DOCS_ROOT", "/out/api-docs/"),
        ("SWAGGER_UI_ROOT", "/out/swagger-ui/"),
    ):
        target = re.search(rf"{root}=(\S+)", env)
        assert target, root
        assert any(
            c.startswith("--from=api-docs") and source in c and c.endswith(target[1] + "/")
            for c in final_copies
        ), (root, final_copies)
    package = json.loads((API_TOOLS / "package.json").read_text())
    assert set(package["dependencies"]) == {"swagger-ui-dist"}
    assert {"newman", "openapi-to-postmanv2"} <= set(package["devDependencies"])
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in package["dependencies"].values())
    assert "ignore-scripts=true" in (API_TOOLS / ".npmrc").read_text()
