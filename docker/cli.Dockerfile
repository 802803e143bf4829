# syntax=docker/dockerfile:1.7
# trading-optimization-cli: the `tradeopt` command with every service installed (in-process demo
# and pipeline, migrations of every schema), plus curl and jq for the k8s/workflows Jobs.
# Once an ML service exists, build it FROM trading-optimization-compute (BASE_IMAGE).
#   docker build -f docker/cli.Dockerfile --build-arg BASE_IMAGE=trading-optimization-base:$VERSION \
#     -t trading-optimization-cli:$VERSION .
ARG BASE_IMAGE=trading-optimization-base:dev

FROM ${BASE_IMAGE} AS requirements
# hadolint ignore=DL3002  # build stage, never run
USER 0
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /build
# The CLI runs the services in-process (`tradeopt demo`, `tradeopt db upgrade` for every schema),
# so it installs every service. Whole folders (COPY cannot keep a glob's paths); only the
# generated lists in /out reach the runtime stage, so code edits do not invalidate its layers.
COPY requirements/constraints.txt docker/scripts/requirements.py ./
COPY libs/ src/libs/
COPY services/ src/services/
COPY cli/pyproject.toml src/cli/
RUN mkdir /out && cp constraints.txt /out/ \
 && { echo cli; find src/services -mindepth 2 -maxdepth 2 -name pyproject.toml -printf '%h\n' \
      | sed 's#^src/##'; } > targets.txt \
 && xargs python requirements.py --root src < targets.txt > /out/requirements.txt \
 && xargs python requirements.py --root src --local < targets.txt > /out/local-projects.txt

FROM ${BASE_IMAGE} AS builder
# hadolint ignore=DL3002  # build stage, never run
USER 0
WORKDIR /build
COPY requirements/constraints.txt ./
COPY libs/ libs/
COPY services/ services/
COPY cli/ cli/
RUN --mount=type=bind,from=requirements,source=/out/local-projects.txt,target=/tmp/local-projects.txt \
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

USER 0
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl jq \
 && rm -rf /var/lib/apt/lists/*

RUN --mount=type=bind,from=requirements,source=/out,target=/build \
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
