#!/usr/bin/env bash
# Deploy a release: build the images (make images), tag and push them (make images-push), then roll
# out with docker compose or kubectl. The one implementation behind `make deploy` and
# `tradeopt deploy`.
#
#   scripts/deploy.sh --target compose|k8s --version X.Y.Z [--registry REG] [--overlay prod]
#                     [--env-file .env] [--skip-build] [--dry-run | --render]
#
#   compose  docker compose -f docker-compose.prod.yml [--env-file .env] up -d --remove-orphans,
#            with TRADEOPT_VERSION=X.Y.Z and REGISTRY=REG/ (the variables the prod file's
#            image: lines read; they win over the env file). Without --registry nothing is
#            pushed: the images stay on this Docker host.
#   k8s      copies k8s/ to a temporary folder (the repository is never changed), pins every
#            trading-optimization-* image of the overlay to REG/trading-optimization-<name>:X.Y.Z
#            (`kustomize edit set image` when kustomize is installed, else a PyYAML edit of the
#            copy's images: list), deletes the finished one-shot Jobs (immutable: the Jobs of
#            the rendered manifest) and runs kubectl apply -k on the copy.
#   --dry-run   print every command and the rendered manifest (compose config / kustomize
#               output); nothing is built, pushed or applied.
#   --render    print only the rendered k8s manifest on stdout (release asset).
#
# Commands are logged to stderr ("+ ..."); rendered manifests go to stdout. Exit 2 on bad input.
# Environment: DOCKER (docker), DOCKER_COMPOSE (default "$DOCKER compose"), KUBECTL (kubectl),
# KUSTOMIZE (kustomize), PYTHON (.venv/bin/python or python3), MAKE (make), NAMESPACE.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# Called from `make deploy`: the parent's command-line variables must not leak into `make images`.
unset MAKEFLAGS MFLAGS MAKELEVEL

DOCKER="${DOCKER:-docker}"
KUBECTL="${KUBECTL:-kubectl}"
KUSTOMIZE="${KUSTOMIZE:-kustomize}"
MAKE="${MAKE:-make}"
NAMESPACE="${NAMESPACE:-trading-optimization}"
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
read -r -a COMPOSE <<<"${DOCKER_COMPOSE:-$DOCKER compose}"

usage() {
  sed -n '6,7p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2
}
die() {
  echo "deploy: error: $*" >&2
  exit 2
}
log() { echo "deploy: $*" >&2; }

target="" version="" registry="" overlay="prod" env_file=".env" dry_run=0 render=0 skip_build=0
while [ $# -gt 0 ]; do
  case "$1" in
    --target | --version | --registry | --overlay | --env-file)
      [ $# -ge 2 ] || die "$1 needs a value"
      case "$1" in
        --target) target="$2" ;;
        --version) version="$2" ;;
        --registry) registry="$2" ;;
        --overlay) overlay="$2" ;;
        --env-file) env_file="$2" ;;
      esac
      shift 2
      ;;
    --target=* | --version=* | --registry=* | --overlay=* | --env-file=*)
      key="${1%%=*}"
      set -- "$key" "${1#*=}" "${@:2}"
      ;;
    --dry-run) dry_run=1; shift ;;
    --render) render=1; shift ;;
    --skip-build) skip_build=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage; die "unknown argument '$1'" ;;
  esac
done

# --- validation --------------------------------------------------------------------------------
case "$target" in
  compose | k8s) ;;
  "") die "--target is required (compose or k8s)" ;;
  *) die "unknown target '$target' (expected compose or k8s)" ;;
esac
[ -n "$version" ] || die "--version is required (X.Y.Z, e.g. 1.2.0)"
semver='^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z][0-9A-Za-z.-]*)?$'
[[ "$version" =~ $semver ]] || die "version '$version' is not semantic (X.Y.Z or X.Y.Z-pre, e.g. 1.2.0)"
version="${version#v}"
prefix=""
if [ -n "$registry" ]; then
  registry="${registry%/}"
  [[ "$registry" =~ ^[a-z0-9]([a-z0-9._:-]*[a-z0-9])?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$ ]] \
    || die "registry '$registry' is not a registry path (e.g. ghcr.io/acme)"
  prefix="$registry/"
fi
if [ "$target" = k8s ]; then
  if ! [[ "$overlay" =~ ^[A-Za-z0-9._-]+$ ]] || ! [ -f "k8s/overlays/$overlay/kustomization.yaml" ]; then
    die "unknown overlay '$overlay' (k8s/overlays/ has: $(cd k8s/overlays && echo *))"
  fi
fi
if [ "$render" = 1 ]; then
  [ "$target" = k8s ] || die "--render is for --target k8s"
  dry_run=1 skip_build=1
fi

# --- helpers -----------------------------------------------------------------------------------
# Log a command; run it unless this is a dry run.
run() {
  [ "$render" = 1 ] || echo "+ $(printf '%q ' "$@")" >&2
  if [ "$dry_run" = 0 ]; then "$@"; fi
}

# Deployable images (base/compute are build stages for the others).
mapfile -t IMAGES < <(
  "$MAKE" -s --no-print-directory images-list REGISTRY= VERSION="$version" REVISION=none CREATED=none \
    | sed -n 's/^trading-optimization-\([a-z0-9-]*\):.*/\1/p' | grep -vx -e base -e compute
)
[ "${#IMAGES[@]}" -gt 0 ] || die "no images from '$MAKE images-list' (docker/images.mk)"

