#!/usr/bin/env bash
# Measures what echo-app really uses when run exactly as the charts run it, to set against
# the charts' resource requests and limits (8Mi / 32Mi memory, 5m / 100m CPU):
#   - peak and final RSS of the process, idle and after a burst of requests;
#   - CPU time spent serving the burst.
# The binary is the image's (`cargo static -p echo-app`); it listens on 127.0.0.1 only.
#
#   bench/chart-resources.sh [REQUESTS] [PARALLEL]      defaults: 20000 requests, 50 at once
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${1:-20000}
PARALLEL=${2:-50}
BIN=target/x86_64-unknown-linux-gnu/image/echo-app

if [[ ! -x $BIN ]]; then
  echo "building $BIN (cargo static -p echo-app)"
  cargo static -p echo-app >/dev/null
fi
command -v curl >/dev/null || {
  echo "error: curl is needed (apt-get install curl)" >&2
  exit 1
}

log=$(mktemp)
pid=
cleanup() {
  [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -f "$log"
}
trap cleanup EXIT

status_kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$pid/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }

# The arguments charts/p2 gives app-two's container (POD_NAME expanded by Kubernetes there);
# the access log (stdout) stays on, as in the pods.
args=(-text="Hello from app2, pod app-two-7d4b9c8f6-x0000" -listen=127.0.0.1:0
  -shutdown-delay=3s -drain-timeout=5s)
"$BIN" "${args[@]}" >/dev/null 2>"$log" &
pid=$!
addr=
for _ in $(seq 1 50); do
  addr=$(sed -n 's/.*server is listening on \([0-9.:]*\).*/\1/p' "$log" | head -n1)
  [[ -n $addr ]] && break
  sleep 0.1
done
[[ -n $addr ]] || {
  echo "error: echo-app did not start; its stderr:" >&2
  cat "$log" >&2
  exit 1
}

idle_rss=$(status_kb VmRSS)
ticks_before=$(cpu_ticks)
start=$(date +%s.%N)
curl --silent --no-progress-meter --fail --parallel --parallel-max "$PARALLEL" --output /dev/null \
  "http://$addr/[1-$REQUESTS]"
end=$(date +%s.%N)
ticks_after=$(cpu_ticks)
hz=$(getconf CLK_TCK)

cmd="curl --parallel --parallel-max $PARALLEL http://$addr/[1-$REQUESTS] against $BIN ${args[*]}"
printf 'command: %s\n' "$cmd"
printf 'idle RSS:               %6s KiB   (VmRSS after start)\n' "$idle_rss"
printf 'RSS after the burst:    %6s KiB   (VmRSS)\n' "$(status_kb VmRSS)"
printf 'peak RSS:               %6s KiB   (VmHWM)\n' "$(status_kb VmHWM)"
awk -v t="$((ticks_after - ticks_before))" -v hz="$hz" -v n="$REQUESTS" -v s="$start" -v e="$end" \
  'BEGIN { printf "CPU for %d requests:   %6.0f ms      (%.1f ms per 1000; wall %.2f s, incl. curl)\n", n, t * 1000 / hz, t * 1000000 / hz / n, e - s }'
echo "chart settings:         requests 8Mi / 5m, limits 32Mi / 100m (charts/p*/values.yaml)"
