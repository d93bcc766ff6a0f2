#!/usr/bin/env bash
# make images, first half: build every binary the offline stack runs,
# static (CGO_ENABLED=0) and with the host's Go build cache, and stage one
# build context per image under .build/images/<name> (deploy/Dockerfile.scratch).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
out=$root/.build/bin
ctx=$root/.build/images
version=${DOSS_VERSION:-dev}
mailpit_version=v1.27.11 # the tag docker-compose.yml pins (axllent/mailpit:v1.27)
mkdir -p "$out"
export CGO_ENABLED=0
build() { # dir pkg output [ldflags]
  (cd "$1" && go build -trimpath -ldflags "-s -w ${4:-}" -o "$out/$3" "$2")
}
build pkg ./obs/probe probe
for s in auth profile documents notifier gateway; do
  build "services/$s" . "$s" "-X github.com/dossapp/backend/pkg/obs.Version=$version"
done
for p in natsd ferretdb s3d s3init; do
  build services/devstack "./offline/$p" "$p"
done
# Mailpit is its own module: installed at the pinned version, outside the
# workspace, so its dependencies stay out of ours.
(cd /tmp && GOBIN="$out" GOWORK=off GOFLAGS=-buildvcs=false go install -trimpath -ldflags "-s -w" "github.com/axllent/mailpit@$mailpit_version")

# stage NAME BINARY TARGET_NAME [WRITABLE_DIR...]
stage() {
  local d=$ctx/$1
  rm -rf "$d" && mkdir -p "$d/rootfs/etc/ssl/certs" "$d/writable/tmp"
  cp deploy/Dockerfile.scratch "$d/Dockerfile"
  ln -f "$out/$2" "$d/rootfs/$3" 2>/dev/null || cp "$out/$2" "$d/rootfs/$3"
  ln -f "$out/probe" "$d/rootfs/probe" 2>/dev/null || cp "$out/probe" "$d/rootfs/probe"
  cp /etc/ssl/certs/ca-certificates.crt "$d/rootfs/etc/ssl/certs/"
  shift 3
  for w in "$@"; do mkdir -p "$d/writable/$w"; done
}
for s in auth profile documents notifier gateway; do stage "$s" "$s" service; done
stage nats natsd nats-server data
stage mongo ferretdb ferretdb data/db
stage minio s3d s3d data
stage minio-init s3init s3init
stage mailpit mailpit mailpit data
