#!/bin/sh
# bootstrap writes this file into every K3s node before the node starts, as k3d does: it runs
# each /bin/k3d-entrypoint-*.sh fix, then K3s. A fix that fails stops the node and prints the
# log to stderr, so `bootstrap` shows it in its "node did not become ready" error.
set -eu

log="/var/log/k3d-entrypoints_$(date +%y%m%d%H%M%S).log"
mkdir -p /var/log
echo "[$(date -Iseconds)] bootstrap: running the entrypoint fixes" >>"$log"
for fix in /bin/k3d-entrypoint-*.sh; do
  [ -e "$fix" ] || continue
  echo "[$(date -Iseconds)] bootstrap: $fix" >>"$log"
  if ! "$fix" >>"$log" 2>&1; then
    echo "bootstrap: entrypoint fix $fix failed; its log follows" >&2
    cat "$log" >&2
    exit 1
  fi
done
echo "[$(date -Iseconds)] bootstrap: fixes done, starting k3s $*" >>"$log"

# exec, not a child process: docker-init (Init=true) then hands signals straight to K3s, so
# `docker stop` and `bootstrap cluster stop` stop it cleanly and no cordon is left to undo.
exec /bin/k3s "$@"
