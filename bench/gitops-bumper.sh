#!/usr/bin/env bash
# gitops-bumper's bump-commit-push, side by side with the shell way, in one run on one machine.
#
# A GitOps repository of 1,000 files (the p3 layout, 4 files, plus 996 other manifests) with a
# local bare remote; each measured run makes a real bump to a new tag, commits and pushes it:
#   - gitops-bumper <tag>                      (default paths: p3/confs, charts/p3)
#   - gitops-bumper <tag> --path .             (every one of the 1,000 YAML files parsed)
#   - the shell way: sed -i on the two files, git commit -a, git push
#   - gitops-bumper with SSL_CERT_FILE=/dev/null: not a way to run it, a diagnostic — libgit2
#     (https feature) has OpenSSL parse the system CA bundle at start-up, whatever the remote;
#     the difference to the first line is that cost
# hyperfine reports mean/min/max of each; then the peak RSS of one bump (GNU time).
#
# usage: bench/gitops-bumper.sh [RUNS]      (default 50 runs per command, after 3 warm-ups)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-50}
if ! command -v hyperfine >/dev/null; then
  echo "hyperfine is missing: apt-get install hyperfine" >&2
  exit 1
fi

echo "# building: cargo build --release --locked -p gitops-bumper"
cargo build --release --locked -q -p gitops-bumper
BUMPER=$PWD/target/release/gitops-bumper

WORK_ROOT=$(mktemp -d)
trap 'rm -rf "$WORK_ROOT"' EXIT
export HOME=$WORK_ROOT/home GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME"
git config --global user.name "Bench Bumper"
git config --global user.email bench@example.org
git config --global init.defaultBranch main

REMOTE=$WORK_ROOT/remote.git
REPO=$WORK_ROOT/repo
git init -q --bare "$REMOTE"
git clone -q "$REMOTE" "$REPO" 2>/dev/null
mkdir -p "$REPO/p3/confs" "$REPO/charts/p3/templates"
cat >"$REPO/p3/confs/playground.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: playground
  namespace: dev
spec:
  template:
    spec:
      containers:
        - name: playground
          image: "echo-app:v1"   # bumped by gitops-bumper
          ports:
            - containerPort: 8888
EOF
cat >"$REPO/charts/p3/values.yaml" <<'EOF'
image:
  repository: echo-app
  tag: v1
  pullPolicy: IfNotPresent
EOF
printf 'apiVersion: v2\nname: p3\nversion: 0.1.0\n' >"$REPO/charts/p3/Chart.yaml"
printf 'image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"\n' \
  >"$REPO/charts/p3/templates/deployment.yaml"
for i in $(seq -w 1 996); do
  dir=$REPO/apps/team-$((10#$i % 30))
  mkdir -p "$dir"
  printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-%s\ndata:\n  image: other-app:v%s\n' \
    "$i" "$i" >"$dir/app-$i.yaml"
done
(
  cd "$REPO"
  git add -A
  git commit -qm "1,000 files"
  git push -q origin main
)
echo "# repository: $(git -C "$REPO" ls-files | wc -l) files; remote: local bare repository"

# Each run bumps to a tag never used before, so every run commits and pushes.
BUMP_DEFAULT="$BUMPER \"t\$(date +%s%N)\" --repo $REPO >/dev/null"
BUMP_ALL="$BUMPER \"t\$(date +%s%N)\" --repo $REPO --path . >/dev/null"
BUMP_NO_CA="SSL_CERT_FILE=/dev/null $BUMP_DEFAULT"
SHELL_WAY="cd $REPO && t=t\$(date +%s%N) && \
sed -i -E \"s/(image: \\\"echo-app:)[^\\\"]*/\\1\$t/\" p3/confs/playground.yaml && \
sed -i -E \"s/^(  tag: ).*/\\1\$t/\" charts/p3/values.yaml && \
git commit -qam \"bump \$t\" && git push -q origin main"

JSON=$WORK_ROOT/hyperfine.json
hyperfine --warmup 3 --runs "$RUNS" --shell bash --export-json "$JSON" \
  -n "gitops-bumper" "$BUMP_DEFAULT" \
  -n "gitops-bumper --path ." "$BUMP_ALL" \
  -n "sed + git commit + git push" "$SHELL_WAY" \
  -n "gitops-bumper, no CA bundle" "$BUMP_NO_CA" >/dev/null

echo
printf '%-30s %9s %9s %9s\n' "bump-commit-push" "mean" "min" "max"
python3 - "$JSON" <<'EOF'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    ms = lambda s: f"{s * 1000:.1f} ms"
    print(f"{r['command']:<30} {ms(r['mean']):>9} {ms(r['min']):>9} {ms(r['max']):>9}")
EOF
echo
echo "# commands (hyperfine --warmup 3 --runs $RUNS --shell bash):"
echo "#   gitops-bumper:               $BUMP_DEFAULT"
echo "#   gitops-bumper --path .:      $BUMP_ALL"
echo "#   sed + git commit + git push: $SHELL_WAY"
echo "#   gitops-bumper, no CA bundle: $BUMP_NO_CA"

RSS_CMD="/usr/bin/time -f %M $BUMPER t\$(date +%s%N) --repo $REPO --path ."
peak=$( { /usr/bin/time -f %M "$BUMPER" "t$(date +%s%N)" --repo "$REPO" --path . >/dev/null; } 2>&1 | tail -n 1)
echo
echo "peak RSS of one bump over all 1,000 files: $((peak / 1024)).$((peak % 1024 * 10 / 1024)) MB   ($RSS_CMD)"
echo "history after the runs: $(git -C "$REMOTE" rev-list --count main) commits on the remote, all fast-forwards"
