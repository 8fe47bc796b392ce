#!/usr/bin/env bash
# token-server's figures, each printed with the command that produced it:
#   1. binary size, and that it is static;
#   2. delay from the token file appearing to `fetch` having written it (RUNS runs), next to
#      a fixed `sleep 5` curl loop (LOOP_RUNS runs) and its expected mean of 2.5 s;
#   3. resident memory of `serve` and of `python3 -m http.server`, side by side.
# Loopback only: serve on 127.0.0.110, the agent on 127.0.0.111.
#   usage: bench/token-server.sh            (RUNS=30 LOOP_RUNS=4 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
LOOP_RUNS=${LOOP_RUNS:-4}
SERVER_IP=127.0.0.110
AGENT_IP=127.0.0.111
BIN=target/x86_64-unknown-linux-gnu/image/token-server
PYTHON=$(command -v /usr/bin/python3 || command -v python3)
TOKEN="K10$(printf '%064d' 7)::server:0123456789abcdef0123456789abcdef"
export BENCH_SECRET=bench-secret-0123456789abcdef

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

figure() { printf '\n%s\n' "$1"; shift; printf '  $ %s\n' "$@"; }

# Starts `serve` in the background with the given extra flags; sets SERVE_PID and SERVE_PORT.
start_serve() {
  local dir=$1 log=$1/serve.log
  shift
  "$BIN" serve --listen "$SERVER_IP:0" --file "$dir/node-token" --allow "$AGENT_IP/32" \
    --secret-env BENCH_SECRET "$@" 2>"$log" &
  SERVE_PID=$!
  pids+=("$SERVE_PID")
  for _ in $(seq 200); do
    SERVE_PORT=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$log" 2>/dev/null || true)
    [[ -n $SERVE_PORT ]] && return
    sleep 0.01
  done
  echo "serve did not start: $(cat "$log")" >&2
  exit 1
}

# Makes the token appear at once, as K3s' file appears to a reader; prints the time it did.
make_token_appear() {
  printf '%s\n' "$TOKEN" >"$1/.node-token.tmp"
  mv "$1/.node-token.tmp" "$1/node-token"
  stat -c %.9Z "$1/node-token"
}

# mean, p50, p90, max of the numbers (ms) on stdin.
summarize() {
  sort -n | awk '{ v[NR] = $1; s += $1 } END {
    p50 = v[int((NR + 1) / 2)]; p90 = v[int(NR * 0.9 + 0.999)];
    printf "mean %.0f ms, p50 %.0f ms, p90 %.0f ms, max %.0f ms (n=%d)", s / NR, p50, p90, v[NR], NR }'
}

# Waits 0.3 s plus a random part of $1 ms, so that the token appears at a uniformly random
# point of the client's retry schedule (its period is 200 ms for fetch, 5 s for the loop).
random_pause() { sleep "$(awk -v r="$RANDOM" -v span="$1" 'BEGIN { printf "%.3f", 0.3 + (r % span) / 1000 }')"; }

echo "building: cargo static -p token-server"
cargo static -p token-server >/dev/null 2>&1 || cargo static -p token-server

# 1. Size --------------------------------------------------------------------------------
size=$(stat -c %s "$BIN")
linkage=$(ldd "$BIN" 2>&1 | xargs || true)
figure "binary: $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }') MiB), ldd says: $linkage" \
  "stat -c %s $BIN" "ldd $BIN"

# 2. Delay ---------------------------------------------------------------------------------
delays=$work/delays
for i in $(seq "$RUNS"); do
  dir=$work/run-$i
  mkdir -p "$dir"
  start_serve "$dir" --max-fetches 1 --linger 0s
  "$BIN" fetch --url "http://$SERVER_IP:$SERVE_PORT/node-token" --bind "$AGENT_IP" \
    --secret-env BENCH_SECRET --out "$dir/out" --timeout 60s 2>"$dir/fetch.log" &
  fetch_pid=$!
  random_pause 1200
  appeared=$(make_token_appear "$dir")
  wait "$fetch_pid"
  written=$(stat -c %.9Y "$dir/out")
  awk -v a="$appeared" -v w="$written" 'BEGIN { printf "%.1f\n", (w - a) * 1000 }' >>"$delays"
  wait "$SERVE_PID" || true
