#!/usr/bin/env python3
"""Print the third-party requirements of local tradeopt projects, one per line.

Used by the Dockerfiles to install dependencies *before* the source is copied (layer caching):
only the ``pyproject.toml`` files need to be in the build context at that point.

    python requirements.py --root /src services/data          # data + its local deps
    python requirements.py --root /src 'libs/ml[rl]'           # ml with the rl extra
    python requirements.py --root /src --local services/data   # the local project folders instead

Local dependencies (``tradeopt-*``) are followed transitively, with their extras, by looking for
their ``pyproject.toml`` under ``--root`` (``libs/*``, ``services/*``, ``cli``); they are not
printed.
Standard library only (runs before anything is installed).
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

LOCAL_PREFIX = "tradeopt-"
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*(.*)$")
_ARG = re.compile(r"^([^\[\]]+?)(?:\[([^\]]*)\])?$")


def normalize(name: str) -> str:
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse(requirement: str) -> tuple[str, set[str], str]:
    """Split a PEP 508 requirement into (normalised name, extras, rest incl. version and marker)."""
    match = _REQ.match(requirement)
    if not match:
        raise ValueError(f"cannot parse requirement {requirement!r}")
    name, extras, rest = match.groups()
    return normalize(name), {e.strip() for e in (extras or "").split(",") if e.strip()}, rest


def discover(root: Path) -> dict[str, Path]:
    """Map normalised distribution name -> pyproject.toml of every local project under root."""
    projects: dict[str, Path] = {}
    for pattern in ("libs/*/pyproject.toml", "services/*/pyproject.toml", "cli/pyproject.toml"):
        for path in sorted(root.glob(pattern)):
            name = tomllib.loads(path.read_text())["project"]["name"]
            projects[normalize(name)] = path
    return projects


def resolve(root: Path, targets: list[str]) -> tuple[list[str], list[str]]:
    """(third-party requirements, local project folders) of the targets and their local deps."""
    projects = discover(root)
    by_path = {path.parent.resolve(): name for name, path in projects.items()}
    queue: list[tuple[str, set[str]]] = []
    for target in targets:
        match = _ARG.match(target)
        if not match:
            raise ValueError(f"bad target {target!r}")
        folder, extras = match.groups()
        key = (root / folder).resolve()
        if key not in by_path:
            raise SystemExit(f"requirements.py: no pyproject.toml for {folder!r} under {root}")
        queue.append((by_path[key], {e.strip() for e in (extras or "").split(",") if e.strip()}))

    seen: set[tuple[str, str]] = set()
    out: dict[str, None] = {}
    local: dict[str, None] = {}
    while queue:
        name, extras = queue.pop(0)
        local[name] = None
        project = tomllib.loads(projects[name].read_text())["project"]
        groups = [("", project.get("dependencies", []))]
        optional = project.get("optional-dependencies", {})
        for extra in sorted(extras):
            if extra not in optional:
                raise SystemExit(f"requirements.py: {name} has no extra {extra!r}")
            groups.append((extra, optional[extra]))
        for group, requirements in groups:
            if (name, group) in seen:
                continue
            seen.add((name, group))
            for requirement in requirements:
                dep, dep_extras, _ = parse(requirement)
                if dep.startswith(LOCAL_PREFIX):
                    if dep not in projects:
                        raise SystemExit(
                            f"requirements.py: {name} needs {dep}, but its pyproject.toml is not "
                            f"under {root} (COPY it in the Dockerfile's dependency stage)"
                        )
                    queue.append((dep, dep_extras))
                else:
                    out[requirement.strip()] = None
    folders = sorted(projects[name].parent.relative_to(root).as_posix() for name in local)
    return sorted(out, key=lambda r: (parse(r)[0], r)), folders


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; prints one requirement (or project folder) per line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    parser.add_argument(
        "--exclude", action="append", default=[], help="distribution to leave out (repeatable)"
    )
    parser.add_argument(
        "--local", action="store_true", help="print the local project folders, not requirements"
    )
    parser.add_argument(
        "targets", nargs="+", help="project folders, e.g. services/data, 'libs/ml[rl]'"
    )
    args = parser.parse_args(argv)
    excluded = {normalize(name) for name in args.exclude}
    requirements, folders = resolve(args.root, args.targets)
    if args.local:
        print("\n".join(folders))
        return 0
    for requirement in requirements:
        if parse(requirement)[0] not in excluded:
            print(requirement)
    return 0


if __name__ == "__main__":
    sys.exit(main())
