#!/usr/bin/env bash
# Provisions p2's VM (run as root by Vagrant's shell provisioner): installs the K3s server at a
# pinned version, imports the echo-app images uploaded from the host into K3s's containerd,
# applies the manifests from p2/confs (rendered from charts/p2), and waits until every pod
# is Ready. Safe to run again: each step skips what is already done.
#
# Environment: NODE_IP (the host-only address, 192.168.56.110), IMAGES_DIR (echo-app-*.tar
# docker archives), CONFS_DIR (the manifests to apply).
set -euo pipefail

# K3s, pinned twice: the binary by its release sha256, the installer (which writes the systemd
# unit and the uninstall script) by the sha256 of install.sh at the release's tag.
K3S_VERSION="v1.35.5+k3s1"
K3S_RELEASE="https://github.com/k3s-io/k3s/releases/download/v1.35.5%2Bk3s1"
K3S_SHA256="267d18da7b3c837d82283f0588fb9031a8a6ff3c0dac772c260c40852ce515f6"
K3S_INSTALLER="https://raw.githubusercontent.com/k3s-io/k3s/v1.35.5%2Bk3s1/install.sh"
K3S_INSTALLER_SHA256="8598e002e61d658fed7b7542fc6d2c66d8da6eae69e088830105d2ee1ffb6d91"

KUBECTL=(/usr/local/bin/k3s kubectl)
READY_TIMEOUT=300s

log() { printf '==> %s\n' "$*"; }
fail() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

# The interface that holds $1, for flannel: the NAT interface comes first and every VM has
# the same address on it, so pod traffic must use the host-only one.
interface_of() {
  ip -o -4 addr show | awk -v ip="$1" '{ split($4, a, "/"); if (a[1] == ip) { print $2; exit } }'
}

# Downloads $1 to $2 and checks it against sha256 $3; removes the file on a mismatch.
fetch_verified() {
  curl --fail --silent --show-error --location --retry 3 --connect-timeout 10 -o "$2" "$1"
  if ! echo "$3  $2" | sha256sum --check --quiet; then
    rm -f "$2"
    fail "$1 does not have the pinned sha256 $3; refusing to install it"
  fi
}

install_k3s() {
  local iface=$1
  if [[ -x /usr/local/bin/k3s ]] && /usr/local/bin/k3s --version | grep -qF "$K3S_VERSION" &&
    systemctl is-active --quiet k3s; then
    log "K3s $K3S_VERSION already runs"
    return
  fi
  log "installing K3s $K3S_VERSION (node IP $NODE_IP on $iface)"
  mkdir -p /etc/rancher/k3s
  # The kubeconfig stays root-only (it is cluster-admin); the vagrant user gets its own copy.
  cat >/etc/rancher/k3s/config.yaml <<EOF
node-ip: "$NODE_IP"
flannel-iface: "$iface"
write-kubeconfig-mode: "0600"
EOF
  if ! command -v curl >/dev/null; then
    apt-get update -q && apt-get install -y -q --no-install-recommends curl ca-certificates
  fi
  fetch_verified "$K3S_RELEASE/k3s" "$WORK/k3s" "$K3S_SHA256"
  install -m 0755 "$WORK/k3s" /usr/local/bin/k3s
  fetch_verified "$K3S_INSTALLER" "$WORK/install.sh" "$K3S_INSTALLER_SHA256"
  INSTALL_K3S_SKIP_DOWNLOAD=true INSTALL_K3S_VERSION="$K3S_VERSION" INSTALL_K3S_EXEC=server \
    sh "$WORK/install.sh"
}

wait_for_node() {
  log "waiting for the node"
  local deadline=$((SECONDS + 120))
  until [[ -n $("${KUBECTL[@]}" get nodes -o name 2>/dev/null) ]]; do
    ((SECONDS < deadline)) || fail "K3s registered no node within 2 minutes; see 'journalctl -u k3s'"
    sleep 2
  done
  "${KUBECTL[@]}" wait node --all --for=condition=Ready --timeout="$READY_TIMEOUT"
}

import_images() {
  local tarballs=("$IMAGES_DIR"/echo-app-*.tar)
  [[ -e ${tarballs[0]} ]] ||
    fail "no echo-app-*.tar in $IMAGES_DIR: the Vagrant trigger builds them on the host (p2/scripts/build-images.sh); run 'vagrant provision' again"
  for tar in "${tarballs[@]}"; do
    log "importing $(basename "$tar") into K3s's containerd"
    /usr/local/bin/k3s ctr --namespace k8s.io images import "$tar" >/dev/null
  done
}

# Traefik is installed by K3s itself (a HelmChart job); the Ingress only answers once it runs.
wait_for_traefik() {
  log "waiting for Traefik"
  local deadline=$((SECONDS + 300))
  until "${KUBECTL[@]}" -n kube-system get deployment traefik >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "K3s did not deploy Traefik within 5 minutes; see 'kubectl -n kube-system get pods'"
    sleep 3
  done
  "${KUBECTL[@]}" -n kube-system rollout status deployment/traefik --timeout="$READY_TIMEOUT"
}

deploy() {
  log "applying $CONFS_DIR"
  "${KUBECTL[@]}" apply -f "$CONFS_DIR"
  for d in app-one app-two app-three; do
    "${KUBECTL[@]}" rollout status "deployment/$d" --timeout="$READY_TIMEOUT"
  done
  "${KUBECTL[@]}" wait pod --for=condition=Ready --timeout="$READY_TIMEOUT" \
    --selector=app.kubernetes.io/instance=p2
}

kubeconfig_for_vagrant() {
  install -d -m 0700 -o vagrant -g vagrant /home/vagrant/.kube
  install -m 0600 -o vagrant -g vagrant /etc/rancher/k3s/k3s.yaml /home/vagrant/.kube/config
}

main() {
  [[ $EUID -eq 0 ]] || fail "run as root (Vagrant's shell provisioner does)"
  : "${NODE_IP:?NODE_IP must be the host-only address of the VM}"
  : "${IMAGES_DIR:?IMAGES_DIR must name the uploaded image tarballs}"
  : "${CONFS_DIR:?CONFS_DIR must name the uploaded manifests}"
  local iface
  iface=$(interface_of "$NODE_IP")
  [[ -n $iface ]] || fail "no interface holds $NODE_IP; check the private_network in p2/Vagrantfile"

  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
  install_k3s "$iface"
  wait_for_node
  import_images
  kubeconfig_for_vagrant
  wait_for_traefik
  deploy
  rm -rf "$IMAGES_DIR" "$CONFS_DIR"
  log "ready: curl -H 'Host: app1.com' http://$NODE_IP/ (or p2/scripts/check.sh from the host)"
  "${KUBECTL[@]}" get all,ingress -o wide
}

main "$@"
