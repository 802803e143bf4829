# syntax=docker/dockerfile:1.7
# trading-optimization-compute: the base image plus torch 2.13.0, stable-baselines3 and optuna
# (tradeopt-ml[rl]). Base for the training, tuning and evaluation images.
#   docker build -f docker/compute.Dockerfile --build-arg BASE_IMAGE=trading-optimization-base:$VERSION \
#     [--build-arg TORCH_VARIANT=cu128] -t trading-optimization-compute:$VERSION .
ARG BASE_IMAGE=trading-optimization-base:dev
FROM ${BASE_IMAGE}

# cpu | cu128: which PyTorch wheel index to use (cu128 needs the NVIDIA container runtime to run).
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/${TORCH_VARIANT}
ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="trading-optimization-compute" \
      org.opencontainers.image.description="tradeopt compute image: base + torch (${TORCH_VARIANT}), stable-baselines3, optuna" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.vendor="tradeopt"

USER 0
WORKDIR /opt/tradeopt
COPY requirements/constraints.txt docker/scripts/requirements.py ./
COPY libs/common/pyproject.toml src/libs/common/
COPY libs/ml/pyproject.toml src/libs/ml/
# torch first from its own index (2.13.0+cpu / +cu128 sort above PyPI's plain 2.13.0), then the rest.
RUN --mount=type=cache,target=/root/.cache/pip \
    case "${TORCH_VARIANT}" in cpu|cu[0-9][0-9][0-9]) ;; \
      *) echo "TORCH_VARIANT must be cpu or cuNNN, got '${TORCH_VARIANT}'" >&2; exit 1 ;; esac \
 && pip install -c constraints.txt --index-url "${TORCH_INDEX_URL}" \
      --extra-index-url https://pypi.org/simple torch \
 && python requirements.py --root src 'libs/ml[rl]' --exclude torch > compute-requirements.txt \
 && pip install -c constraints.txt -r compute-requirements.txt \
 && python -c "import torch, stable_baselines3, optuna; print('torch', torch.__version__)"

ENV TRADEOPT_TORCH_VARIANT=${TORCH_VARIANT}
WORKDIR /app
USER 10001:10001
CMD ["python"]
