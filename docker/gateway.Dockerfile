# syntax=docker/dockerfile:1.7
# trading-optimization-gateway: nginx (unprivileged, uid 101, port 8080) with the config from
# docker/nginx/ (nginx.conf, templates/*.template rendered by the image's envsubst entrypoint,
# optional conf.d/) and the static dashboard from docker/nginx/html/ (may be empty).
#   docker build -f docker/gateway.Dockerfile -t trading-optimization-gateway:$VERSION .
ARG NGINX_IMAGE=nginxinc/nginx-unprivileged:1.27.4-alpine
FROM ${NGINX_IMAGE}

ARG VERSION=dev
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="trading-optimization-gateway" \
      org.opencontainers.image.description="tradeopt API gateway and dashboard (nginx)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.vendor="tradeopt"

USER root
# Bind-mount the source so optional or empty folders (html/ before the dashboard exists) are fine.
RUN --mount=type=bind,source=docker/nginx,target=/src \
    set -eu; \
    rm -f /etc/nginx/conf.d/default.conf; \
    if [ -f /src/nginx.conf ]; then cp /src/nginx.conf /etc/nginx/nginx.conf; fi; \
    if [ -d /src/templates ]; then mkdir -p /etc/nginx/templates && cp -R /src/templates/. /etc/nginx/templates/; fi; \
    if [ -d /src/conf.d ]; then cp -R /src/conf.d/. /etc/nginx/conf.d/; fi; \
    if [ -d /src/html ] && [ -n "$(find /src/html -mindepth 1 ! -name .gitkeep -print -quit)" ]; then \
      cp -R /src/html/. /usr/share/nginx/html/ && rm -f /usr/share/nginx/html/.gitkeep; \
    fi; \
    chown -R 101:0 /etc/nginx/conf.d /etc/nginx/templates 2>/dev/null || true; \
    chmod -R g+w /etc/nginx/conf.d

# Template defaults for docker compose; k8s sets fully qualified names (nginx's resolver does
# not use the search path). NGINX_LOCAL_RESOLVERS is filled from /etc/resolv.conf at start.
ENV DATA_UPSTREAM=data-api:8001 \
    NGINX_ENTRYPOINT_LOCAL_RESOLVERS=1

EXPOSE 8080
USER 101
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD wget -q -O /dev/null http://127.0.0.1:8080/healthz || exit 1
