#!/usr/bin/env bash
# Push and pull times of echo-app:v1 and :v2 through a local registry, by the Docker engine's
# API (the docker CLI asks the engine, as bootstrap's bollard push does). The registry is a
# stand-in for registry:2 built from Debian's docker-registry (the same CNCF distribution),
# published on 127.0.0.1 only. Needs the images (`bootstrap images echo-app`).
# Usage: bench/registry.sh [RUNS]
set -euo pipefail
runs=${1:-3}
bin=/usr/bin/docker-registry
[[ -x $bin ]] || { echo "no $bin: apt-get install docker-registry" >&2; exit 1; }
for t in v1 v2; do
  docker image inspect "echo-app:$t" >/dev/null || { echo "no echo-app:$t: run bootstrap images echo-app" >&2; exit 1; }
done
ctx=$(mktemp -d)
name=iot-bench-registry-$$
image=iot-bench-registry:$$
cleanup() {
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker rmi -f "$image" >/dev/null 2>&1 || true
  rm -rf "$ctx"
}
trap cleanup EXIT
mkdir -p "$ctx/root/bin" "$ctx/root/etc/docker/registry"
cp "$bin" "$ctx/root/bin/registry"
for lib in $(ldd "$bin" | grep -o '/[^ ]*'); do
  mkdir -p "$ctx/root$(dirname "$lib")"
  cp -L "$lib" "$ctx/root$lib"
done
printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/registry\nhttp:\n  addr: :5000\n' \
  >"$ctx/root/etc/docker/registry/config.yml"
printf 'FROM scratch\nCOPY root /\nENTRYPOINT ["/bin/registry", "serve", "/etc/docker/registry/config.yml"]\n' >"$ctx/Dockerfile"
docker build -q -t "$image" "$ctx" >/dev/null
docker run -d --name "$name" -p 127.0.0.1::5000 "$image" >/dev/null
port=$(docker port "$name" 5000/tcp | head -1 | sed 's/.*://')
until curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; do sleep 0.1; done
ms() { date +%s%3N; }
for t in v1 v2; do
  ref=localhost:$port/echo-app:$t
  for run in $(seq "$runs"); do
    docker tag "echo-app:$t" "$ref"
    a=$(ms); docker push -q "$ref" >/dev/null; b=$(ms)
    # the image leaves the engine entirely (both names), so the pull fetches every layer
    docker rmi "echo-app:$t" >/dev/null
    docker rmi "$ref" >/dev/null
    c=$(ms); docker pull -q "$ref" >/dev/null; d=$(ms)
    docker tag "$ref" "echo-app:$t"
    docker rmi "$ref" >/dev/null
    # run 1 pushes into an empty repository; later runs find the layers there already
    echo "echo-app:$t run $run: push $((b - a)) ms$([[ $run == 1 ]] && echo ' (cold)'), pull $((d - c)) ms ($(docker image inspect -f '{{.Size}}' "echo-app:$t") bytes)"
  done
done
