#!/usr/bin/env bash
# Run inside <login>S:  vagrant ssh "${LOGIN:-wil}S" -c p1/check.sh
# Proves what part 1 is about: both nodes Ready on their private addresses, and a pod on
# each node reaching the pod on the other (the classic failure: flannel on the NAT NIC).
set -euo pipefail

SERVER_IP=${SERVER_IP:-192.168.56.110}
WORKER_IP=${WORKER_IP:-192.168.56.111}
MANIFEST=${MANIFEST:-$HOME/p1/confs/node-echo.yaml}
WAIT_SECONDS=${WAIT_SECONDS:-180}
WAIT=${WAIT_SECONDS}s
NAMESPACE=default
SELECTOR=app.kubernetes.io/name=node-echo
export KUBECONFIG=${KUBECONFIG:-/etc/rancher/k3s/k3s.yaml}

# Node names are the hostnames in lower case: wilS -> wils, wilSW -> wilsw.
server=$(hostname | tr '[:upper:]' '[:lower:]')
worker=${server}w
failed=0

ok() { printf 'ok    %s\n' "$*"; }
bad() {
  printf 'FAIL  %s\n' "$*" >&2
  failed=1
}
die() {
  printf 'check.sh: error: %s\n' "$*" >&2
  exit 1
}

command -v kubectl >/dev/null || die "kubectl not found; is this the K3s server VM?"
[[ -r $MANIFEST ]] || die "$MANIFEST is missing; re-run \`vagrant provision $(hostname)\` on the host"

# 1. Both nodes registered and Ready.
deadline=$((SECONDS + WAIT_SECONDS))
until kubectl get node "$worker" >/dev/null 2>&1; do
  ((SECONDS < deadline)) || die "node $worker never registered; on the worker see: journalctl -u k3s-agent"
  sleep 2
done
kubectl wait --for=condition=Ready "node/$server" "node/$worker" --timeout="$WAIT" >/dev/null ||
  die "the nodes are not both Ready after $WAIT: $(kubectl get nodes --no-headers | tr '\n' ';')"

# 2. Each node on its private address, and flannel too.
for pair in "$server=$SERVER_IP" "$worker=$WORKER_IP"; do
  node=${pair%%=*}
  want=${pair#*=}
  internal=$(kubectl get node "$node" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
  flannel=$(kubectl get node "$node" -o jsonpath='{.metadata.annotations.flannel\.alpha\.coreos\.com/public-ip}')
  if [[ $internal == "$want" ]]; then
    ok "node $node Ready, INTERNAL-IP $internal"
  else
    bad "node $node has INTERNAL-IP $internal, expected $want (K3s needs --node-ip $want)"
  fi
  if [[ $flannel == "$want" ]]; then
    ok "node $node flannel on $flannel"
  else
    bad "node $node runs flannel on ${flannel:-?}, expected $want (K3s needs --flannel-iface of the private NIC)"
  fi
done

# 3. One echo pod per node, each reaching the other across nodes.
kubectl apply -f "$MANIFEST" >/dev/null
kubectl -n "$NAMESPACE" rollout status daemonset/node-echo --timeout="$WAIT" >/dev/null ||
  die "daemonset node-echo did not roll out within $WAIT: $(kubectl -n "$NAMESPACE" get pods -l "$SELECTOR" --no-headers | tr '\n' ';')"
mapfile -t pods < <(kubectl -n "$NAMESPACE" get pods -l "$SELECTOR" \
  -o jsonpath='{range .items[*]}{.metadata.name} {.spec.nodeName} {.status.podIP}{"\n"}{end}')
nodes_with_pods=$(printf '%s\n' "${pods[@]}" | awk '{print $2}' | sort -u | tr '\n' ' ')
[[ $nodes_with_pods == "$(printf '%s\n' "$server" "$worker" | sort | tr '\n' ' ')" ]] ||
  die "expected one node-echo pod on each of $server and $worker, found pods on: $nodes_with_pods"

for from in "${pods[@]}"; do
  read -r from_pod from_node _ <<<"$from"
  for to in "${pods[@]}"; do
    read -r to_pod to_node to_ip <<<"$to"
    [[ $to_pod == "$from_pod" ]] && continue
    want="node-echo on $to_node pod $to_pod"
    if got=$(kubectl -n "$NAMESPACE" exec "$from_pod" -- /echo-app -get "http://$to_ip:5678/" 2>&1) &&
      [[ $got == "$want" ]]; then
      ok "$from_pod ($from_node) -> $to_pod ($to_node, $to_ip): $got"
    else
      bad "$from_pod ($from_node) cannot reach $to_pod ($to_node, $to_ip): ${got:-no answer} (expected \"$want\")"
    fi
  done
done

if ((failed)); then
  echo "p1 check FAILED" >&2
  exit 1
fi
echo "p1 check passed: two nodes on 192.168.56.0/24, pods talk across them"
