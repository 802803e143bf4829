# syntax=docker/dockerfile:1.7
# One image per service, trading-optimization-<SERVICE>, running the API, the worker and the
# one-shots (see docker/entrypoint.sh). Build from the repository root:
#   docker build -f docker/service.Dockerfile --build-arg SERVICE=data --build-arg SERVICE_PORT=8001 \
#     --build-arg BASE_IMAGE=trading-optimization-base:$VERSION -t trading-optimization-data:$VERSION .
# training/tuning/evaluation use BASE_IMAGE=trading-optimization-compute:$VERSION.
ARG BASE_IMAGE=trading-optimization-base:dev

# --- requirements: third-party deps of the service, from pyproject files only ----------------
FROM ${BASE_IMAGE} AS requirements
ARG SERVICE
# hadolint ignore=DL3002  # build stage, never run
USER 0
WORKDIR /build
COPY requirements/constraints.txt docker/scripts/requirements.py ./
COPY libs/common/pyproject.toml src/libs/common/
COPY libs/ml/pyproject.toml src/libs/ml/
COPY services/${SERVICE}/pyproject.toml src/services/${SERVICE}/
RUN test -n "${SERVICE}" || { echo "--build-arg SERVICE=<name> is required" >&2; exit 1; } \
 && python requirements.py --root src "services/${SERVICE}" > requirements.txt \
 && python requirements.py --root src --local "services/${SERVICE}" > local-projects.txt

# --- builder: wheels of the local projects the service needs ---------------------------------
FROM ${BASE_IMAGE} AS builder
ARG SERVICE
# hadolint ignore=DL3002  # build stage, never run
USER 0
WORKDIR /build
COPY requirements/constraints.txt ./
COPY libs/ libs/
COPY services/${SERVICE}/ services/${SERVICE}/
RUN --mount=type=bind,from=requirements,source=/build/local-projects.txt,target=/tmp/local-projects.txt \
    --mount=type=cache,target=/root/.cache/pip \
    xargs pip wheel --no-deps -c constraints.txt --wheel-dir /wheels < /tmp/local-projects.txt

# --- runtime ----------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS runtime
ARG SERVICE
ARG SERVICE_PORT=8001
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="trading-optimization-${SERVICE}" \
      org.opencontainers.image.description="tradeopt ${SERVICE} service: API and Celery worker" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.vendor="tradeopt"

USER 0
COPY --chmod=0755 docker/entrypoint.sh /usr/local/bin/tradeopt-entrypoint

# Dependencies before code: this layer changes only with a pyproject.toml or the constraints.
RUN --mount=type=bind,from=requirements,source=/build,target=/build \
    --mount=type=cache,target=/root/.cache/pip \
    pip install -c /build/constraints.txt -r /build/requirements.txt

RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-deps --no-index /wheels/*.whl \
 && python -c "import tradeopt_${SERVICE}.app"

ENV PYTHONUNBUFFERED=1 \
    TRADEOPT_SERVICE=${SERVICE} \
    TRADEOPT_PORT=${SERVICE_PORT} \
    TRADING_OPT_WORKER_METRICS_PORT=9808
EXPOSE ${SERVICE_PORT} 9808
WORKDIR /app
USER 10001:10001

# API liveness; compose/k8s override it for the worker, beat and one-shot roles.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('TRADEOPT_PORT', '8001') + '/healthz', timeout=4)"]

ENTRYPOINT ["tini", "--", "tradeopt-entrypoint"]
CMD ["api"]
