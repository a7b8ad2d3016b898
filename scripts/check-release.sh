#!/usr/bin/env bash
# Checks the release configuration without publishing anything:
#   1. installs GoReleaser (pinned) from the Go module proxy into a temporary GOBIN,
#   2. runs `goreleaser check` on goreleaser.yaml,
#   3. makes a snapshot build for linux/amd64 only and checks the size of the
#      stripped binary (limit: 25 MiB) and that the version is stamped in it.
# Run from anywhere: bash scripts/check-release.sh
# Set GORELEASER=/path/to/goreleaser to skip the install (it must be $GORELEASER_VERSION).
set -euo pipefail

# v2.15.1 (March 2026): v2.18.x needs Go 1.27, and v2.16.0 and v2.17.0 pull
# in go.digitalxero.dev/go-msix, which the module proxy refuses (403).
# GOTOOLCHAIN=local keeps the go command from downloading another
# toolchain behind our back.
GORELEASER_VERSION=v2.15.1
MAX_BYTES=$((25 * 1024 * 1024))

cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
export GOTOOLCHAIN=local

tmp="$(mktemp -d)"
# dist/ is GoReleaser's output (git-ignored); remove it again unless it was already there.
if [ -e dist ]; then had_dist=1; else had_dist=0; fi
trap 'rm -rf "$tmp"; [ "$had_dist" = 1 ] || rm -rf dist' EXIT

step() { printf '\n== %s\n' "$*"; }

if [ -z "${GORELEASER:-}" ]; then
  step "go install github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION"
  start=$(date +%s)
  GOBIN="$tmp/bin" CGO_ENABLED=0 go install "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION"
  echo "installed in $(( $(date +%s) - start )) s"
  GORELEASER="$tmp/bin/goreleaser"
fi
"$GORELEASER" --version | sed -n '/GitVersion/p'

step "goreleaser check"
"$GORELEASER" check

step "goreleaser build --snapshot --clean --single-target (linux/amd64)"
start=$(date +%s)
GOOS=linux GOARCH=amd64 "$GORELEASER" build --snapshot --clean --single-target --output "$tmp/marbelle"
echo "built in $(( $(date +%s) - start )) s"

step "binary"
size=$(stat -c %s "$tmp/marbelle")
awk -v n="$size" -v max="$MAX_BYTES" 'BEGIN { printf "size: %d bytes (%.1f MiB; limit %d MiB)\n", n, n / 1048576, max / 1048576 }'
if command -v file >/dev/null 2>&1; then
  file "$tmp/marbelle"
fi
version="$("$tmp/marbelle" version)"
echo "$version"
case "$version" in
  "marbelle "*snapshot*) ;;
  *) echo "the version is not stamped (-X main.version): got \"$version\"" >&2; exit 1 ;;
esac
if [ "$size" -gt "$MAX_BYTES" ]; then
  echo "the binary is larger than 25 MiB" >&2
  exit 1
fi

step "ok"
