#!/usr/bin/env bash
# echo-app under load, side by side with its baselines, in one run on one machine:
#   - echo-app in http-echo mode, every feature on (access log written to /dev/null, metrics);
#   - echo-app in playground mode;
#   - bare-hyper: the least a hyper server can do (echo-app/examples/bare_hyper.rs), with
#     tokio's default of a worker per CPU and with one worker (echo-app's default);
#   - hashicorp/http-echo, when HTTP_ECHO_BIN points at a binary of it (not built here: build
#     it yourself from its source; this script only runs it).
# For each: requests/s and p50/p99 latency (wrk, 1 thread, 50 connections), RSS after the load
# and its peak, and the time from exec to the first 200. Then binary and image size.
#
# usage: bench/echo-app.sh [SECONDS]      (default 10 s of load per server, after 2 s warm-up)
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-10}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }

echo "# building: cargo static -p echo-app; cargo build --config .cargo/static.toml --profile image -p echo-app --example bare_hyper"
cargo static -p echo-app -q
cargo build --config .cargo/static.toml --profile image --locked -q -p echo-app --example bare_hyper
BIN_DIR=target/x86_64-unknown-linux-gnu/image
ECHO_APP=$BIN_DIR/echo-app
BARE=$BIN_DIR/examples/bare_hyper

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_ready() {
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "server at $1 never answered" >&2
  return 1
}

rss_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }

results=()
measure() { # name url command...
  local name=$1 url=$2
  shift 2
  "$@" >/dev/null 2>&1 &
  local pid=$!
  wait_ready "$url"
  wrk -t1 -c50 -d2s "$url" >/dev/null
  local cmd="wrk -t1 -c50 -d${DURATION}s --latency $url"
  local out
  out=$($cmd)
  local rps p50 p99 rss peak
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  rss=$(rss_kb "$pid" VmRSS)
  peak=$(rss_kb "$pid" VmHWM)
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  local first
  first=$(bench/first_response.py 20 "$url" -- "$@")
  results+=("$(printf '%-22s %12s %9s %9s %10s %10s   %s' "$name" "$rps" "$p50" "$p99" "$((rss / 1024)).$((rss % 1024 * 10 / 1024)) MB" "$((peak / 1024)).$((peak % 1024 * 10 / 1024)) MB" "$first")")
  echo "# $name: $* ; load: $cmd ; RSS from /proc/<pid>/status VmRSS/VmHWM after the load ; first 200: bench/first_response.py 20 $url -- $*"
}

port=$(free_port)
measure "echo-app (http-echo)" "http://127.0.0.1:$port/" \
  "$ECHO_APP" -listen "127.0.0.1:$port" -text "hello"
port=$(free_port)
measure "echo-app (playground)" "http://127.0.0.1:$port/" \
  env APP_VERSION=v1 "$ECHO_APP" -listen "127.0.0.1:$port"
port=$(free_port)
measure "bare-hyper" "http://127.0.0.1:$port/" "$BARE" "127.0.0.1:$port"
port=$(free_port)
measure "bare-hyper (1 thread)" "http://127.0.0.1:$port/" \
  env TOKIO_WORKER_THREADS=1 "$BARE" "127.0.0.1:$port"
if [[ -n "${HTTP_ECHO_BIN:-}" ]]; then
  port=$(free_port)
  measure "hashicorp/http-echo" "http://127.0.0.1:$port/" \
    "$HTTP_ECHO_BIN" -listen "127.0.0.1:$port" -text "hello"
else
  echo "# hashicorp/http-echo: skipped (set HTTP_ECHO_BIN to a built http-echo binary to compare)"
fi

echo
printf '%-22s %12s %9s %9s %10s %10s   %s\n' server "req/s" p50 p99 "RSS after" "RSS peak" "exec -> first 200"
printf '%s\n' "${results[@]}"
echo
echo "binary: $(stat -c %s "$ECHO_APP") bytes ($ECHO_APP, stat -c %s)"
if docker info >/dev/null 2>&1; then
  echo "# building the image: cargo run --release -p bootstrap -- -q images echo-app"
  cargo run --release --locked -q -p bootstrap -- -q images echo-app >/dev/null
fi
if docker image inspect echo-app:v1 >/dev/null 2>&1; then
  echo "image echo-app:v1: $(docker image inspect -f '{{.Size}}' echo-app:v1) bytes (docker image inspect -f '{{.Size}}' echo-app:v1)," \
    "$(docker save echo-app:v1 | gzip -9 | wc -c) bytes gzipped (docker save echo-app:v1 | gzip -9 | wc -c)"
else
  echo "image: skipped (no Docker engine answers here)"
fi
echo "machine: $(nproc) cores, $(uname -r); wrk and the server share them"