build_and_push() {
  [ "$render" = 0 ] || return 0
  if [ "$skip_build" = 1 ]; then
    log "--skip-build: using the pushed/present images ${prefix}trading-optimization-*:$version"
    return
  fi
  run "$MAKE" --no-print-directory images REGISTRY="$prefix" VERSION="$version"
  if [ -n "$prefix" ]; then
    run "$MAKE" --no-print-directory images-push REGISTRY="$prefix" VERSION="$version"
  elif [ "$target" = compose ]; then
    log "no --registry: images stay on this Docker host (nothing pushed)"
  else
    log "no --registry: the cluster must already have the local images (kind load docker-image ...)"
  fi
}

deploy_compose() {
  local cmd=("${COMPOSE[@]}" --project-directory "$ROOT" -f docker-compose.prod.yml)
  if [ -f "$env_file" ]; then
    cmd+=(--env-file "$env_file")
  else
    log "no env file '$env_file': secrets must come from the environment"
  fi
  export TRADEOPT_VERSION="$version" REGISTRY="$prefix"
  log "TRADEOPT_VERSION=$TRADEOPT_VERSION REGISTRY=$REGISTRY"
  if [ "$dry_run" = 1 ]; then
    echo "+ TRADEOPT_VERSION=$version REGISTRY=$prefix $(printf '%q ' "${cmd[@]}")config" >&2
    "${cmd[@]}" config || die "docker compose config failed (see above)"
  fi
  run "${cmd[@]}" up -d --remove-orphans
}

deploy_k8s() {
  local tmp dir manifest name
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/tradeopt-deploy.XXXXXX")"
  # shellcheck disable=SC2064  # expand now: the path is fixed
  trap "rm -rf '$tmp'" EXIT
  cp -R k8s "$tmp/k8s"
  dir="$tmp/k8s/overlays/$overlay"
  manifest="$tmp/manifest.yaml"
  if command -v "$KUSTOMIZE" >/dev/null 2>&1; then
    # Edits the copy only: done in dry runs too, so the rendered manifest is the real one.
    for name in "${IMAGES[@]}"; do
      set -- "$KUSTOMIZE" edit set image \
        "trading-optimization-$name=${prefix}trading-optimization-$name:$version"
      [ "$render" = 1 ] || echo "+ (cd $dir && $*)" >&2
      (cd "$dir" && "$@")
    done
  else
    [ "$render" = 1 ] || echo "+ set images: in $dir/kustomization.yaml (no kustomize binary)" >&2
    QUIET="$render" "$PYTHON" - "$dir/kustomization.yaml" "$prefix" "$version" "${IMAGES[@]}" <<'PY'
"""Pin every trading-optimization-* image of a kustomization (as `kustomize edit set image`)."""
import os
import sys

import yaml

path, prefix, version, *names = sys.argv[1:]
with open(path, encoding="utf-8") as f:
    doc = yaml.safe_load(f)
images = doc.get("images") or []
wanted = {f"trading-optimization-{n}" for n in names}
wanted |= {i["name"] for i in images if str(i.get("name", "")).startswith("trading-optimization-")}
by_name = {i["name"]: i for i in images}
for name in sorted(wanted):
    entry = by_name.get(name)
    if entry is None:
        entry = {"name": name}
        images.append(entry)
    entry.pop("digest", None)
    entry["newName"] = prefix + name
    entry["newTag"] = version
doc["images"] = images
with open(path, "w", encoding="utf-8") as f:
    yaml.safe_dump(doc, f, sort_keys=False)
for name in sorted(wanted) if os.environ.get("QUIET") != "1" else []:
    print(f"  {name} -> {prefix}{name}:{version}", file=sys.stderr)
PY
  fi
  # Rendering has no side effects: always done, so a broken overlay fails before anything runs.
  [ "$render" = 1 ] || echo "+ $KUBECTL kustomize $dir" >&2
  "$KUBECTL" kustomize "$dir" >"$manifest" || die "kustomize build of overlay '$overlay' failed"
  if [ "$dry_run" = 1 ]; then cat "$manifest"; fi
  [ "$render" = 1 ] && return
  # Jobs are immutable: remove the finished one-shots so apply creates the new version's. Exactly
  # the Jobs of the rendered manifest (each built service's <svc>-migrate, minio-init, ...): never
  # a list by hand (services.yaml decides the services; make check-generated enforces it).
  local job_names jobs=()
  job_names="$("$PYTHON" - "$manifest" <<'PY'
"""Names of the Jobs in a rendered kustomize manifest, in manifest order."""
import sys

import yaml

with open(sys.argv[1], encoding="utf-8") as f:
    for doc in yaml.safe_load_all(f):
        if doc and doc.get("kind") == "Job":
            print(doc["metadata"]["name"])
PY
)" || die "cannot list the Jobs of the rendered manifest ($PYTHON with PyYAML)"
  [ -z "$job_names" ] || mapfile -t jobs <<<"$job_names"
  if [ "${#jobs[@]}" -gt 0 ]; then
    run "$KUBECTL" delete job -n "$NAMESPACE" "${jobs[@]}" --ignore-not-found
  fi
  run "$KUBECTL" apply -k "$dir"
}

[ "$render" = 1 ] || log "target=$target version=$version registry=${registry:-<none>}$([ "$target" = k8s ] && echo " overlay=$overlay")$([ "$dry_run" = 1 ] && echo " (dry run)")"
build_and_push
if [ "$target" = compose ]; then deploy_compose; else deploy_k8s; fi
[ "$render" = 1 ] || log "done"
