#!/usr/bin/env bash
# The real path, on a machine with a cluster that runs Argo CD and the p3 app (as `bootstrap p3`
# sets it up): `gitops-bumper v2 --wait --probe` against it, then back to v1 the same way, each
# step timed from the push. Where there is no such cluster it says `skipped: <reason>` and
# exits 0; once it runs, any failure is an error.
#
# usage: GITOPS_REPO=<clone Argo CD watches, with push rights> gitops-bumper/e2e.sh
#   KUBECONFIG / KUBE_CONTEXT   which cluster (default: the current context)
#   PROBE_URL                   the app (default http://localhost:8888/)
#   E2E_TIMEOUT                 per rollout (default 5m)
set -euo pipefail
cd "$(dirname "$0")/.."

skip() {
  echo "skipped: $*"
  exit 0
}

[[ -n ${GITOPS_REPO:-} ]] ||
  skip "GITOPS_REPO is not set (a clone of the repository Argo CD watches, with push rights)"
kubeconfig=${KUBECONFIG:-$HOME/.kube/config}
[[ -f ${kubeconfig%%:*} ]] || skip "no kubeconfig at ${kubeconfig%%:*} (run bootstrap p3 first)"
if [[ ! -d $GITOPS_REPO ]] || ! git -C "$GITOPS_REPO" rev-parse --git-dir >/dev/null 2>&1; then
  echo "GITOPS_REPO=$GITOPS_REPO is not a Git clone" >&2
  exit 1
fi

echo "# building: cargo build --release --locked -p gitops-bumper"
cargo build --release --locked -q -p gitops-bumper
bumper=$PWD/target/release/gitops-bumper
args=(--repo "$GITOPS_REPO" --wait --timeout "${E2E_TIMEOUT:-5m}" --probe "${PROBE_URL:-http://localhost:8888/}")
if [[ -n ${KUBE_CONTEXT:-} ]]; then
  args+=(--context "$KUBE_CONTEXT")
fi

for tag in v2 v1; do
  echo
  echo "# $bumper $tag ${args[*]}"
  "$bumper" "$tag" "${args[@]}"
done
echo
echo "e2e passed: v1 -> v2 -> v1 rolled out through Git and Argo CD"
