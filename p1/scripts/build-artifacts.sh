#!/usr/bin/env bash
# Runs on the host before `vagrant up/provision/reload` (a Vagrant trigger): builds what the
# file provisioner uploads to the VMs, so a plain `vagrant up` works from a fresh clone.
set -euo pipefail
p1=$(cd "$(dirname "$0")/.." && pwd)
out=$p1/.artifacts
# `cargo static` reads its flags from a path relative to the workspace root.
cd "$p1/.."
command -v cargo >/dev/null ||
  { echo "build-artifacts.sh: error: cargo not found; install Rust (https://rustup.rs) to build p1's artifacts" >&2; exit 1; }
mkdir -p "$out"
cargo static -p token-server
install -m 0755 target/x86_64-unknown-linux-gnu/image/token-server "$out/token-server"
cargo run --release -p bootstrap -- images --save "$out"
