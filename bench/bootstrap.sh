#!/usr/bin/env bash
# Benchmarks bootstrap's Docker side with stand-in nodes (no K3s can be pulled here):
#   1. create-to-ready of a 1-server/2-agent cluster (+ load balancer), and delete;
#   2. the same create/delete sequence done with the docker CLI, to show bootstrap's overhead;
#   3. image import throughput (bootstrap image import vs docker save | docker exec -i ... ctr);
#   4. bootstrap's own CPU time and peak memory during a create.
# Every figure is printed next to the command that produced it. RUNS=<n> sets the repetitions
# (median reported). Everything created is named bench-<pid>-* and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
PAYLOAD_MIB=${PAYLOAD_MIB:-64}
id="$$-$RANDOM"
repo="iot-bench-$id"
work=$(mktemp -d)
clusters=()

cleanup() {
  for c in "${clusters[@]}"; do
    docker ps -aq --filter "label=k3d.cluster=$c" | xargs -r docker rm -f -v >/dev/null 2>&1 || true
    docker volume ls -q --filter "label=k3d.cluster=$c" | xargs -r docker volume rm >/dev/null 2>&1 || true
    docker network rm "k3d-$c" >/dev/null 2>&1 || true
  done
  docker images -q "$repo/*" | sort -u | xargs -r docker rmi -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "building bootstrap (release, feature test-nodes) and the stand-in images ..." >&2
cargo build --release --locked -q -p bootstrap --features test-nodes --bin bootstrap --example standin
bootstrap=target/release/bootstrap
read -r NODE LB < <(target/release/examples/standin "$repo" 1)
export KUBECONFIG="$work/kubeconfig"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
secs() { awk -v ms="$1" 'BEGIN {printf "%.2f s", ms/1000}'; }
report() { printf '%-58s %12s   $ %s\n' "$1" "$2" "$3"; }

# --- 1. bootstrap create / delete -----------------------------------------------------------
create_args() {
  CREATE=("$bootstrap" -q cluster create "$1" --agents 2 --image "$NODE" --lb-image "$LB"
    --api-port 127.0.0.1:random --unprivileged-test-nodes --timeout 60s)
}
create_ms=() delete_ms=()
for i in $(seq 1 "$RUNS"); do
  name="bench-$id-b$i"
  clusters+=("$name")
  create_args "$name"
  t0=$(now_ms)
  "${CREATE[@]}" >/dev/null
  t1=$(now_ms)
  "$bootstrap" -q cluster delete "$name" >/dev/null
  t2=$(now_ms)
  create_ms+=($((t1 - t0)))
  delete_ms+=($((t2 - t1)))
done

# --- 2. the same sequence with the docker CLI -------------------------------------------------
# Follows a container's log until a line contains the needle (ignoring case), like bootstrap.
wait_log() {
  local container=$1 needle=$2 line pid fd rc=1
  exec {fd}< <(exec docker logs -f "$container" 2>&1)
  pid=$!
  while IFS= read -r line <&"$fd"; do
    case "${line,,}" in *"${needle,,}"*)
      rc=0
      break
      ;;
    esac
  done
  exec {fd}<&-
  kill "$pid" 2>/dev/null || true
  return "$rc"
}

