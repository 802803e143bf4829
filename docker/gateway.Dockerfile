# syntax=docker/dockerfile:1.7
# trading-optimization-gateway: nginx (unprivileged, uid 101, port 8080) with the config from
# docker/nginx/ (nginx.conf, templates/*.template rendered by the image's envsubst entrypoint,
# optional conf.d/), static files from docker/nginx/html/ (may hold only a dotfile placeholder)
# and the dashboard built from web/ by the node stage, served at / (single-page app).
# The API docs (Swagger UI at /api/docs, the merged OpenAPI at /api/v1/openapi.json) come from
# the api-docs stage: swagger-ui-dist from npm (tools/api's lockfile; no CDN at run time).
#   docker build -f docker/gateway.Dockerfile -t trading-optimization-gateway:$VERSION .
ARG NGINX_IMAGE=nginxinc/nginx-unprivileged:1.27.4-alpine
ARG NODE_IMAGE=node:20.19.5-alpine

# --- API docs: Swagger UI's assets from tools/api's lockfile (runtime dependencies only) ------
FROM ${NODE_IMAGE} AS api-docs
WORKDIR /tools/api
COPY tools/api/package.json tools/api/package-lock.json tools/api/.npmrc ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
    && mkdir -p /out/swagger-ui \
    && cp -R node_modules/swagger-ui-dist/. /out/swagger-ui/ \
    && rm -f /out/swagger-ui/*.map /out/swagger-ui/package.json /out/swagger-ui/README.md
COPY docker/nginx/api-docs/ /out/api-docs/

# The dashboard (web/): `npm ci && npm run build` (the build fails when the first page's JS
# exceeds its gzipped budget), the same as `make web` for the local fleet.
FROM ${NODE_IMAGE} AS web
WORKDIR /web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY web/ ./
RUN npm run build

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

USER 0
# Bind-mount the source so optional or empty folders (html/ before the dashboard exists) are fine.
RUN --mount=type=bind,source=docker/nginx,target=/src \
    set -eu; \
    rm -f /etc/nginx/conf.d/default.conf; \
    if [ -f /src/nginx.conf ]; then cp /src/nginx.conf /etc/nginx/nginx.conf; fi; \
    if [ -d /src/templates ]; then mkdir -p /etc/nginx/templates && cp -R /src/templates/. /etc/nginx/templates/; fi; \
    if [ -d /src/conf.d ]; then cp -R /src/conf.d/. /etc/nginx/conf.d/; fi; \
    rm -rf /usr/share/nginx/html/*; \
    has_html=; \
    for f in /src/html/*; do if [ -e "$f" ]; then has_html=1; fi; done; \
    if [ -n "$has_html" ]; then \
      cp -R /src/html/. /usr/share/nginx/html/; \
      rm -f /usr/share/nginx/html/.keep /usr/share/nginx/html/.gitkeep; \
    fi; \
    chown -R 101:0 /etc/nginx/conf.d /etc/nginx/templates 2>/dev/null || true; \
    chmod -R g+w /etc/nginx/conf.d
# The dashboard's build at / (over anything docker/nginx/html holds).
COPY --from=web /web/dist/ /usr/share/nginx/html/

# API docs (gateway.conf.template: API_DOCS_ROOT, SWAGGER_UI_ROOT).
COPY --from=api-docs --chown=101:0 /out/api-docs/ /usr/share/nginx/api-docs/
COPY --from=api-docs --chown=101:0 /out/swagger-ui/ /usr/share/nginx/swagger-ui/

# Rate limit per client address (templates/gateway.conf.template): GATEWAY_RATE_LIMIT requests/s,
# GATEWAY_RATE_BURST more at once, then 429 problem+json. Raise them for load tests or a trusted
# network; the defaults protect the services from one noisy client.
# X-Forwarded-For is believed only from GATEWAY_TRUSTED_PROXY (an address or CIDR of the proxy
# in front); "unix:" trusts no TCP peer.
ENV GATEWAY_RATE_LIMIT=30 \
    GATEWAY_RATE_BURST=60 \
    GATEWAY_TRUSTED_PROXY=unix:

# Every variable templates/gateway.conf.template uses must be defined (envsubst leaves unknown
# ones in place). Upstream defaults are the compose service names; k8s sets fully qualified
# names (nginx's own resolver ignores the search path). A built service that is not running answers
# 502; a planned one (services.yaml) 503. NGINX_LOCAL_RESOLVERS is filled from /etc/resolv.conf by
# the entrypoint. One <SVC>_UPSTREAM per built service:
ENV GATEWAY_LISTEN=8080 \
    DASHBOARD_ROOT=/usr/share/nginx/html \
    API_DOCS_ROOT=/usr/share/nginx/api-docs \
    SWAGGER_UI_ROOT=/usr/share/nginx/swagger-ui \
    NGINX_ENTRYPOINT_LOCAL_RESOLVERS=1
# optuna-dashboard (/optuna/, behind auth_request), run from the tuning image.
ENV OPTUNA_DASHBOARD_UPSTREAM=optuna-dashboard:8081
# TensorBoard (/tensorboard/, behind auth_request), run from the training image.
ENV TENSORBOARD_UPSTREAM=tensorboard:6006
# BEGIN generated from services.yaml: upstreams (make generate; do not edit)
ENV DATA_UPSTREAM=data-api:8001
ENV TRAINING_UPSTREAM=training-api:8002
ENV TUNING_UPSTREAM=tuning-api:8003
ENV EVALUATION_UPSTREAM=evaluation-api:8004
ENV STRATEGY_UPSTREAM=strategy-api:8005
# END generated from services.yaml: upstreams

EXPOSE 8080
USER 101
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/healthz"]
