#!/usr/bin/env bash
# Part 3's GitOps loop on this machine, with no cluster image and no registry:
#   bootstrap p3 --kubeconfig … --repo http://127.0.0.1:PORT/lab.git  -> Synced at the pushed commit, echo-app:v1
#   gitops-bumper v2 --wait                                           -> Argo CD syncs v2, the rollout completes
#   a pushed manifest the API rejects                                 -> --wait exits 3 with Argo CD's own message
#   bootstrap status, bootstrap down --kubeconfig                     -> every layer shown; the cluster as it was
#
# What is real: kube-apiserver, etcd, kube-controller-manager and kube-scheduler; Argo CD's
# application-controller, repo-server and server, built at the version bootstrap pins; Git
# (`git http-backend` on 127.0.0.1); bootstrap and gitops-bumper. What is simulated: the kubelet
# and the containers (kwok marks pods Running and Ready; nothing runs) and K3s's ServiceLB (a
# loop fills in LoadBalancer status). So the app is never asked over HTTP: bootstrap gets
# --no-probe and gitops-bumper no --probe. See p3/control-plane/README.md.
#
# usage: p3/scripts/loop.sh
#   BOOTSTRAP=… GITOPS_BUMPER=…  binaries to use (default: cargo build --release)
#   LOOP_WITHOUT_REFRESH=1       also time a v3 rollout that waits for Argo CD's own poll
# Its last line: loop: v1 synced in S s, v2 healthy in S s (argocd vX, kubernetes vY)
# Where the Go module proxy cannot be reached it prints "skipped: <reason>" and exits 0.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

