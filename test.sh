#!/usr/bin/env bash
# The one test entry point (README "Run the tests"; .ci/run calls it).
# Installs what the tests need when it is missing, starts a Docker engine when none answers,
# then runs every check. Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() { printf '\n==> %s\n' "$*"; }

# --- what the tests need -------------------------------------------------------------------
# Debian packages: docker.io (the engine bootstrap and the image tests drive), shellcheck and
# vagrant (static checks of p1/p2), busybox-static (stand-in K3s nodes), libssl-dev and
# pkg-config (git2's https transport), iproute2 (ss, network namespaces), unzip.
APT_PACKAGES=(docker.io shellcheck vagrant busybox-static libssl-dev pkg-config iproute2 unzip curl)

install_apt_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    step "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

start_docker() {
  if docker info >/dev/null 2>&1; then return; fi
  step "starting dockerd"
  mkdir -p "$ROOT/target"
  (dockerd >"$ROOT/target/dockerd.log" 2>&1 &)
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 0.5
  done
  echo "dockerd did not start; its log:" >&2
  tail -n 30 "$ROOT/target/dockerd.log" >&2
  exit 1
}

# --- checks --------------------------------------------------------------------------------
rust_checks() {
  step "cargo fmt --check"
  cargo fmt --all -- --check
  step "cargo clippy --all-targets -- -D warnings"
  cargo clippy --workspace --all-targets --locked -- -D warnings
  step "cargo nextest run (every crate's unit and integration tests)"
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
  else
    cargo test --workspace --locked --no-fail-fast
  fi
  step "cargo test --doc"
  cargo test --workspace --locked --doc
}

shell_checks() {
  step "shellcheck"
  mapfile -t scripts < <(git ls-files '*.sh' .ci/run)
  shellcheck "${scripts[@]}"
}

# bootstrap's cluster, image and import tests run in `cargo nextest` above against this Docker
# engine with stand-in node images (busybox-static). The real-K3s end-to-end needs pulls and
# privileged containers; where those are missing it prints "skipped: <reason>" and exits 0.
bootstrap_checks() {
  step "bootstrap end-to-end with real K3s"
  bootstrap/tests/e2e-cluster.sh
}

main() {
  install_apt_packages
  start_docker
  rust_checks
  bootstrap_checks
  shell_checks
  step "all checks passed"
}

main "$@"
