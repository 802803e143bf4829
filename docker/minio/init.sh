#!/bin/sh
# One-shot MinIO setup (compose `minio-init`, image minio/mc): the bucket, and an application
# user limited to that bucket when TRADING_OPT_STORAGE_ACCESS_KEY differs from the root user.
# Idempotent: safe on every `docker compose up`.
set -eu

: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}"
bucket="${TRADING_OPT_STORAGE_BUCKET:-trading-optimization}"
endpoint="${MINIO_ENDPOINT:-http://minio:9000}"
key="${TRADING_OPT_STORAGE_ACCESS_KEY:-}"

mc alias set tradeopt "$endpoint" "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "tradeopt/${bucket}"

if [ -n "$key" ] && [ "$key" != "$MINIO_ROOT_USER" ]; then
  policy="$(mktemp)"
  cat > "$policy" <<JSON
{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*"],
  "Resource": ["arn:aws:s3:::${bucket}", "arn:aws:s3:::${bucket}/*"]}]}
JSON
  mc admin policy create tradeopt tradeopt-readwrite "$policy"
  mc admin user add tradeopt "$key" "${TRADING_OPT_STORAGE_SECRET_KEY:?}"
  # `attach` fails when the policy is already attached; accept that case only.
  mc admin policy attach tradeopt tradeopt-readwrite --user "$key" \
    || mc admin user info tradeopt "$key" | grep -q tradeopt-readwrite
  rm -f "$policy"
fi
echo "minio-init: bucket ${bucket} ready"
