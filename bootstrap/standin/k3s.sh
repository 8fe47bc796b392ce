#!/bin/sh
# Stand-in for /bin/k3s in the test and benchmark node image (no real K3s can be pulled on
# the machines that run them). It checks what a K3s node is given, prints the log lines
# bootstrap waits for and, as a server, writes the kubeconfig where K3S_KUBECONFIG_OUTPUT says.
# Test-only arguments: --standin-never-ready (never print the ready line) and --standin-fail
# (exit with a fatal line).
set -eu

role="${1:-agent}"
log() { echo "time=\"$(date -Iseconds)\" level=info msg=\"$*\""; }
fatal() {
  echo "time=\"$(date -Iseconds)\" level=fatal msg=\"$*\""
  exit 1
}

log "Starting k3s stand-in: $*"
[ -n "${K3S_TOKEN:-}" ] || fatal "K3S_TOKEN is not set"
case " $* " in
*" --standin-fail "*) fatal "failing as asked (--standin-fail)" ;;
esac
if [ "$role" = agent ] && [ -z "${K3S_URL:-}" ]; then
  fatal "K3S_URL is not set"
fi
case " $* " in
*" --standin-never-ready "*)
  log "never becoming ready, as asked (--standin-never-ready)"
  exec sleep 2147483647
  ;;
esac

log "Containerd is now running"
case "$role" in
server)
  out="${K3S_KUBECONFIG_OUTPUT:?K3S_KUBECONFIG_OUTPUT is not set}"
  mkdir -p "$(dirname "$out")"
  cat >"$out" <<KUBECONFIG
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: c3RhbmQtaW4gQ0EK
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: c3RhbmQtaW4gY2VydAo=
    client-key-data: c3RhbmQtaW4ga2V5Cg==
KUBECONFIG
  chmod 600 "$out"
  log "Wrote kubeconfig $out"
  log "Running kube-apiserver --advertise-port=6443 --tls-san=$*"
  log "k3s is up and running"
  ;;
agent)
  log "Successfully registered node $(hostname)"
  ;;
*) fatal "unknown role $role" ;;
esac
exec sleep 2147483647
