#!/usr/bin/env bash
# Checks p2 from the host, the way an evaluator does: through Traefik at the VM's address,
# app1.com reaches app-one, app2.com reaches app-two from 3 different pods, and any other
# Host header, or none, reaches app-three.
#
#   p2/scripts/check.sh [ADDRESS]      ADDRESS defaults to 192.168.56.110 (host[:port])
#
# Exits 0 when every route answers as expected, 1 otherwise (each failure says why).
set -euo pipefail

ADDRESS=${1:-192.168.56.110}
# How many requests may go to app2.com to see its 3 replicas (Traefik balances round-robin,
# so 3 usually suffice).
APP2_TRIES=${APP2_TRIES:-30}

passed=0
failed=0
BODY=
POD=
WHY=

# The body answered for Host $1 at /$2; an empty $1 sends no Host header at all (HTTP/1.0,
# since HTTP/1.1 requires one).
ask() {
  local host=$1 path=${2:-}
  if [[ -z $host ]]; then
    curl --fail --silent --show-error --max-time 5 --http1.0 -H 'Host:' "http://$ADDRESS/$path" 2>&1
  else
    curl --fail --silent --show-error --max-time 5 -H "Host: $host" "http://$ADDRESS/$path" 2>&1
  fi
}

ok() {
  printf 'ok    %s\n' "$*"
  passed=$((passed + 1))
}
not_ok() {
  printf 'FAIL  %s\n' "$*"
  failed=$((failed + 1))
}

# Whether Host $1 (at /$4) is answered by app $2 (app1, app2, app3) from a pod of deployment
# $3. Sets BODY and POD, or WHY on failure.
probe() {
  local host=$1 app=$2 deployment=$3 path=${4:-}
  local label=${host:-<no Host header>}
  if ! BODY=$(ask "$host" "$path"); then
    WHY="Host $label/$path: no answer ($BODY)"
    return 1
  fi
  if [[ $BODY =~ ^Hello\ from\ $app,\ pod\ ($deployment-[a-z0-9]+-[a-z0-9]+)$ ]]; then
    POD=${BASH_REMATCH[1]}
  else
    WHY="Host $label/$path answered '$BODY', expected 'Hello from $app, pod $deployment-...'"
    return 1
  fi
}

expect() {
  if probe "$@"; then
    ok "Host ${1:-<no Host header>}/${4:-} -> $BODY"
  else
    not_ok "$WHY"
  fi
}

main() {
  if [[ $# -gt 1 || ${1:-} == -* ]]; then
    echo "usage: $0 [ADDRESS]   (default 192.168.56.110)" >&2
    exit 2
  fi
  command -v curl >/dev/null || {
    echo "error: curl is needed; install it (apt-get install curl) and run again" >&2
    exit 1
  }
  expect app1.com app1 app-one
  expect app1.com app1 app-one some/path
  expect anything.else app3 app-three
  expect "${ADDRESS%:*}" app3 app-three
  expect "" app3 app-three

  local -A pods=()
  local i
  for ((i = 0; i < APP2_TRIES && ${#pods[@]} < 3; i++)); do
    if probe app2.com app2 app-two; then
      pods[$POD]=1
    else
      not_ok "$WHY"
      break
    fi
  done
  if ((${#pods[@]} == 3)); then
    ok "Host app2.com answered from 3 pods: ${!pods[*]}"
  else
    not_ok "Host app2.com answered from ${#pods[@]} pod(s) in $i requests, expected 3: ${!pods[*]}"
  fi

  echo "check: $passed passed, $failed failed"
  ((failed == 0))
}

main "$@"
