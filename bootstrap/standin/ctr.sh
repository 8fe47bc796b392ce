#!/bin/sh
# Stand-in for K3s's ctr in the test node image: `ctr image import --all-platforms -` keeps the
# bytes that arrive on stdin in /var/lib/standin-images/, so a test can check that each node
# received the whole `docker save` stream.
set -eu
if [ "$*" != "image import --all-platforms -" ]; then
  echo "ctr stand-in: only 'image import --all-platforms -' is supported, got: $*" >&2
  exit 2
fi
dir=/var/lib/standin-images
mkdir -p "$dir"
out="$dir/import-$(date +%s)-$$.tar"
cat >"$out"
echo "unpacking $(wc -c <"$out") bytes into $out"
