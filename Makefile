# tradeopt — developer entry points. `make test` is the CI command; `make demo` the first run.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# The services (packages, ports, image kinds) come from services.yaml: mk/services.mk is generated
# by `make generate`.
include mk/services.mk
PACKAGES := -e libs/common -e 'libs/ml[rl,online]' $(SERVICE_PACKAGES) -e 'cli[pipeline]'
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help generate check-generated guardrails install system-deps services lock lint format test test-unit test-integration test-e2e soak demo dev down status db-upgrade clean deploy api-tools openapi postman web

help:  ## list targets
	@grep -E '^[a-zA-Z_-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements/constraints.txt requirements/dev.txt libs/common/pyproject.toml libs/ml/pyproject.toml $(SERVICE_PYPROJECTS) cli/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c requirements/constraints.txt $(PACKAGES) -r requirements/dev.txt
	touch $@

generate: install api-tools  ## regenerate every file derived from services.yaml (k8s/services, mk/services.mk, gateway map, ...), the merged OpenAPI and the Postman collection
	$(PY) -m scripts.manifest.generate
	$(PY) -m scripts.openapi.merge
	node tools/api/postman.mjs

check-generated: install api-tools  ## fail if a generated or checked file disagrees with services.yaml, the merged OpenAPI with the services' routes, or examples/postman with the OpenAPI
	$(PY) -m scripts.manifest.generate --check
	$(PY) -m scripts.openapi.merge --check
	node tools/api/postman.mjs --check

# --- API tooling (tools/api: swagger-ui-dist for /api/docs, openapi-to-postmanv2, newman) -------
API_TOOLS_STAMP := tools/api/node_modules/.installed
$(API_TOOLS_STAMP): tools/api/package.json tools/api/package-lock.json
	cd tools/api && npm ci --no-audit --no-fund
	touch $@

api-tools: $(API_TOOLS_STAMP)  ## npm ci of tools/api (Swagger UI assets, Postman generator, newman); a no-op when current

openapi: install api-tools  ## regenerate the merged OpenAPI (docker/nginx/api-docs/openapi.json) from the services' apps, then examples/postman
	$(PY) -m scripts.openapi.merge
	node tools/api/postman.mjs

postman: api-tools  ## regenerate examples/postman/ from the merged OpenAPI (openapi-to-postmanv2) and the flow's scripts
	node tools/api/postman.mjs

install: $(VENV)/.installed  ## create .venv and install every package editable (pinned)

system-deps: install  ## system tools the tests need (nginx, promtool, shellcheck, compose, kubectl...); idempotent
	bash scripts/install-system-deps.sh

services:  ## start PostgreSQL and Redis on 127.0.0.1 when they are down
	bash scripts/ensure-services.sh

lock: install  ## re-pin requirements/constraints.txt from the venv
	{ echo '# Pinned versions of every third-party dependency (pip freeze of the dev venv). Regenerate with `make lock`.'; \
	  $(PIP) freeze --exclude-editable | sed 's/^torch==2.13.0+cpu$$/torch==2.13.0/'; } > requirements/constraints.txt

lint: install check-generated guardrails  ## ruff, import contracts, mypy, and every generated/checked file agrees with services.yaml
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check libs services cli tests

guardrails: install  ## import-linter contracts (.importlinter) and mypy on libs/ (mypy.ini)
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: install  ## ruff format + autofix
	$(VENV)/bin/ruff format libs services cli tests
	$(VENV)/bin/ruff check --fix .

test: install system-deps services api-tools check-generated guardrails  ## installs what it needs, then check-generated + ruff + import contracts + mypy + every test — the CI command
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

test-unit: install  ## fast tests only
	$(PY) -m pytest -m unit

test-integration: install system-deps services  ## tests with real PostgreSQL, Redis, S3 and workers
	$(PY) -m pytest -m integration

test-e2e: install system-deps services api-tools  ## the local fleet behind nginx
	$(PY) -m pytest -m e2e

SOAK_SECONDS ?= 600
soak: install system-deps  ## fault soak: own fleet + throwaway PostgreSQL/Redis, jobs under worker kills, Redis/PostgreSQL restarts, bad requests (SOAK_SECONDS=600)
	SOAK_SECONDS=$(SOAK_SECONDS) $(PY) -m scripts.soak

demo: install  ## the one-command demo: dataset -> train -> tune -> evaluate, in-process (SQLite + ./.tradeopt)
	$(VENV)/bin/tradeopt pipeline run examples/spy_ppo.yaml

# The dashboard (web/): `npm ci && npm run build` into web/dist, only when a source changed (the
# stamp is newer than every file of web/ outside node_modules and dist). Needs Node >= 20.19 and
# npm; the build fails when the first page's JS exceeds 250 KB gzipped
# (web/scripts/check-bundle-size.mjs). nginx serves web/dist at / (scripts/fleet/fleetctl.py).
WEB_SOURCES := $(shell find web -path web/node_modules -prune -o -path web/dist -prune -o -path web/tests -prune -o -path web/test-results -prune -o -type f -print 2>/dev/null)
WEB_STAMP := web/dist/.stamp

$(WEB_STAMP): $(WEB_SOURCES)
	@command -v npm >/dev/null || { echo "make web: npm not found (Node >= 20.19 with npm is needed to build the dashboard)" >&2; exit 1; }
	cd web && npm ci --no-audit --no-fund --loglevel=error && npm run build
	touch $@

web: $(WEB_STAMP)  ## build the dashboard (web/ -> web/dist) when web/ changed

dev: install web api-tools  ## start the local fleet (APIs, workers, beat, S3, nginx on :8080, the dashboard at /) as processes
	bash scripts/fleet.sh up

down:  ## stop the local fleet
	bash scripts/fleet.sh down

status:  ## show the local fleet's processes
	bash scripts/fleet.sh status

db-upgrade: install  ## migrate the configured database
	$(VENV)/bin/tradeopt db upgrade

clean:  ## remove caches and local data (keeps .venv)
	rm -rf .tradeopt .run .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

TARGET ?=
OVERLAY ?= prod
deploy:  ## build, push, roll out: TARGET=compose|k8s VERSION=x.y.z [REGISTRY=..] [OVERLAY=prod] [DRY_RUN=1]
	bash scripts/deploy.sh --target "$(TARGET)" --version "$(VERSION)" --registry "$(REGISTRY)" \
		--overlay "$(OVERLAY)" $(if $(filter 1 true yes,$(DRY_RUN)),--dry-run)

-include docker/images.mk
