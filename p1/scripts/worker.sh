#!/usr/bin/env bash
# <login>SW: fetches the join token from token-server on <login>S, then joins as K3s agent.
# Run by Vagrant as root, with SERVER_IP, WORKER_IP, TOKEN_PORT, TOKEN_SECRET.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source /tmp/iot-p1/scripts/common.sh
trap 'rm -rf "$STAGE"' EXIT

require_env SERVER_IP WORKER_IP TOKEN_PORT TOKEN_SECRET
AGENT_TOKEN=/etc/rancher/k3s/agent-token

iface=$(interface_with "$WORKER_IP")
[[ -n $iface ]] || die "no interface holds $WORKER_IP; check the private_network line of the Vagrantfile"
log "private interface: $iface ($WORKER_IP)"

install_artifacts

if systemctl is-active --quiet k3s-agent && [[ -s $AGENT_TOKEN ]]; then
  log "the K3s agent already runs with its token; nothing to fetch"
  exit 0
fi

log "fetching the join token from $SERVER_IP:$TOKEN_PORT"
install -d -m 0755 /etc/rancher/k3s
token-server fetch --url "http://$SERVER_IP:$TOKEN_PORT/node-token" \
  --secret-env TOKEN_SECRET --out "$AGENT_TOKEN" --timeout 5m ||
  die "no join token (fetch exited $?, the reason is above); the server must have been provisioned in the same vagrant run, within 10 minutes"
unset TOKEN_SECRET

log "joining as K3s agent $K3S_VERSION"
K3S_URL="https://$SERVER_IP:6443" K3S_TOKEN_FILE=$AGENT_TOKEN \
  install_k3s agent --node-ip "$WORKER_IP" --flannel-iface "$iface"
log "joined; run check.sh on the server to see both nodes and pods talk"