skip() {
  echo "skipped: $*"
  exit 0
}
fail() {
  echo "loop: $*" >&2
  exit 1
}
now() { date +%s.%N; }
since() { python3 -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$(now)"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

ARGOCD_PIN=$(sed -n 's/^pub const VERSION: &str = "\(.*\)";/\1/p' bootstrap/src/gitops/argocd.rs)
[[ -n $ARGOCD_PIN ]] || fail "cannot read Argo CD's pin from bootstrap/src/gitops/argocd.rs"

if [[ -z ${BOOTSTRAP:-} || -z ${GITOPS_BUMPER:-} ]]; then
  echo "# cargo build --release --locked -p bootstrap -p gitops-bumper"
  cargo build --release --locked -q -p bootstrap -p gitops-bumper
  BOOTSTRAP=$root/target/release/bootstrap
  GITOPS_BUMPER=$root/target/release/gitops-bumper
fi

work=$(mktemp -d)
plane=$work/control-plane
git_pid=
cleanup() {
  [[ -n $git_pid ]] && kill "$git_pid" 2>/dev/null
  p3/scripts/control-plane.sh down "$plane" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the control plane and Argo CD's controllers --------------------------------------------
started=$(now)
up=$(p3/scripts/control-plane.sh up "$plane") || fail "p3/scripts/control-plane.sh up failed"
last=$(tail -n 1 <<<"$up")
[[ $last == skipped:* ]] && skip "${last#skipped: }"
[[ $last == "export KUBECONFIG="* ]] || fail "control-plane.sh up ended with '$last'"
eval "$last"
echo "# control plane up in $(since "$started") s: $KUBECONFIG"
# shellcheck source=/dev/null
source "$plane/env"
# The kubectl built with the control plane (its version), unless KUBECTL named another.
kubectl=${KUBECTL:?control-plane.sh wrote no KUBECTL into its env}

# --- the Git repository Argo CD follows -------------------------------------------------------
mkdir -p "$work/git" "$work/cache/argocd"
git init -q --bare --initial-branch=main "$work/git/lab.git"
git_port=$(free_port)
python3 p3/scripts/git-http.py "$work/git" "$git_port" 2>"$work/git-http.log" &
git_pid=$!
repo_url=http://127.0.0.1:$git_port/lab.git
git clone -q --no-hardlinks "$root" "$work/repo"
git -C "$work/repo" checkout -q -B main
git -C "$work/repo" config user.name "iot-rs loop"
git -C "$work/repo" config user.email "loop@iot-rs.invalid"
git -C "$work/repo" remote set-url origin "$repo_url"
grep -q 'image: "localhost:5111/echo-app:v1"' "$work/repo/p3/confs/playground.yaml" ||
  fail "p3/confs/playground.yaml of this checkout is not at echo-app:v1"
for _ in $(seq 1 50); do
  git -C "$work/repo" push -q origin main 2>/dev/null && break
  sleep 0.1
done
pushed=$(git -C "$work/repo" rev-parse HEAD)
[[ $(git ls-remote "$repo_url" refs/heads/main | cut -f1) == "$pushed" ]] || fail "the push to $repo_url did not land"

# The pinned install.yaml, from the tagged Argo CD module (the control plane's build fetched
# it through the Go module proxy); bootstrap checks it against its pinned sha256.
zip=$(go mod download -json "github.com/argoproj/argo-cd/v3@$ARGOCD_PIN" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Zip"])')
python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
  "$zip" "github.com/argoproj/argo-cd/v3@$ARGOCD_PIN/manifests/install.yaml" >"$work/cache/argocd/install-$ARGOCD_PIN.yaml"

# What exists before p3, to compare after `bootstrap down`.
cluster_objects() {
  "$kubectl" get namespaces,customresourcedefinitions,clusterroles,clusterrolebindings -o name | sort
}
before=$(cluster_objects)

# --- v1 ---------------------------------------------------------------------------------------
echo
echo "# bootstrap p3 --kubeconfig $KUBECONFIG --repo $repo_url --no-probe"
echo "# (no HTTP probe of the app: kwok simulates the kubelet, no container runs here)"
t=$(now)
(cd "$work/repo" && "$BOOTSTRAP" p3 --kubeconfig "$KUBECONFIG" --repo "$repo_url" --revision main \
  --no-probe --cache-dir "$work/cache") || fail "bootstrap p3 failed"
v1=$(since "$t")
app() { "$kubectl" -n argocd get application playground -o "jsonpath=$1"; }
image() { "$kubectl" -n dev get deployment playground -o 'jsonpath={.spec.template.spec.containers[0].image}'; }
[[ $(app '{.status.sync.revision}') == "$pushed" ]] || fail "the Application is not at the pushed commit $pushed"
[[ $(app '{.status.sync.status} {.status.health.status}') == "Synced Healthy" ]] || fail "the Application is not Synced and Healthy"
[[ $(image) == localhost:5111/echo-app:v1 ]] || fail "dev/playground runs $(image), not localhost:5111/echo-app:v1"
echo "# v1: Synced and Healthy at ${pushed:0:7}, dev/playground runs echo-app:v1 from localhost:5111 ($v1 s)"

# --- v2 ---------------------------------------------------------------------------------------
echo
echo "# gitops-bumper v2 --wait (no --probe: no container runs here)"
t=$(now)
out=$(cd "$work/repo" && "$GITOPS_BUMPER" v2 --wait --kubeconfig "$KUBECONFIG" --timeout 5m) ||
  fail "gitops-bumper v2 --wait failed: $out"
v2=$(since "$t")
echo "$out"
bumped=$(git -C "$work/repo" rev-parse HEAD)
grep -q "rolled out: sync Synced at ${bumped:0:7}" <<<"$out" || fail "--wait did not name the commit ${bumped:0:7}"
[[ $(image) == localhost:5111/echo-app:v2 ]] || fail "dev/playground runs $(image), not localhost:5111/echo-app:v2"
rollout=$("$kubectl" -n dev rollout status deployment/playground --timeout=60s) || fail "the v2 rollout did not complete"
echo "# v2: $rollout ($v2 s)"

if [[ -n ${LOOP_WITHOUT_REFRESH:-} ]]; then
  echo
  echo "# gitops-bumper v3 --wait --no-refresh (Argo CD's own poll of Git)"
  t=$(now)
  (cd "$work/repo" && "$GITOPS_BUMPER" v3 --wait --no-refresh --kubeconfig "$KUBECONFIG" --timeout 10m) ||
    fail "gitops-bumper v3 --wait --no-refresh failed"
  echo "# v3 without a refresh: $(since "$t") s"
fi

# --- status -----------------------------------------------------------------------------------
echo
echo "# bootstrap status --kubeconfig $KUBECONFIG --no-probe"
"$BOOTSTRAP" status --kubeconfig "$KUBECONFIG" --no-probe || fail "bootstrap status found a layer not fine"

# --- a manifest the API rejects ---------------------------------------------------------------
echo
echo "# a pushed manifest the API rejects (spec.replicas: many), then gitops-bumper v9 --wait"
sed -i 's/^  replicas: 1$/  replicas: many/' "$work/repo/p3/confs/playground.yaml"
git -C "$work/repo" commit -qam "p3: an invalid Deployment (the loop's failure case)"
git -C "$work/repo" push -q origin main
set +e
# Argo CD retries a failed automated sync with backoff (about 3 minutes in all) before it
# calls the operation Failed; --wait gives up sooner and relays the error it has seen.
bad=$(cd "$work/repo" && "$GITOPS_BUMPER" v9 --wait --kubeconfig "$KUBECONFIG" --timeout 30s 2>&1)
code=$?
set -e
echo "$bad"
[[ $code == 3 ]] || fail "gitops-bumper --wait exited $code on a rejected manifest, not 3"
grep -q "synchronization tasks completed unsuccessfully" <<<"$bad" ||
  fail "gitops-bumper --wait did not relay Argo CD's own message about the failed sync"

# Versions as the running binaries report them.
k8s=$("$kubectl" version -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')
argocd=$(curl -fsS "http://127.0.0.1:$ARGOCD_SERVER_PORT/api/version" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["Version"].split("+")[0])')

# --- down -------------------------------------------------------------------------------------
echo
echo "# bootstrap down --kubeconfig $KUBECONFIG"
"$BOOTSTRAP" down --kubeconfig "$KUBECONFIG" || fail "bootstrap down failed"
after=$(cluster_objects)
if [[ $before != "$after" ]]; then
  diff <(echo "$before") <(echo "$after") >&2 || true
  fail "bootstrap down did not leave the cluster as it found it"
fi
echo "# the cluster is as it was before bootstrap p3"

echo "loop: v1 synced in $v1 s, v2 healthy in $v2 s (argocd $argocd, kubernetes $k8s)"
