#!/usr/bin/env bash
# Shared by server.sh and worker.sh (sourced; both run as root inside the VMs). The file
# provisioner uploads scripts/, confs/ and .artifacts/ to $STAGE before they run.

STAGE=/tmp/iot-p1
K3S_IMAGES=/var/lib/rancher/k3s/agent/images

# K3s, pinned twice (the same pins as p2/scripts/server.sh; test.sh checks they agree): the
# binary by its release sha256, the installer (which writes the systemd unit and the uninstall
# script) by the sha256 of install.sh at the release's tag.
K3S_VERSION="v1.35.5+k3s1"
K3S_RELEASE="https://github.com/k3s-io/k3s/releases/download/v1.35.5%2Bk3s1"
K3S_SHA256="267d18da7b3c837d82283f0588fb9031a8a6ff3c0dac772c260c40852ce515f6"
K3S_INSTALLER="https://raw.githubusercontent.com/k3s-io/k3s/v1.35.5%2Bk3s1/install.sh"
K3S_INSTALLER_SHA256="8598e002e61d658fed7b7542fc6d2c66d8da6eae69e088830105d2ee1ffb6d91"

log() { printf '==> %s\n' "$*"; }
die() {
  printf '%s: error: %s\n' "${0##*/}" "$*" >&2
  exit 1
}

require_env() {
  local name
  for name in "$@"; do
    [[ -n ${!name:-} ]] || die "$name is not set; run this script through the Vagrantfile"
  done
}

# The interface holding $1, found by address: VirtualBox names the host-only NIC eth1 on
# some boxes and enp0s8 on others, and flannel on the NAT interface (10.0.2.15 on every
# VM) is the classic reason pods cannot reach each other across nodes.
interface_with() {
  ip -o -4 addr show | awk -v want="$1" '{ split($4, a, "/"); if (a[1] == want) { print $2; exit } }'
}

# The uploaded token-server binary and image tarballs (K3s imports the tarballs in
# $K3S_IMAGES when it starts, so nothing is pulled from a registry).
install_artifacts() {
  local tars
  [[ -x $STAGE/artifacts/token-server ]] ||
    die "$STAGE/artifacts/token-server is missing; the Vagrant trigger (scripts/build-artifacts.sh) builds it"
  install -m 0755 "$STAGE/artifacts/token-server" /usr/local/bin/token-server
  shopt -s nullglob
  tars=("$STAGE"/artifacts/*.tar)
  shopt -u nullglob
  ((${#tars[@]})) || die "no image tarballs in $STAGE/artifacts; the Vagrant trigger builds them"
  install -d -m 0755 "$K3S_IMAGES"
  install -m 0644 "${tars[@]}" "$K3S_IMAGES/"
}

ensure_curl() {
  command -v curl >/dev/null && return
  log "installing curl"
  DEBIAN_FRONTEND=noninteractive apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends curl ca-certificates
}

# Downloads $1 to $2 and checks it against sha256 $3; removes the file on a mismatch.
fetch_verified() {
  curl --fail --silent --show-error --location --retry 3 --connect-timeout 10 -o "$2" "$1" ||
    die "cannot download $1"
  if ! echo "$3  $2" | sha256sum --check --quiet; then
    rm -f "$2"
    die "$1 does not have the pinned sha256 $3; refusing to install it"
  fi
}

# Installs the pinned K3s binary, then runs the pinned installer with $@ as the k3s arguments
# (it only writes the service; K3S_* variables come from the caller's environment).
install_k3s() {
  local work
  ensure_curl
  work=$(mktemp -d)
  fetch_verified "$K3S_RELEASE/k3s" "$work/k3s" "$K3S_SHA256"
  install -m 0755 "$work/k3s" /usr/local/bin/k3s
  fetch_verified "$K3S_INSTALLER" "$work/install.sh" "$K3S_INSTALLER_SHA256"
  INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_VERSION="$K3S_VERSION" sh "$work/install.sh" "$@"
  rm -rf "$work"
}
