#!/usr/bin/env bash
# End-to-end with real K3s, for machines that can pull rancher/k3s and run privileged
# containers: `bootstrap images`, a 1-server/2-agent cluster, 3 Ready nodes, echo-app:v1
# imported and answering through the load balancer on 127.0.0.1, then `cluster delete` and
# nothing left. Where that cannot run it prints "skipped: <reason>" and exits 0; it never
# claims success it did not see.
set -euo pipefail
cd "$(dirname "$0")/../.."

skip() {
  echo "skipped: $*"
  exit 0
}

# The pinned images, read from where they are defined (bootstrap/src/lib.rs).
const() { sed -n "s/^pub const $1: &str = \"\(.*\)\";/\1/p" bootstrap/src/lib.rs; }
K3S_IMAGE=$(const K3S_IMAGE)
LB_IMAGE=$(const LB_IMAGE)

command -v docker >/dev/null || skip "no docker CLI on this machine"
docker info >/dev/null 2>&1 || skip "Docker is not reachable"
for image in "$K3S_IMAGE" "$LB_IMAGE"; do
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    if ! out=$(docker pull "$image" 2>&1); then
      skip "cannot pull $image ($(printf '%s' "$out" | tail -n 1))"
    fi
  fi
done
if ! out=$(docker run --rm --privileged --entrypoint /bin/k3s "$K3S_IMAGE" --version 2>&1); then
  skip "privileged containers cannot start here ($(printf '%s' "$out" | tail -n 1))"
fi

cargo build --release --locked -q -p bootstrap
bootstrap=target/release/bootstrap
name="e2e-$$-$RANDOM"
work=$(mktemp -d)
export KUBECONFIG="$work/config"
cleanup() {
  "$bootstrap" -q cluster delete "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bootstrap" images echo-app
"$bootstrap" cluster create "$name" --agents 2 --api-port 127.0.0.1:random \
  -p "127.0.0.1::8888@loadbalancer" --timeout 5m
server="k3d-$name-server-0"
app_port=$(docker port "k3d-$name-serverlb" 8888/tcp | head -n 1 | sed 's/.*://')
kubectl() { docker exec -i "$server" kubectl "$@"; }

echo "==> waiting for 3 Ready nodes"
for _ in $(seq 1 90); do
  ready=$(kubectl get nodes --no-headers 2>/dev/null | awk '$2 == "Ready"' | wc -l)
  [ "$ready" -eq 3 ] && break
  sleep 2
done
kubectl get nodes -o wide
[ "$ready" -eq 3 ] || { echo "FAILED: $ready of 3 nodes are Ready" >&2; exit 1; }

"$bootstrap" image import echo-app:v1 -c "$name"
kubectl apply -f - <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: playground}
spec:
  replicas: 1
  selector: {matchLabels: {app: playground}}
  template:
    metadata: {labels: {app: playground}}
    spec:
      containers:
      - name: playground
        image: echo-app:v1
        imagePullPolicy: Never
        ports: [{containerPort: 8888}]
---
apiVersion: v1
kind: Service
metadata: {name: playground}
spec:
  type: LoadBalancer
  selector: {app: playground}
  ports: [{port: 8888, targetPort: 8888}]
YAML
kubectl rollout status deployment/playground --timeout=180s

echo "==> GET http://127.0.0.1:$app_port/"
expected='{"status":"ok", "message": "v1"}'
body=""
for _ in $(seq 1 60); do
  body=$(curl -fsS "http://127.0.0.1:$app_port/" 2>/dev/null || true)
  [ "$body" = "$expected" ] && break
  sleep 2
done
[ "$body" = "$expected" ] || { echo "FAILED: got '$body', expected '$expected'" >&2; exit 1; }

"$bootstrap" cluster delete "$name"
left=$(docker ps -aq --filter "label=k3d.cluster=$name" | wc -l)
[ "$left" -eq 0 ] || { echo "FAILED: $left containers left after delete" >&2; exit 1; }
echo "e2e: passed (3 Ready nodes, echo-app:v1 answered, cluster deleted)"
