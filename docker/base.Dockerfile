# syntax=docker/dockerfile:1.7
# trading-optimization-base: Python 3.11 with the third-party dependencies of tradeopt-common and
# tradeopt-ml (no torch), a virtualenv in /opt/venv, tini, and the non-root user 10001.
# Service images build FROM it (docker/service.Dockerfile); compute.Dockerfile adds torch.
#   docker build -f docker/base.Dockerfile -t trading-optimization-base:$VERSION .
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm
FROM ${PYTHON_IMAGE}

ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="trading-optimization-base" \
      org.opencontainers.image.description="tradeopt base image: Python 3.11 and core dependencies" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.vendor="tradeopt"

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    XDG_CACHE_HOME=/tmp/.cache \
    TRADING_OPT_DATA_DIR=/tmp/tradeopt \
    TRADING_OPT_LOG_JSON=true

# tini is PID 1 in every derived image: forwards signals, reaps Celery's prefork children.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tradeopt \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/tradeopt --create-home \
      --shell /usr/sbin/nologin tradeopt \
 && python -m venv "${VIRTUAL_ENV}"

# Only pyproject files and the constraints: source edits never invalidate this layer.
WORKDIR /opt/tradeopt
COPY requirements/constraints.txt docker/scripts/requirements.py ./
COPY libs/common/pyproject.toml src/libs/common/
COPY libs/ml/pyproject.toml src/libs/ml/
RUN --mount=type=cache,target=/root/.cache/pip \
    python requirements.py --root src libs/common libs/ml > base-requirements.txt \
 && pip install -c constraints.txt -r base-requirements.txt

WORKDIR /app
USER 10001:10001
CMD ["python"]
