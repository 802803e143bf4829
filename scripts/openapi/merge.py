"""One OpenAPI document for the whole fleet (DESIGN §3), merged from the services' own documents.

    python -m scripts.openapi.merge            # rewrite docker/nginx/api-docs/openapi.json
    python -m scripts.openapi.merge --check    # fail if the committed document is stale

Every built service of ``services.yaml`` builds its app in-process (``<package>.app:create_app``;
nothing is started, no database is touched) and contributes its ``/api/...`` paths. The gateway
routes by resource (``services.yaml`` ``gateway:``), so a path belongs to the service that owns
its first segment after ``/api/v1/``; the shared routes every service serves (``jobs``, ``keys``,
``auth``) come from their owner and must be **identical** in every other service. The merge
refuses, naming the services and the place, instead of letting one document overwrite another:

* a path served by a service that does not own it and differs from the owner's copy (or that the
  owner does not serve at all: the gateway would answer 404);
* a path that no gateway resource routes (unreachable through the gateway);
* a component (schema, security scheme, ...) of the same name with different content;
* an ``operationId`` used by two different operations.

Per-service routes outside ``/api/`` (``/healthz``, ``/readyz``, ``/metrics``) are not part of the
gateway's API and stay in each service's own ``/openapi.json``.

The result is committed (``docker/nginx/api-docs/openapi.json``) and served by the gateway at
``/api/v1/openapi.json``; ``make check-generated`` runs ``--check``, which names every route that
is missing from (or no longer in) the committed document.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = Path("docker/nginx/api-docs/openapi.json")
API_PREFIX = "/api/v1/"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
TITLE = "tradeopt API"
DESCRIPTION = (
    "The fleet's one public API through the gateway (DESIGN §3), merged from the services' own "
    "OpenAPI documents by `scripts/openapi/merge.py` (each operation names its service in "
    "`x-tradeopt-service`). Authenticate with `Authorization: Bearer <api key>` or the session "
    "cookie of `POST /api/v1/auth/session`. Errors are RFC 9457 `application/problem+json`. "
    "Creating `POST`s accept an `Idempotency-Key` header."
)

Document = dict[str, Any]


class MergeConflict(ValueError):
    """The services' documents disagree; the message lists every conflict found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("OpenAPI merge conflicts:\n  " + "\n  ".join(problems))


def owner_of(path: str, routes: Mapping[str, str]) -> str | None:
    """The service the gateway routes ``path`` to (``routes``: resource -> service), if any."""
    if not path.startswith(API_PREFIX):
        return None
    resource = re.split(r"[/{]", path[len(API_PREFIX) :], maxsplit=1)[0]
    return routes.get(resource)


def _operations(item: Mapping[str, Any]) -> Iterable[tuple[str, dict[str, Any]]]:
    for method in METHODS:
        if method in item:
            yield method, item[method]


def api_routes(doc: Mapping[str, Any]) -> set[tuple[str, str]]:
    """``{(METHOD, path)}`` of a document's gateway API (paths under ``/api/``)."""
    return {
        (method.upper(), path)
        for path, item in doc.get("paths", {}).items()
        if path.startswith("/api/")
        for method, _ in _operations(item)
    }


def merge(
    docs: Mapping[str, Document], routes: Mapping[str, str], *, version: str = "1"
) -> Document:
    """Merge ``docs`` (service -> its OpenAPI document, in manifest order) into one document.

    ``routes`` maps each gateway resource (``datasets``) to its owning service. Raises
    :class:`MergeConflict` listing every conflict (see the module docstring).
    """
    problems: list[str] = []
    paths: dict[str, dict[str, Any]] = {}
    path_source: dict[str, str] = {}
    shared: list[tuple[str, str, Any]] = []  # (service, path, item) served by a non-owner
    for service, doc in docs.items():
        for path, item in doc.get("paths", {}).items():
            if not path.startswith("/api/"):
                continue
            owner = owner_of(path, routes)
            if owner is None:
                problems.append(
                    f"{service}: path {path} is routed by no gateway resource "
                    f"(services.yaml `gateway:`), so it is unreachable through the gateway"
                )
            elif owner != service:
                shared.append((service, path, item))
            else:
                paths[path] = _tagged(item, service)
                path_source[path] = service
    for service, path, item in shared:
        owner = owner_of(path, routes)
        if path not in paths:
            problems.append(
                f"{service}: path {path} belongs to {owner} (gateway resource), which does not "
                f"serve it: the gateway would answer 404"
            )
        elif _tagged(item, owner or service) != paths[path]:
            problems.append(
                f"{service}: path {path} differs from its owner {owner}'s operation of the "
                f"same path (shared routes must be identical in every service)"
            )

    components: dict[str, dict[str, Any]] = {}
    component_source: dict[tuple[str, str], str] = {}
    for service, doc in docs.items():
        for kind, entries in doc.get("components", {}).items():
            bucket = components.setdefault(kind, {})
            for name, value in entries.items():
                if name not in bucket:
                    bucket[name] = value
                    component_source[(kind, name)] = service
                elif bucket[name] != value:
                    problems.append(
                        f"components/{kind}/{name}: {service}'s differs from "
                        f"{component_source[(kind, name)]}'s (same name, different meaning: "
                        f"rename one of them)"
                    )

    operation_ids: dict[str, str] = {}
    for path, item in paths.items():
        for method, operation in _operations(item):
            op_id = operation.get("operationId")
            if op_id is None:
                continue
            where = f"{method.upper()} {path} ({path_source[path]})"
            if op_id in operation_ids:
                problems.append(f"operationId {op_id!r} of {where} is also {operation_ids[op_id]}")
            else:
                operation_ids[op_id] = where

    if problems:
        raise MergeConflict(problems)

    tags: dict[str, dict[str, Any]] = {}
    for doc in docs.values():
        for tag in doc.get("tags", []):
            tags.setdefault(tag["name"], tag)
    for item in paths.values():
        for _, operation in _operations(item):
            for name in operation.get("tags", []):
                tags.setdefault(name, {"name": name})
    merged: Document = {
        "openapi": max(doc.get("openapi", "3.1.0") for doc in docs.values()) if docs else "3.1.0",
        "info": {"title": TITLE, "version": version, "description": DESCRIPTION},
        "servers": [
            {"url": "/", "description": "this gateway"},
            {"url": "http://localhost:8080", "description": "the local fleet (make dev)"},
        ],
        "paths": dict(sorted(paths.items())),
        "components": {kind: dict(sorted(v.items())) for kind, v in sorted(components.items())},
        "tags": sorted(tags.values(), key=lambda t: t["name"]),
    }
    return merged


