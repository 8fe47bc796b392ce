#!/usr/bin/env bash
# Runs on the host, from p2's Vagrant trigger: builds the echo-app image tarballs (v1, v2, as
# docker archives) that scripts/server.sh imports into K3s's containerd, so the VM needs no
# registry. Uses bootstrap from this workspace.
set -euo pipefail

p2=$(cd "$(dirname "$0")/.." && pwd)
root=$(dirname "$p2")

if ! command -v cargo >/dev/null; then
  echo "error: cargo is not installed; install Rust (https://rustup.rs) to build the echo-app images, then run vagrant up again" >&2
  exit 1
fi
cd "$root"
cargo run --release --locked -p bootstrap -- images --save "$p2/images"
if [[ ! -s $p2/images/echo-app-v1.tar ]]; then
  echo "error: bootstrap wrote no $p2/images/echo-app-v1.tar; see its output above" >&2
  exit 1
fi
