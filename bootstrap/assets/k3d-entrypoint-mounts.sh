#!/bin/sh
# The kubelet and CSI drivers propagate mounts to and from pods, which needs the root mount
# to be shared; a container's root starts out private.
set -eu
echo "mounts: making / rshared"
mount --make-rshared /
