#!/usr/bin/env bash
# The real k3d CLI, built from the Go module proxy at the version whose Docker layout bootstrap
# copies, for bootstrap/tests/k3d_interop.rs; cached like the control plane's tools
# (p3/scripts/control-plane.sh) under .cache/control-plane/k3d-<version>-<key>/.
#
# usage: p3/scripts/k3d.sh build
#
# `build` prints the binary's path as its last line, or the one line `skipped: <reason>` and
# exits 0 where Go or the Go module proxy cannot be had; any other failure exits non-zero.
set -euo pipefail

# Also pinned in p3/control-plane/k3d/go.mod (checked below).
K3D_VERSION=v5.9.0
# k3d's Makefile bakes the K3s stable channel of build day into version.K3sVersion (the default
# image of `k3d cluster create`); here it is bootstrap's pinned K3s (bootstrap/src/lib.rs
# K3S_IMAGE), so that both tools default to the same node image.
K3S_VERSION=v1.35.5-k3s1

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MODULE=$ROOT/p3/control-plane/k3d
CACHE=$ROOT/.cache/control-plane

# shellcheck source=p3/scripts/go-tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-tools.sh"


cmd_build() {
  command -v go >/dev/null || skip "go is not installed"
  command -v flock >/dev/null || die "flock (util-linux) is missing"
  grep -Eq "^[[:space:]]*(require[[:space:]]+)?github.com/k3d-io/k3d/v5 $K3D_VERSION( |$)" "$MODULE/go.mod" ||
    die "$MODULE/go.mod does not require github.com/k3d-io/k3d/v5 $K3D_VERSION, the version this script pins"

  local key dir
  key=$({ cat "$MODULE/go.mod" "$MODULE/go.sum" "$0"; go version; } | sha256sum | cut -c1-12)
  dir=$CACHE/k3d-$K3D_VERSION-$key
  if [[ ! -x $dir/k3d ]]; then
    mkdir -p "$CACHE"
    # One build at a time, whichever test asks for it.
    local lock
    exec {lock}>"$CACHE/k3d.lock"
    flock "$lock"
    if [[ ! -x $dir/k3d ]]; then
      local log=$CACHE/k3d.build.log v=github.com/k3d-io/k3d/v5/version
      rm -rf "$dir.partial"
      mkdir -p "$dir.partial"
      echo "building k3d $K3D_VERSION (log: $log)" >&2
      # The ldflags of k3d's Makefile (GIT_TAG, K3S_TAG); without them it says v5-dev.
      if ! (cd "$MODULE" && CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X $v.Version=$K3D_VERSION -X $v.K3sVersion=$K3S_VERSION" \
        -o "$dir.partial/k3d" github.com/k3d-io/k3d/v5) >"$log" 2>&1; then
        grep -Eq "$UNREACHABLE" "$log" &&
          skip "cannot fetch k3d $K3D_VERSION's Go modules ($(grep -Em1 "$UNREACHABLE" "$log"))"
        tail -n 20 "$log" >&2
        die "go build of k3d $K3D_VERSION failed (log: $log)"
      fi
      local said
      said=$("$dir.partial/k3d" version | head -n 1)
      [[ $said == "k3d version $K3D_VERSION" ]] || die "the built k3d says '$said', not k3d version $K3D_VERSION"
      # The rename is the commit point: an interrupted build leaves only the .partial directory.
      mv "$dir.partial" "$dir"
    fi
    exec {lock}>&-
  fi
  echo "$dir/k3d"
}

case ${1:-} in
  build) cmd_build ;;
  *)
    sed -n '6p' "$0" | sed 's/^# //' >&2
    exit 2
    ;;
esac
