"""Schema and loader of ``services.yaml`` (pydantic; unknown fields are an error)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = "services.yaml"
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti)?$"


class ManifestError(ValueError):
    """services.yaml is missing, malformed or inconsistent (the message says where)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Quantities(_Strict):
    """CPU and memory in Kubernetes quantity notation (``250m``, ``"1"``, ``512Mi``)."""

    cpu: str = Field(pattern=QUANTITY)
    memory: str = Field(pattern=QUANTITY)


class Resources(_Strict):
    """Requests and limits of one container."""

    requests: Quantities
    limits: Quantities


class Api(_Strict):
    """The service's HTTP API process (uvicorn)."""

    startup_seconds: int = Field(default=60, ge=10)
    resources: Resources
    env: dict[str, str] = {}


class ScaleIn(_Strict):
    """How slowly the worker autoscaler removes pods (one pod per ``period_seconds``)."""

    stabilization_seconds: int = Field(ge=0)
    period_seconds: int = Field(ge=15)


class Worker(_Strict):
    """The service's Celery worker (consumes its queues plus ``maintenance``)."""

    pool: Literal["threads", "prefork", "solo"] = "threads"
    concurrency: int = Field(ge=1)
    soft_shutdown_seconds: int = Field(default=60, ge=0)
    grace_seconds: int = Field(ge=1)
    max_replicas: int = Field(default=8, ge=1)
    scale_in: ScaleIn
    tmp_size: str = Field(default="1Gi", pattern=QUANTITY)
    resources: Resources
    env: dict[str, str] = {}

    @model_validator(mode="after")
    def _grace_above_soft_shutdown(self) -> Worker:
        if self.grace_seconds <= self.soft_shutdown_seconds:
            raise ValueError(
                f"grace_seconds ({self.grace_seconds}) must exceed soft_shutdown_seconds "
                f"({self.soft_shutdown_seconds}): running jobs need time to requeue"
            )
        return self


class Service(_Strict):
    """One service of the fleet (DESIGN §1)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9]*$")
    status: Literal["built", "planned"]
    port: int = Field(ge=1024, le=65535)
    queues: list[str] = Field(min_length=1)
    image: Literal["base", "compute"]
    gateway: list[str] = Field(min_length=1)
    package: str = ""
    dist: str = ""
    path: str = ""
    api: Api | None = None
    worker: Worker | None = None

    @model_validator(mode="after")
    def _conventions(self) -> Service:
        # Names follow STYLE §3.4; explicit values must agree with them.
        for field, expected in (
            ("package", f"tradeopt_{self.name}"),
            ("dist", f"tradeopt-{self.name}"),
            ("path", f"services/{self.name}"),
        ):
            value = getattr(self, field)
            if not value:
                object.__setattr__(self, field, expected)
            elif value != expected:
                raise ValueError(f"{field} is {value!r}; the convention is {expected!r}")
        if self.queues[0] != self.name:
            raise ValueError(f"the first queue must be the service's name {self.name!r}")
        for resource in self.gateway:
            if not re.fullmatch(r"[a-z][a-z0-9-]*", resource):
                raise ValueError(f"gateway resource {resource!r} is not a plural path segment")
        if self.status == "built" and (self.api is None or self.worker is None):
            raise ValueError("a built service needs its `api` and `worker` sections")
        return self

    @property
    def built(self) -> bool:
        """Whether the service exists and runs (not merely planned)."""
        return self.status == "built"

    @property
    def upper(self) -> str:
        """``DATA`` for ``data``: the prefix of its variables (``DATA_UPSTREAM``)."""
        return self.name.upper()

    @property
    def image_name(self) -> str:
        """The service's image (DESIGN §1)."""
        return f"trading-optimization-{self.name}"

    @property
    def worker_queues(self) -> str:
        """The ``-Q`` argument of its worker: its queues plus the fleet's ``maintenance``."""
        return ",".join([*self.queues, "maintenance"])

    def api_argv(self, host: str = "0.0.0.0") -> list[str]:  # noqa: S104 (in a container)
        """The API process (uvicorn, app factory) on the service's port."""
        return [
            "uvicorn",
            f"{self.package}.app:create_app",
            "--factory",
            "--host",
            host,
            "--port",
            str(self.port),
        ]

    def worker_argv(self) -> list[str]:
        """The Celery worker process on the service's queues."""
        assert self.worker is not None, f"{self.name} has no worker"
        return [
            "celery",
            "-A",
            f"{self.package}.worker:celery_app",
            "worker",
            "-Q",
            self.worker_queues,
            f"--pool={self.worker.pool}",
            f"--concurrency={self.worker.concurrency}",
            "--loglevel=INFO",
        ]


class Manifest(_Strict):
    """The whole of services.yaml."""

    version: Literal[1]
    services: list[Service]

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("services"), dict):
            services = []
            for name, body in data["services"].items():
                if not isinstance(body, dict):
                    raise ValueError(f"services.{name} must be a mapping")
                services.append({"name": name, **body})
            data = {**data, "services": services}
        return data

    @model_validator(mode="after")
    def _unique(self) -> Manifest:
        for what, values in (
            ("port", [s.port for s in self.services]),
            ("queue", [q for s in self.services for q in s.queues]),
            ("gateway resource", [r for s in self.services for r in s.gateway]),
        ):
            dupes = sorted({str(v) for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"{what} used by more than one service: {', '.join(dupes)}")
        if "maintenance" in [q for s in self.services for q in s.queues]:
            raise ValueError("queue `maintenance` is the fleet's own (every worker consumes it)")
        return self

    def built(self) -> list[Service]:
        """The services that exist and run, in manifest order."""
        return [s for s in self.services if s.built]

    def planned(self) -> list[Service]:
        """The services that are designed but not built yet."""
        return [s for s in self.services if not s.built]

    def get(self, name: str) -> Service:
        """A service by name (KeyError when unknown)."""
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)


def load(root: Path = ROOT) -> Manifest:
    """Read and validate ``root/services.yaml``; built services must have their folder.

    Raises:
        ManifestError: naming the field or service that is wrong.
    """
    path = root / MANIFEST
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ManifestError(f"{path}: {exc}") from exc
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in err['loc']) or '<top>'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ManifestError(f"{path} is invalid:\n" + "\n".join(lines)) from None
    for service in manifest.built():
        if not (root / service.path / "pyproject.toml").is_file():
            raise ManifestError(
                f"{path}: service {service.name!r} is `built` but {service.path}/pyproject.toml "
                "does not exist (mark it `planned` until its folder lands)"
            )
    return manifest
