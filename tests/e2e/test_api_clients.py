"""End to end: the API's clients against the live fleet behind the gateway (issue 14).

* the merged OpenAPI at /api/v1/openapi.json (the committed document, covering every live
  service's own routes) and Swagger UI at /api/docs/ with its assets from npm (no CDN);
* the Postman collection's main flow (dataset -> run -> evaluation -> report, with
  Idempotency-Key) run by newman: 0 failed assertions;
* examples/curl/*.sh, chained: datasets (with a rejected upload's row report), train, evaluate,
  the pipeline (reusing the run; its re-run replays everything), a small study, and jobs (SSE,
  cancel, 409) exit 0.

Small on purpose (a few hundred timesteps per run): the flows are what is tested, not training.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from scripts.openapi.merge import OUTPUT, api_routes
from tests.e2e.conftest import MANIFEST, REPO, Fleet

pytestmark = pytest.mark.e2e

API_TOOLS = REPO / "tools" / "api"
TIMESTEPS = 256  # PPO still collects one rollout (n_steps): a few seconds per run


@pytest.fixture(scope="module")
def api_tools() -> Path:
    """tools/api installed (`make api-tools`: npm ci, a no-op when the stamp is current)."""
    subprocess.run(["make", "-s", "api-tools"], cwd=REPO, check=True, timeout=300)
    assert (API_TOOLS / "node_modules" / "swagger-ui-dist" / "swagger-ui-bundle.js").is_file()
    return API_TOOLS


def _client(fleet: Fleet) -> httpx.Client:
    return httpx.Client(base_url=fleet.gateway, timeout=30)


def test_merged_openapi_and_swagger_ui_through_the_gateway(fleet: Fleet, api_tools: Path) -> None:
    with _client(fleet) as client:
        resp = client.get("/api/v1/openapi.json")  # open, like the services' own documents
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("application/json")
        merged = resp.json()
        assert merged == json.loads((REPO / OUTPUT).read_text())
        merged_routes = api_routes(merged)
        # drift against the running services: each one's live /api/ routes are in the document
        for service in MANIFEST.built():
            own = httpx.get(f"http://127.0.0.1:{fleet.ports[service.name]}/openapi.json").json()
            missing = api_routes(own) - merged_routes
            assert not missing, f"{service.name} serves routes missing from {OUTPUT}: {missing}"

        docs = client.get("/api/docs", follow_redirects=False)
        assert docs.status_code == 301 and docs.headers["location"] == "/api/docs/"
        page = client.get("/api/docs/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "swagger-ui-bundle.js" in page.text and "swagger-initializer.js" in page.text
        assert "cdn" not in page.text.lower()
        init = client.get("/api/docs/swagger-initializer.js")
        assert init.status_code == 200 and '"/api/v1/openapi.json"' in init.text
        assert "petstore" not in init.text
        for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
            got = client.get(f"/api/docs/{asset}")
            shipped = (api_tools / "node_modules" / "swagger-ui-dist" / asset).read_bytes()
            assert got.status_code == 200 and got.content == shipped, asset
        # the API itself still goes to the services, and still wants a key
        assert client.get("/api/v1/runs").status_code == 401

    # Swagger UI really renders the document in a browser: one block per operation.
    dom = _render(f"{fleet.gateway}/api/docs/")
    operations = sum(1 for _ in api_routes(merged))
    assert dom.count('class="opblock opblock-') == operations, dom[-2000:]
    assert 'data-path="/api/v1/runs/{run_id}"' in dom


def _render(url: str) -> str:
    """The DOM of ``url`` after its scripts ran, from headless Chromium (Debian's package,
    scripts/install-system-deps.sh)."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, "chromium is not installed: run scripts/install-system-deps.sh"
    out = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_newman_runs_the_postman_main_flow(fleet: Fleet, api_tools: Path, tmp_path: Path) -> None:
    report = tmp_path / "newman.json"
    started = time.monotonic()
    out = subprocess.run(
        [
            str(api_tools / "node_modules" / ".bin" / "newman"),
            "run",
            str(REPO / "examples/postman/tradeopt.postman_collection.json"),
            "--environment",
            str(REPO / "examples/postman/tradeopt.postman_environment.json"),
            "--folder",
            "Main flow",
            "--env-var",
            f"baseUrl={fleet.gateway}",
            "--env-var",
            f"apiKey={fleet.api_key}",
            "--env-var",
            f"timesteps={TIMESTEPS}",
            "--env-var",
            "pollMs=500",
            "--env-var",
            "maxPolls=240",
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(report),
            "--disable-unicode",
            "--color",
            "off",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    print(f"newman: {time.monotonic() - started:.1f}s")
    assert out.returncode == 0, f"{out.stdout}\n{out.stderr}\n{fleet.logs(30)}"
    stats = json.loads(report.read_text())["run"]["stats"]
    assert stats["assertions"]["failed"] == 0, out.stdout
    assert stats["assertions"]["total"] >= 25, stats  # every step's tests ran
    assert stats["requests"]["failed"] == 0, stats


def _curl_env(fleet: Fleet, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "API": fleet.gateway,
        "TRADING_OPT_API_KEY": fleet.api_key,
        "POLL_SECONDS": "0.5",
        **extra,
    }


def _script(name: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash and shutil.which("jq") and shutil.which("curl"), "bash, curl and jq are needed"
    return subprocess.run(
        [bash, str(REPO / "examples" / "curl" / name)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def _last_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


def test_curl_scripts_run_against_the_fleet(fleet: Fleet, tmp_path: Path) -> None:
    """Every script of examples/curl, chained the way a user would (one Idempotency-Key prefix:
    the pipeline reuses train.sh's run instead of training again)."""
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "timestamp,open,high,low,close,volume\n"
        "2020-01-02,10,11,9,10.5,100\n"
        "2020-01-03,10,9,9.5,10.5,100\n"  # high below open and close
        "2020-01-06,10,11,9,-1,100\n"  # non-positive close
    )
    prefix = f"e2e-{time.time_ns()}"
    common = {"IDEMPOTENCY_PREFIX": prefix, "TIMESTEPS": str(TIMESTEPS)}
    started = time.monotonic()

    datasets = _script(
        "datasets.sh", _curl_env(fleet, tmp_path, BAD_CSV=str(bad), **common), tmp_path
    )
    dataset_id = _last_line(datasets)
    assert "422" in datasets.stderr and "high below max(open, close)" in datasets.stderr
    ds = {"DATASET_ID": dataset_id, **common}

    model_id = _last_line(_script("train.sh", _curl_env(fleet, tmp_path, **ds), tmp_path))
    report = tmp_path / "evaluation.html"
    env = _curl_env(fleet, tmp_path, MODEL_ID=model_id, OUT=str(report), **ds)
    evaluate = _script("evaluate.sh", env, tmp_path)
    assert _last_line(evaluate) and "buy_and_hold" in evaluate.stderr
    assert "<html" in report.read_text().lower()

    env = _curl_env(fleet, tmp_path, SEEDS="0", OUT=str(tmp_path / "report.html"), **common)
    pipeline = _script("pipeline.sh", env, tmp_path)
    evaluation_id = _last_line(pipeline)
    assert f"model:{model_id}" in pipeline.stderr  # train.sh's run, replayed by its key
    assert "buy_and_hold" in pipeline.stderr and "sharpe 95% CI" in pipeline.stderr
    assert "<html" in (tmp_path / "report.html").read_text().lower()
    # the whole pipeline again with the same prefix: every POST replays its first response
    assert _last_line(_script("pipeline.sh", env, tmp_path)) == evaluation_id

    env = _curl_env(fleet, tmp_path, N_TRIALS="2", PARALLELISM="1", **{**ds, "TIMESTEPS": "128"})
    study = _script("study.sh", env, tmp_path)
    assert _last_line(study) != "null" and "complete" in study.stderr, study.stderr

    jobs = _script("jobs.sh", _curl_env(fleet, tmp_path, **ds), tmp_path)
    assert _last_line(jobs) == "canceled" and '"status":409' in jobs.stderr, jobs.stderr
    print(f"curl scripts: {time.monotonic() - started:.1f}s")