def _tagged(item: Mapping[str, Any], service: str) -> dict[str, Any]:
    """A path item whose operations name their service (``x-tradeopt-service``) and carry a
    tag (the service's name when the router gave none), for Swagger UI's grouping.
    """
    out = dict(item)
    for method, operation in _operations(item):
        op = dict(operation)
        op.setdefault("tags", [service])
        op["x-tradeopt-service"] = service
        out[method] = op
    return out


# --- the fleet -----------------------------------------------------------------------------------


def service_documents(root: Path = ROOT) -> tuple[dict[str, Document], dict[str, str]]:
    """Each built service's OpenAPI document (its app built in-process) and the gateway's
    resource -> service map, from ``services.yaml``.
    """
    sys.path.insert(0, str(root))
    from scripts.manifest.model import load

    manifest = load(root)
    docs: dict[str, Document] = {}
    routes: dict[str, str] = {}
    # Building an app reads settings (no connection is made): keep the embedded defaults quiet,
    # and leave the caller's environment as it was (the tests build the documents in-process).
    previous = os.environ.get("TRADING_OPT_LOG_LEVEL")
    os.environ.setdefault("TRADING_OPT_LOG_LEVEL", "WARNING")
    try:
        for service in manifest.built():
            app = importlib.import_module(f"{service.package}.app").create_app()
            docs[service.name] = app.openapi()
            routes.update(dict.fromkeys(service.gateway, service.name))
    finally:
        if previous is None:
            os.environ.pop("TRADING_OPT_LOG_LEVEL", None)
    return docs, routes


def render(doc: Document) -> str:
    """The committed text of a document (stable: same input, same bytes)."""
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def drift(committed: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Routes of ``current`` missing from ``committed`` and vice versa, as readable lines."""
    have, want = api_routes(committed), api_routes(current)
    lines = [f"missing from the committed document: {m} {p}" for m, p in sorted(want - have)]
    lines += [f"no longer served by any service: {m} {p}" for m, p in sorted(have - want)]
    return lines


def main(argv: list[str] | None = None) -> int:
    """Entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the output is stale")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root")
    parser.add_argument("--output", type=Path, default=None, help=f"default: <root>/{OUTPUT}")
    args = parser.parse_args(argv)
    output = args.output or args.root / OUTPUT
    docs, routes = service_documents(args.root)
    try:
        merged = merge(docs, routes)
    except MergeConflict as exc:
        print(exc, file=sys.stderr)
        return 1
    text = render(merged)
    n_ops = len(api_routes(merged))
    if args.check:
        if not output.exists():
            print(f"{output} is missing: run `python -m scripts.openapi.merge`", file=sys.stderr)
            return 1
        if output.read_text() != text:
            committed = json.loads(output.read_text())
            details = drift(committed, merged) or ["content differs (schemas or descriptions)"]
            print(
                f"{output} is stale (run `python -m scripts.openapi.merge`):\n  "
                + "\n  ".join(details),
                file=sys.stderr,
            )
            return 1
        print(f"openapi: {output} is up to date ({len(merged['paths'])} paths, {n_ops} operations)")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    print(f"openapi: wrote {output} ({len(merged['paths'])} paths, {n_ops} operations)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