raw_create() {
  local n=$1 net="k3d-$1" vol="k3d-$1-images" files="$work/files-$1" gw api
  api=$(awk 'BEGIN {srand(); print 20000 + int(rand() * 20000)}')
  docker network create --driver bridge --label app=k3d \
    -o com.docker.network.bridge.enable_ip_masquerade=true "$net" >/dev/null
  gw=$(docker network inspect -f '{{(index .IPAM.Config 0).Gateway}}' "$net")
  docker volume create --label app=k3d --label "k3d.cluster=$n" "$vol" >/dev/null
  mkdir -p "$files/node/bin" "$files/lb/etc/confd"
  cp bootstrap/assets/k3d-entrypoint.sh bootstrap/assets/k3d-entrypoint-mounts.sh "$files/node/bin/"
  sed "s/@GATEWAY_IP@/$gw/" bootstrap/assets/k3d-entrypoint-dns.sh >"$files/node/bin/k3d-entrypoint-dns.sh"
  chmod 744 "$files"/node/bin/*.sh
  printf 'ports:\n  6443.tcp:\n  - k3d-%s-server-0\nsettings:\n  workerConnections: 1024\n' "$n" \
    >"$files/lb/etc/confd/values.yaml"
  local common=(--label app=k3d --label "k3d.cluster=$n" --cap-add ALL --cap-drop SYS_RESOURCE
    --userns host --init --tmpfs /run --tmpfs /var/run --restart unless-stopped
    --network "$net" -v "$vol:/k3d/images" -e K3S_KUBECONFIG_OUTPUT=/output/kubeconfig.yaml)
  local node=(-e K3S_TOKEN=benchtokenbenchtokenx --entrypoint /bin/k3d-entrypoint.sh)
  docker create "${common[@]}" "${node[@]}" --name "$net-server-0" --hostname "$net-server-0" \
    --label k3d.role=server "$NODE" server --tls-san 127.0.0.1 --tls-san "$net-serverlb" >/dev/null
  for a in 0 1; do
    docker create "${common[@]}" "${node[@]}" --name "$net-agent-$a" --hostname "$net-agent-$a" \
      --label k3d.role=agent -e "K3S_URL=https://$net-server-0:6443" "$NODE" agent >/dev/null
  done
  docker create "${common[@]}" --name "$net-serverlb" --hostname "$net-serverlb" \
    --label k3d.role=loadbalancer -p "127.0.0.1:$api:6443" "$LB" >/dev/null
  for c in "$net-server-0" "$net-agent-0" "$net-agent-1"; do docker cp "$files/node/." "$c:/"; done
  docker cp "$files/lb/." "$net-serverlb:/"
  docker start "$net-server-0" >/dev/null
  wait_log "$net-server-0" "k3s is up and running"
  docker start "$net-agent-0" "$net-agent-1" >/dev/null
  wait_log "$net-agent-0" "Successfully registered node" &
  local agent0=$!
  wait_log "$net-agent-1" "Successfully registered node"
  wait "$agent0"
  docker start "$net-serverlb" >/dev/null
  wait_log "$net-serverlb" "start worker processes"
  for c in "$net-server-0" "$net-agent-0" "$net-agent-1"; do
    docker exec "$c" sh -c "echo '$gw host.k3d.internal' >> /etc/hosts"
  done
  docker cp "$net-server-0:/output/kubeconfig.yaml" - >/dev/null
}

raw_delete() {
  docker ps -aq --filter "label=k3d.cluster=$1" | xargs -r docker rm -f -v >/dev/null
  docker network rm "k3d-$1" >/dev/null
  docker volume rm "k3d-$1-images" >/dev/null
}

raw_create_ms=() raw_delete_ms=()
for i in $(seq 1 "$RUNS"); do
  name="bench-$id-r$i"
  clusters+=("$name")
  t0=$(now_ms)
  raw_create "$name"
  t1=$(now_ms)
  raw_delete "$name"
  t2=$(now_ms)
  raw_create_ms+=($((t1 - t0)))
  raw_delete_ms+=($((t2 - t1)))
done

# --- 3. image import ------------------------------------------------------------------------
payload="$repo/payload:1"
mkdir -p "$work/payload"
head -c "$((PAYLOAD_MIB * 1024 * 1024))" /dev/urandom >"$work/payload/blob"
printf 'FROM scratch\nCOPY blob /blob\n' >"$work/payload/Dockerfile"
docker build -q -t "$payload" "$work/payload" >/dev/null 2>&1
save_bytes=$(docker save "$payload" | wc -c)
name="bench-$id-import"
clusters+=("$name")
create_args "$name"
"${CREATE[@]}" >/dev/null
import_ms=() raw_import_ms=()
nodes=("k3d-$name-server-0" "k3d-$name-agent-0" "k3d-$name-agent-1")
for _ in $(seq 1 "$RUNS"); do
  t0=$(now_ms)
  "$bootstrap" -q image import "$payload" -c "$name" >/dev/null
  t1=$(now_ms)
  docker save "$payload" | tee >(docker exec -i "${nodes[0]}" ctr image import --all-platforms - >/dev/null) \
    >(docker exec -i "${nodes[1]}" ctr image import --all-platforms - >/dev/null) |
    docker exec -i "${nodes[2]}" ctr image import --all-platforms - >/dev/null
  t2=$(now_ms)
  import_ms+=($((t1 - t0)))
  raw_import_ms+=($((t2 - t1)))
  for n in "${nodes[@]}"; do docker exec "$n" sh -c 'rm -f /var/lib/standin-images/*'; done
done
"$bootstrap" -q cluster delete "$name" >/dev/null

# --- 4. bootstrap's own cost ------------------------------------------------------------------
name="bench-$id-cost"
clusters+=("$name")
cost=""
if /usr/bin/time -f '%U %S %M' true >/dev/null 2>&1; then
  create_args "$name"
  /usr/bin/time -o "$work/cost" -f '%U %S %M' "${CREATE[@]}" >/dev/null
  cost=$(tail -n 1 "$work/cost")
  "$bootstrap" -q cluster delete "$name" >/dev/null
fi

# --- report -------------------------------------------------------------------------------------
mib_s() { awk -v b="$1" -v ms="$2" 'BEGIN {printf "%.1f MiB/s", b/1048576/(ms/1000)}'; }
c=$(printf '%s\n' "${create_ms[@]}" | median)
d=$(printf '%s\n' "${delete_ms[@]}" | median)
rc=$(printf '%s\n' "${raw_create_ms[@]}" | median)
rd=$(printf '%s\n' "${raw_delete_ms[@]}" | median)
im=$(printf '%s\n' "${import_ms[@]}" | median)
rim=$(printf '%s\n' "${raw_import_ms[@]}" | median)
echo
echo "bootstrap bench: stand-in cluster = 1 server + 2 agents + load balancer; median of $RUNS runs"
echo "host: $(nproc) cores shared, Docker $(docker version -f '{{.Server.Version}}')"
echo
create_args NAME
report "create-to-ready (bootstrap)" "$(secs "$c")" "${CREATE[*]}"
report "create-to-ready (docker CLI, same objects and waits)" "$(secs "$rc")" "raw_create NAME (this script)"
report "delete (bootstrap)" "$(secs "$d")" "$bootstrap -q cluster delete NAME"
report "delete (docker CLI)" "$(secs "$rd")" "raw_delete NAME (this script)"
report "image import, ${PAYLOAD_MIB} MiB image into 3 nodes (bootstrap)" "$(secs "$im")" \
  "$bootstrap -q image import $payload -c NAME"
report "  = stream throughput per node" "$(mib_s "$save_bytes" "$im")" "($save_bytes bytes of docker save / time)"
report "image import, same (docker save | tee | docker exec -i x3)" "$(secs "$rim")" \
  "docker save IMG | tee >(docker exec -i N ctr image import --all-platforms -) ..."
report "  = stream throughput per node" "$(mib_s "$save_bytes" "$rim")" "($save_bytes bytes / time)"
if [ -n "$cost" ]; then
  read -r user sys rss <<<"$cost"
  report "bootstrap CPU time during one create (user+sys)" \
    "$(awk -v u="$user" -v s="$sys" 'BEGIN {t = u + s; if (t < 0.01) print "< 0.01 s"; else printf "%.2f s", t}')" "/usr/bin/time -f '%U %S %M' ${CREATE[*]}"
  report "bootstrap peak RSS during one create" "$((rss / 1024)) MiB" "(same command)"
fi
