#!/bin/sh
# Stand-in for k3d-proxy's entrypoint in the test load balancer image: it needs the config
# bootstrap uploads before start, and prints nginx's ready line.
set -eu
conf=/etc/confd/values.yaml
if [ ! -f "$conf" ]; then
  echo "nginx-proxy stand-in: $conf is missing" >&2
  exit 1
fi
echo "stand-in proxy configured with:"
cat "$conf"
echo "$(date '+%Y/%m/%d %H:%M:%S') [notice] 1#1: start worker processes"
exec sleep 2147483647
