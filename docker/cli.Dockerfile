# syntax=docker/dockerfile:1.7
# trading-optimization-cli: the `tradeopt` command plus curl and jq, for scripts and the batch
# workflow Jobs in k8s/workflows/.
#   docker build -f docker/cli.Dockerfile --build-arg BASE_IMAGE=trading-optimization-base:$VERSION \
#     -t trading-optimization-cli:$VERSION .
ARG BASE_IMAGE=trading-optimization-base:dev

FROM ${BASE_IMAGE} AS requirements
USER root
WORKDIR /build
COPY requirements/constraints.txt docker/scripts/requirements.py ./
COPY libs/common/pyproject.toml src/libs/common/
COPY libs/ml/pyproject.toml src/libs/ml/
COPY cli/pyproject.toml src/cli/
RUN python requirements.py --root src cli > requirements.txt \
 && python requirements.py --root src --local cli > local-projects.txt

FROM ${BASE_IMAGE} AS builder
USER root
WORKDIR /build
COPY requirements/constraints.txt ./
COPY libs/ libs/
COPY cli/ cli/
RUN --mount=type=bind,from=requirements,source=/build/local-projects.txt,target=/tmp/local-projects.txt \
    --mount=type=cache,target=/root/.cache/pip \
    xargs pip wheel --no-deps -c constraints.txt --wheel-dir /wheels < /tmp/local-projects.txt

FROM ${BASE_IMAGE} AS runtime
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="trading-optimization-cli" \
      org.opencontainers.image.description="tradeopt command line (tradeopt), curl and jq" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.vendor="tradeopt"

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl jq \
 && rm -rf /var/lib/apt/lists/*

RUN --mount=type=bind,from=requirements,source=/build,target=/build \
    --mount=type=cache,target=/root/.cache/pip \
    pip install -c /build/constraints.txt -r /build/requirements.txt

RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-deps --no-index /wheels/*.whl \
 && tradeopt --help > /dev/null

# `tradeopt pipeline run` and the embedded SQLite default write under /work/.tradeopt: mount a volume.
ENV TRADING_OPT_DATA_DIR=/work/.tradeopt \
    TRADING_OPT_LOG_JSON=false
RUN install -d -o 10001 -g 10001 /work
WORKDIR /work
USER 10001:10001

# A one-shot command, not a server.
HEALTHCHECK NONE
ENTRYPOINT ["tini", "--", "tradeopt"]
CMD ["--help"]
