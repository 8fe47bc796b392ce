#!/usr/bin/env bash
# Part 3's GitOps loop on the test control plane (p3/scripts/loop.sh), timed over several runs:
#   control plane up       p3/scripts/control-plane.sh up (apiserver /readyz, kwok node Ready)
#   Argo CD install        bootstrap p3's step "Argo CD v3.5.2" (59 objects, CRDs Established,
#                          every workload Available)
#   v1 synced              bootstrap p3 --kubeconfig … --repo … --no-probe, start to end
#   v2 healthy             gitops-bumper v2 --wait (commit, push, hard refresh, Synced, Healthy)
#   v3 without refresh     gitops-bumper v3 --wait --no-refresh (Argo CD's own poll), with
#                          NO_REFRESH=1 only: it takes minutes (timeout.reconciliation + jitter)
# Each figure: min / median / max over the runs, with the command that made it.
#
# usage: bench/gitops-loop.sh [RUNS]      (default 3; NO_REFRESH=1 to add the v3 figure)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}

echo "# building: cargo build --release --locked -p bootstrap -p gitops-bumper"
cargo build --release --locked -q -p bootstrap -p gitops-bumper
export BOOTSTRAP=$PWD/target/release/bootstrap GITOPS_BUMPER=$PWD/target/release/gitops-bumper
[[ -n ${NO_REFRESH:-} ]] && export LOOP_WITHOUT_REFRESH=1

echo "# p3/scripts/control-plane.sh build (cached by version after the first)"
start=$EPOCHREALTIME
p3/scripts/control-plane.sh build | sed 's/^/  /'
awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "  build: %.1f s\n", b - a }'

out=$(mktemp)
trap 'rm -f "$out" "$out".*' EXIT
for run in $(seq 1 "$RUNS"); do
  echo "# run $run/$RUNS: p3/scripts/loop.sh"
  p3/scripts/loop.sh >"$out.$run" 2>&1 || {
    tail -n 30 "$out.$run" >&2
    exit 1
  }
  grep -q '^skipped: ' "$out.$run" && {
    grep '^skipped: ' "$out.$run"
    exit 0
  }
  tail -n 1 "$out.$run" | sed 's/^/  /'
  {
    sed -n 's/^# control plane up in \([0-9.]*\) s.*/up \1/p' "$out.$run"
    sed -n 's/.*✓ Argo CD v[0-9.]*: .*(\([0-9.]*\)s)$/install \1/p' "$out.$run"
    sed -n 's/^loop: v1 synced in \([0-9.]*\) s, v2 healthy in \([0-9.]*\) s.*/v1 \1\nv2 \2/p' "$out.$run"
    sed -n 's/^# v3 without a refresh: \([0-9.]*\) s/v3 \1/p' "$out.$run"
  } >>"$out"
done

figure() {
  local key=$1 label=$2 command=$3
  grep "^$key " "$out" | cut -d' ' -f2 | sort -n | awk -v label="$label" -v cmd="$command" '
    { v[NR] = $1 }
    END {
      if (NR == 0) exit
      printf "%-22s min %6.1f s  median %6.1f s  max %6.1f s  (%d runs)  %s\n",
        label, v[1], v[int((NR + 1) / 2)], v[NR], NR, cmd
    }'
}
echo
figure up "control plane up" "p3/scripts/control-plane.sh up"
figure install "Argo CD install" "bootstrap p3 --kubeconfig … (its Argo CD step)"
figure v1 "v1 synced" "bootstrap p3 --kubeconfig … --repo … --no-probe"
figure v2 "v2 healthy" "gitops-bumper v2 --wait (hard refresh)"
figure v3 "v3 without refresh" "gitops-bumper v3 --wait --no-refresh"
