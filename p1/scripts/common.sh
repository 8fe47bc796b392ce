#!/usr/bin/env bash
# Shared by server.sh and worker.sh (sourced; both run as root inside the VMs). The file
# provisioner uploads scripts/, confs/ and .artifacts/ to $STAGE before they run.

STAGE=/tmp/iot-p1
K3S_IMAGES=/var/lib/rancher/k3s/agent/images

# The K3s installer (get.k3s.io) at a fixed commit of k3s-io/k3s, so the script that runs
# as root does not change under us; it then checks the k3s binary against the release's
# sha256sum-amd64.txt. Its own sha256 could not be computed where this was written (no
# access to GitHub); set K3S_INSTALLER_SHA256 to enforce it (see p1/README.md).
K3S_INSTALLER_URL=https://raw.githubusercontent.com/k3s-io/k3s/0136cf258954a458da1404858396342724b93d24/install.sh
K3S_INSTALLER_SHA256=${K3S_INSTALLER_SHA256:-}

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

# Runs the pinned installer with $@ as the k3s arguments; INSTALL_K3S_VERSION and any K3S_*
# variables come from the caller's environment.
install_k3s() {
  local installer
  ensure_curl
  installer=$(mktemp)
  curl -sfL --retry 3 "$K3S_INSTALLER_URL" -o "$installer" ||
    die "cannot download the K3s installer from $K3S_INSTALLER_URL"
  if [[ -n $K3S_INSTALLER_SHA256 ]]; then
    echo "$K3S_INSTALLER_SHA256  $installer" | sha256sum --check --quiet ||
      die "the K3s installer does not match K3S_INSTALLER_SHA256; refusing to run it"
  else
    log "K3s installer pinned by commit only (K3S_INSTALLER_SHA256 unset)"
  fi
  sh "$installer" "$@"
  rm -f "$installer"
}