done
figure "token-server fetch, file appeared -> token written: $(summarize <"$delays")" \
  "token-server serve --listen $SERVER_IP:0 --allow $AGENT_IP/32 --max-fetches 1 --secret-env BENCH_SECRET --file DIR/node-token &" \
  "token-server fetch --url http://$SERVER_IP:PORT/node-token --bind $AGENT_IP --secret-env BENCH_SECRET --out DIR/out &" \
  "(after 0.3 s + a random 0-1.2 s) mv DIR/.node-token.tmp DIR/node-token; delay = mtime(DIR/out) - ctime(DIR/node-token)"

loop_delays=$work/loop-delays
for i in $(seq "$LOOP_RUNS"); do
  dir=$work/loop-$i
  mkdir -p "$dir"
  start_serve "$dir" --max-fetches 1 --linger 0s
  url="http://$SERVER_IP:$SERVE_PORT/node-token"
  (
    until curl -sf --interface "$AGENT_IP" -H "Authorization: Bearer $BENCH_SECRET" -o "$dir/out.tmp" "$url"; do
      sleep 5
    done
    mv "$dir/out.tmp" "$dir/out"
  ) &
  loop_pid=$!
  random_pause 5000
  appeared=$(make_token_appear "$dir")
  wait "$loop_pid"
  written=$(stat -c %.9Y "$dir/out")
  awk -v a="$appeared" -v w="$written" 'BEGIN { printf "%.1f\n", (w - a) * 1000 }' >>"$loop_delays"
  wait "$SERVE_PID" || true
done
figure "fixed 5 s poll loop, same measurement: $(summarize <"$loop_delays"); expected mean 2500 ms, max 5000 ms (the file appears at a uniformly random point of the 5 s sleep)" \
  "(the file appears after 0.3 s + a random 0-5 s, as above)" \
  "until curl -sf --interface $AGENT_IP -H 'Authorization: Bearer ...' -o DIR/out.tmp http://$SERVER_IP:PORT/node-token; do sleep 5; done; mv DIR/out.tmp DIR/out"

# 3. Memory --------------------------------------------------------------------------------
dir=$work/rss
mkdir -p "$dir/tls"
make_token_appear "$dir" >/dev/null
start_serve "$dir" --ttl 10m
py_port=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.110", 0)); print(s.getsockname()[1])')
"$PYTHON" -m http.server "$py_port" --bind "$SERVER_IP" --directory "$dir" >/dev/null 2>&1 &
py_pid=$!
pids+=("$py_pid")
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://$SERVER_IP:$py_port/node-token" && break
  sleep 0.05
done
for _ in $(seq 20); do
  curl -sf -o /dev/null --interface "$AGENT_IP" -H "Authorization: Bearer $BENCH_SECRET" \
    "http://$SERVER_IP:$SERVE_PORT/node-token"
  curl -sf -o /dev/null --interface "$AGENT_IP" "http://$SERVER_IP:$py_port/node-token"
done
rss() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
figure "RSS after 20 token fetches each: token-server serve $(rss "$SERVE_PID" VmRSS) kB (peak $(rss "$SERVE_PID" VmHWM) kB, $(rss "$SERVE_PID" Threads) thread); python3 -m http.server $(rss "$py_pid" VmRSS) kB (peak $(rss "$py_pid" VmHWM) kB)" \
  "token-server serve --listen $SERVER_IP:0 --allow $AGENT_IP/32 --secret-env BENCH_SECRET --file DIR/node-token &" \
  "$PYTHON -m http.server PORT --bind $SERVER_IP --directory DIR &" \
  "20 x curl .../node-token against each; then grep -E 'VmRSS|VmHWM|Threads' /proc/PID/status"
