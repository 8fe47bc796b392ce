#!/usr/bin/env bash
# <login>S: the K3s server, and token-server handing its join token to <login>SW once.
# Run by Vagrant as root, with SERVER_IP, WORKER_IP, TOKEN_PORT, TOKEN_SECRET.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source /tmp/iot-p1/scripts/common.sh
trap 'rm -rf "$STAGE"' EXIT

require_env SERVER_IP WORKER_IP TOKEN_PORT TOKEN_SECRET
NODE_TOKEN=/var/lib/rancher/k3s/server/node-token
SECRET_DIR=/run/token-server
TOKEN_TTL=10m

iface=$(interface_with "$SERVER_IP")
[[ -n $iface ]] || die "no interface holds $SERVER_IP; check the private_network line of the Vagrantfile"
log "private interface: $iface ($SERVER_IP)"

install_artifacts
install -D -m 0644 "$STAGE/confs/k3s-server.yaml" /etc/rancher/k3s/config.yaml
# What check.sh needs, for the vagrant user.
install -d -o vagrant -g vagrant /home/vagrant/p1 /home/vagrant/p1/confs
install -m 0755 -o vagrant -g vagrant "$STAGE/scripts/check.sh" /home/vagrant/p1/check.sh
install -m 0644 -o vagrant -g vagrant "$STAGE"/confs/*.yaml /home/vagrant/p1/confs/

log "installing the K3s server $K3S_VERSION"
install_k3s server \
  --node-ip "$SERVER_IP" --advertise-address "$SERVER_IP" --flannel-iface "$iface"
# The installer returns once K3s reports ready, by which time the token exists.
[[ -s $NODE_TOKEN ]] || die "K3s is up but $NODE_TOKEN is missing; see journalctl -u k3s"

# token-server runs as a throwaway user (DynamicUser) that cannot read K3s' files: systemd
# hands it copies of the token and the secret as credentials (root-only /run/credentials/),
# and the unit may talk to the agent's address only, even if the program had a bug. The
# credential is read through any symlink K3s keeps at node-token.
install -d -m 0700 "$SECRET_DIR"
(umask 077 && printf '%s\n' "$TOKEN_SECRET" >"$SECRET_DIR/secret")
unset TOKEN_SECRET
systemctl stop token-server.service 2>/dev/null || true
systemctl reset-failed token-server.service 2>/dev/null || true
sandbox=(
  -p DynamicUser=yes
  -p "LoadCredential=node-token:$(readlink -f "$NODE_TOKEN")"
  -p "LoadCredential=secret:$SECRET_DIR/secret"
  -p CapabilityBoundingSet=
  -p NoNewPrivileges=yes
  -p PrivateDevices=yes
  -p ProtectKernelTunables=yes
  -p ProtectKernelModules=yes
  -p ProtectKernelLogs=yes
  -p ProtectControlGroups=yes
  -p ProtectClock=yes
  -p ProtectHostname=yes
  -p ProtectProc=invisible
  -p ProcSubset=pid
  -p RestrictAddressFamilies="AF_INET AF_INET6"
  -p RestrictNamespaces=yes
  -p RestrictRealtime=yes
  -p LockPersonality=yes
  -p MemoryDenyWriteExecute=yes
  -p SystemCallArchitectures=native
  -p SystemCallFilter=@system-service
  -p IPAddressDeny=any
  -p "IPAddressAllow=$WORKER_IP/32"
  -p MemoryMax=64M
  -p TasksMax=16
  -p RuntimeMaxSec=15m
)
# The credential paths are only known inside the unit, hence the small shell.
# shellcheck disable=SC2016
systemd-run --unit=token-server --description="K3s node-token for $WORKER_IP" --collect \
  "${sandbox[@]}" \
  /bin/sh -c 'exec /usr/local/bin/token-server serve --listen "$1" --allow "$2" \
    --max-fetches 1 --ttl "$3" --file "$CREDENTIALS_DIRECTORY/node-token" \
    --secret-file "$CREDENTIALS_DIRECTORY/secret"' \
  token-server "$SERVER_IP:$TOKEN_PORT" "$WORKER_IP/32" "$TOKEN_TTL"

for _ in $(seq 40); do
  if ss -Hltn "src $SERVER_IP and sport = :$TOKEN_PORT" | grep -q .; then
    log "token-server hands the token to $WORKER_IP once, within $TOKEN_TTL, on $SERVER_IP:$TOKEN_PORT"
    exit 0
  fi
  systemctl is-failed --quiet token-server.service && break
  sleep 0.25
done
journalctl -u token-server.service -n 20 --no-pager >&2 || true
die "token-server did not start listening on $SERVER_IP:$TOKEN_PORT (its log is above)"
