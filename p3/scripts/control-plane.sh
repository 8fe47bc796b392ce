#!/usr/bin/env bash
# A real Kubernetes control plane and Argo CD's real controllers as host processes on
# 127.0.0.1, for tests of bootstrap and gitops-bumper (p3/control-plane/README.md says what is
# real and what is simulated).
#
# usage: p3/scripts/control-plane.sh build
#        p3/scripts/control-plane.sh up     [DIR]   (DIR defaults to .cache/control-plane/run)
#        p3/scripts/control-plane.sh down   [DIR]
#        p3/scripts/control-plane.sh status [DIR]
#
# The last line `up` prints on stdout is `export KUBECONFIG=<DIR>/kubeconfig`; its progress goes
# to stderr. `build` and `up` print the one line `skipped: <reason>` and exit 0 where Go, the Go
# module proxy or Debian's packages cannot be had; any other failure exits non-zero.
set -euo pipefail

# --- pins: each also pinned in its module's go.mod (checked below) --------------------------
KUBERNETES_VERSION=v1.35.4
KWOK_VERSION=v0.8.0
ARGOCD_VERSION=v3.5.2
# The commit and commit time of Argo CD's v3.5.2 tag, as p3/control-plane/argocd/go.mod's
# gitops-engine pseudo-version records them (12 hex digits are all it records).
ARGOCD_GIT_COMMIT=e258ee23c3e5
ARGOCD_BUILD_DATE=2026-08-27T09:03:35Z
# Debian's packages by the command each brings (bookworm: etcd 3.4.23, redis 7.0.15); curl
# talks to the API where kubectl would cost a process start each time.
declare -A APT_PACKAGES=([etcd]=etcd-server [redis-server]=redis-server [curl]=curl)

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SELF=$ROOT/p3/scripts/control-plane.sh
MODULES=$ROOT/p3/control-plane
CACHE=$ROOT/.cache/control-plane
DEFAULT_DIR=$CACHE/run
NAME=iot-control-plane
# Only Argo CD's three servers run on the host; kwok moves every pod of install.yaml
# (these included) to Running, so the Deployments turn Available as on K3s.
ARGOCD_PROCESSES=(argocd-repo-server argocd-application-controller argocd-server)

# kubectl: $KUBECTL when set, else the one built with the control plane (its own version, so
# nothing needs one installed).
KUBECTL_GIVEN=${KUBECTL:-}

# shellcheck source=p3/scripts/go-tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/go-tools.sh"
say() { echo "$*" >&2; }

# Seconds since $1 (an $EPOCHREALTIME), one decimal.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }
human() { awk -v s="$1" 'BEGIN { if (s >= 60) printf "%dm%02ds", s / 60, s % 60; else printf "%.1fs", s }'; }

# ============================================================================================
# build
# ============================================================================================

# Cache key of a module: its go.mod, go.sum and the Go that builds it.
module_key() {
  { cat "$1/go.mod" "$1/go.sum"; go version; } | sha256sum | cut -c1-12
}

# A go.mod that pins another version than the top of this script would build something else.
check_pin() { # module-dir "module version"
  grep -Eq "^[[:space:]]*(require[[:space:]]+)?$2( |$)" "$1/go.mod" ||
    die "$1/go.mod does not require $2, the version this script pins"
}

# go_build COMPONENT VERSION MODULE-DIR LDFLAGS PACKAGE... : builds the packages' commands into
# $CACHE/COMPONENT-VERSION-KEY/ unless that exists, and sets BUILT_DIR and BUILT_HOW.
go_build() {
  local component=$1 version=$2 module=$3 ldflags=$4
  shift 4
  local key dir
  key=$(module_key "$module")
  dir=$CACHE/$component-$version-$key
  BUILT_DIR=$dir
  if [[ -d $dir ]]; then
    BUILT_HOW=cached
    return
  fi
  mkdir -p "$CACHE"
  # One build per module at a time, whichever run (parallel tests) asks for it.
  local lock
  exec {lock}>"$CACHE/$component.lock"
  flock "$lock"
  if [[ -d $dir ]]; then
    exec {lock}>&-
    BUILT_HOW=cached
    return
  fi
  rm -rf "$dir.partial"
  mkdir -p "$dir.partial"
  local started=$EPOCHREALTIME log=$CACHE/$component.build.log
  say "building $component $version (log: $log)"
  if ! (cd "$module" && CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$dir.partial/" "$@") >"$log" 2>&1; then
    if grep -Eq "$UNREACHABLE" "$log"; then
      skip "cannot fetch $component $version's Go modules ($(grep -Em1 "$UNREACHABLE" "$log"))"
    fi
    tail -n 20 "$log" >&2
    die "go build of $component $version failed (log: $log)"
  fi
  BUILT_HOW="built in $(human "$(elapsed "$started")")"
  # The rename is the commit point: an interrupted build leaves only the .partial directory.
  BUILT_PARTIAL=$dir.partial
  "${BUILT_FIXUP:-true}"
  mv "$dir.partial" "$dir"
  exec {lock}>&-
}

# Argo CD is one binary that dispatches on its name; the names are links to it, as in its
# image. The repo-server also runs the image's git-verify-wrapper.sh on every commit it
# renders (and gpg-wrapper.sh with GPG on): both come from the module, as the image's do.
argocd_fixup() {
  mv "$BUILT_PARTIAL/cmd" "$BUILT_PARTIAL/argocd"
  local name src
  for name in "${ARGOCD_PROCESSES[@]}" argocd-git-ask-pass; do
    ln -s argocd "$BUILT_PARTIAL/$name"
  done
  src=$(cd "$MODULES/argocd" && go list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v3)
  for name in git-verify-wrapper.sh gpg-wrapper.sh; do
    install -m 0755 "$src/hack/$name" "$BUILT_PARTIAL/$name"
  done
}

install_packages() {
  local missing=() command
  for command in "${!APT_PACKAGES[@]}"; do
    command -v "$command" >/dev/null || missing+=("${APT_PACKAGES[$command]}")
  done
  ((${#missing[@]})) || return 0
  [[ $(id -u) == 0 ]] || skip "${missing[*]} not installed and not root to apt-get them"
  command -v apt-get >/dev/null || skip "${missing[*]} not installed and no apt-get"
  local lock log=$CACHE/apt.log started=$EPOCHREALTIME
  mkdir -p "$CACHE"
  exec {lock}>"$CACHE/apt.lock"
  flock "$lock"
  say "installing ${missing[*]} from Debian (log: $log)"
  # Without a policy-rc.d saying no, apt also starts the packages' own services (etcd on 2379,
  # redis on 6379); nothing here uses them, and the ports drawn here never collide with them.
  if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    skip "cannot install ${missing[*]} from Debian ($(tail -n 1 "$log"))"
  fi
  exec {lock}>&-
  say "installed ${missing[*]} in $(human "$(elapsed "$started")")"
}

# Sets K8S_DIR, KWOK_BIN, ARGOCD_BIN. $1=quiet prints nothing when all was cached.
cmd_build() {
  local quiet=${1:-} lines=() size
  command -v go >/dev/null || skip "go is not installed"
  command -v flock >/dev/null || die "flock (util-linux) is missing"
  install_packages

  local k8s=$MODULES/kubernetes kwok=$MODULES/kwok argocd=$MODULES/argocd
  check_pin "$k8s" "k8s.io/kubernetes $KUBERNETES_VERSION"
  check_pin "$kwok" "sigs.k8s.io/kwok $KWOK_VERSION"
  check_pin "$argocd" "github.com/argoproj/argo-cd/v3 $ARGOCD_VERSION"

  local minor=${KUBERNETES_VERSION#v1.}
  minor=${minor%%.*}
  # Without these the servers report v0.0.0.
  local v=k8s.io/component-base/version
  BUILT_FIXUP=true go_build kubernetes "$KUBERNETES_VERSION" "$k8s" \
    "-s -w -X $v.gitVersion=$KUBERNETES_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl
  K8S_DIR=$BUILT_DIR
  local name
  for name in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    size=$(du -m "$K8S_DIR/$name" | cut -f1)
    lines+=("$(printf '%-24s %s (%s MiB)  %s' "$name" "$K8S_DIR/$name" "$size" "$BUILT_HOW")")
  done
  [[ $BUILT_HOW == cached ]] || lines[-1]+=" (one go build for the four)"

  BUILT_FIXUP=true go_build kwok "$KWOK_VERSION" "$kwok" "-s -w" sigs.k8s.io/kwok/cmd/kwok
  KWOK_BIN=$BUILT_DIR/kwok
  lines+=("$(printf '%-24s %s (%s MiB)  %s' kwok "$KWOK_BIN" "$(du -m "$KWOK_BIN" | cut -f1)" "$BUILT_HOW")")

  local client_go a=github.com/argoproj/argo-cd/v3/common
  client_go=$(sed -n 's|^[[:space:]]*k8s.io/client-go => k8s.io/client-go \(v[^ ]*\)$|\1|p' "$argocd/go.mod")
  BUILT_FIXUP=argocd_fixup go_build argocd "$ARGOCD_VERSION" "$argocd" \
    "-s -w -X $a.version=${ARGOCD_VERSION#v} -X $a.gitTag=$ARGOCD_VERSION -X $a.gitCommit=$ARGOCD_GIT_COMMIT -X $a.gitTreeState=clean -X $a.buildDate=$ARGOCD_BUILD_DATE -X $a.kubectlVersion=$client_go" \
    github.com/argoproj/argo-cd/v3/cmd
  ARGOCD_BIN=$BUILT_DIR/argocd
  lines+=("$(printf '%-24s %s (%s MiB)  %s' argocd "$ARGOCD_BIN" "$(du -m "$ARGOCD_BIN" | cut -f1)" "$BUILT_HOW")")

  if [[ $quiet != quiet ]]; then
    printf '%s\n' "${lines[@]}"
  elif printf '%s\n' "${lines[@]}" | grep -qv ' cached$'; then
    printf '%s\n' "${lines[@]}" >&2
  fi
}

# ============================================================================================
# processes of a DIR
# ============================================================================================

# A pid file's process, if it still runs in DIR: every process here starts with its working
# directory in DIR, which also tells a reused pid from ours.
live_pid() { # DIR name
  local pid cwd
  pid=$(cat "$1/pids/$2" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  cwd=$(readlink "/proc/$pid/cwd" 2>/dev/null) || return 1
  [[ $cwd == "$1" || $cwd == "$1/"* || $cwd == "$1 (deleted)" || $cwd == "$1/"*" (deleted)" ]] || return 1
  echo "$pid"
}

running_names() { # DIR
  local f
  for f in "$1"/pids/*; do
    [[ -e $f ]] || continue
    live_pid "$1" "${f##*/}" >/dev/null && echo "${f##*/}"
  done
  return 0
}

# Exited but not yet reaped (its parent, once `up` has returned, is init) counts as gone.
running() { # pid
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat:0:1} != Z ]]
}

# TERM to each process group (a daemon's children — the supervisor's Argo CD processes, a
# watch's kubectl — share it), KILL after 5 s. The apiserver's clients go first and etcd last:
# an apiserver whose clients are still connected drains them for up to a minute.
stop_all() { # DIR
  local dir=$1 name clients=()
  for name in $(running_names "$dir"); do
    [[ $name == kube-apiserver || $name == etcd ]] || clients+=("$name")
  done
  stop_names "$dir" "${clients[@]}"
  stop_names "$dir" kube-apiserver
  stop_names "$dir" etcd
}

stop_names() { # DIR NAME...
  local dir=$1 name pid pids=()
  shift
  for name in "$@"; do
    pid=$(live_pid "$dir" "$name") || continue
    pids+=("$pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  ((${#pids[@]})) || return 0
  local deadline=$((SECONDS + 5)) alive
  while ((SECONDS < deadline)); do
    alive=0
    for pid in "${pids[@]}"; do
      running "$pid" && alive=1
    done
    ((alive)) || return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  done
}

# start NAME COMMAND... : runs COMMAND in DIR as the leader of a new session (its own process
# group, out of the terminal's reach), output to logs/NAME.log, pid to pids/NAME.
start() {
  local name=$1
  shift
  local pidfile=$DIR/pids/$name
  rm -f "$pidfile"
  # shellcheck disable=SC2016 # $$ and $@ are the inner bash's
  (cd "$DIR" && exec setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$DIR/logs/$name.log" 2>&1) &
  for _ in {1..500}; do
    [[ -s $pidfile ]] && return
    sleep 0.01
  done
  die "$name did not start (log: $DIR/logs/$name.log)"
}

# Ports on 127.0.0.1 nobody listens on, below the ephemeral range (so no outgoing connection
# takes one meanwhile), and not handed to another run in the last hour (Argo CD's bind only
# once install.yaml is applied).
pick_ports() { # count
  local count=$1 registry=$CACHE/ports.claimed lock now
  mkdir -p "$CACHE"
  exec {lock}>"$CACHE/ports.lock"
  flock "$lock"
  now=$(date +%s)
  touch "$registry"
  awk -v now="$now" '$2 > now - 3600' "$registry" >"$registry.new"
  mv "$registry.new" "$registry"
  local taken=" " local_address state rest
  while read -r _ local_address _ state rest; do
    [[ $state == 0A ]] && taken+="$((16#${local_address##*:})) "
  done < <(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null)
  taken+="$(awk '{ printf "%s ", $1 }' "$registry")"
  local picked=() p
  while ((${#picked[@]} < count)); do
    p=$((20000 + RANDOM % 12000))
    [[ $taken == *" $p "* ]] && continue
    taken+="$p "
    picked+=("$p")
    echo "$p $now" >>"$registry"
  done
  exec {lock}>&-
  echo "${picked[@]}"
}

# ============================================================================================
# up
# ============================================================================================

# openssl's chatter goes to a file, shown only when it fails.
ossl() {
  openssl "$@" 2>"$DIR/certs/openssl.log" || {
    cat "$DIR/certs/openssl.log" >&2
    die "openssl $1 failed"
  }
}

cert() { # name subject extensions: a key and a certificate signed by the run's CA
  local c=$DIR/certs
  ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$c/$1.key"
  ossl req -new -key "$c/$1.key" -subj "$2" -out "$c/$1.csr"
  ossl x509 -req -in "$c/$1.csr" -CA "$c/ca.crt" -CAkey "$c/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 365 -extfile <(printf '%b\n' "$3") -out "$c/$1.crt"
  rm -f "$c/$1.csr"
}

make_certs() {
  local c=$DIR/certs
  mkdir -p "$c"
  # EC keys: a run makes seven, and P-256 keys take no time where RSA ones take seconds.
  ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$c/ca.key"
  ossl req -x509 -new -key "$c/ca.key" -subj "/CN=$NAME-ca" -days 365 -out "$c/ca.crt" \
    -config <(printf '%s\n' '[req]' 'distinguished_name=dn' '[dn]' '[ca]' \
      'basicConstraints=critical,CA:TRUE' 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature' \
      'subjectKeyIdentifier=hash') -extensions ca
  local client='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth'
  cert apiserver "/CN=kube-apiserver" \
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.0.0.1'
  cert admin "/O=system:masters/CN=admin" "$client"
  # The users RBAC's bootstrap policy already binds, as kubeadm gives these two.
  cert controller-manager "/CN=system:kube-controller-manager" "$client"
  cert scheduler "/CN=system:kube-scheduler" "$client"
  # The aggregation layer's front-proxy identity: without it the apiserver publishes no
  # requestheader CA, and the controller-manager and scheduler log its absence in a loop.
  cert front-proxy-client "/CN=front-proxy-client" "$client"
  ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$c/service-account.key"
  ossl pkey -in "$c/service-account.key" -pubout -out "$c/service-account.pub"
  rm -f "$c/openssl.log"
}

kubeconfig() { # file cert-name
  local c=$DIR/certs
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $NAME
  cluster:
    server: $APISERVER_URL
    certificate-authority-data: $(base64 -w0 "$c/ca.crt")
users:
- name: $NAME
  user:
    client-certificate-data: $(base64 -w0 "$c/$2.crt")
    client-key-data: $(base64 -w0 "$c/$2.key")
contexts:
- name: $NAME
  context:
    cluster: $NAME
    user: $NAME
current-context: $NAME
EOF
}

# wait_for NAME SECONDS COMMAND... : until COMMAND succeeds; fails with NAME's log tail when
# NAME's process exits or time runs out.
wait_for() {
  local name=$1 limit=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if ! live_pid "$DIR" "$name" >/dev/null; then
      tail -n 20 "$DIR/logs/$name.log" >&2
      die "$name exited (log: $DIR/logs/$name.log)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 20 "$DIR/logs/$name.log" >&2
      die "$name was not ready within $limit s (log: $DIR/logs/$name.log)"
    fi
    sleep 0.1
  done
}

# GET on the apiserver as admin. The user agent: the apiserver indents its JSON for curl's.
api() { # path
  curl -fsS -A "$NAME" --max-time 5 --cacert "$DIR/certs/ca.crt" --cert "$DIR/certs/admin.crt" --key "$DIR/certs/admin.key" \
    "$APISERVER_URL$1"
}

# Whether DIR may be removed: absent, empty, or made by `up` (it has pids/).
ours() { # DIR
  [[ ! -e $1 || -d $1/pids ]] || [[ -d $1 && -z $(ls -A "$1") ]]
}

resolve_dir() {
  local d=${1:-$DEFAULT_DIR}
  mkdir -p "$(dirname "$d")"
  DIR=$(cd "$(dirname "$d")" && pwd)/$(basename "$d")
}

# Ctrl-C reaches the whole process group: a subshell of ours ($(...)) that gets it dies of
# it, so that this shell, waiting for it, also takes the signal (bash ignores a SIGINT when
# the child it waits for exits normally) and stops what it started.
up_interrupted() { # signal
  if [[ $BASHPID != "$$" ]]; then
    trap - INT TERM
    kill -s "$1" "$BASHPID"
    return
  fi
  trap - EXIT
  say "interrupted: stopping what was started (logs: $DIR/logs)"
  stop_all "$DIR"
  exit 130
}
up_failed() { # status
  [[ $BASHPID == "$$" ]] && (($1 != 0)) || return 0
  stop_all "$DIR"
  say "stopped what was started (logs: $DIR/logs)"
}

cmd_up() {
  resolve_dir "${1:-}"
  [[ -z $(running_names "$DIR") ]] ||
    die "$DIR already has a running control plane ($(running_names "$DIR" | paste -sd' ')); run: $0 down $DIR"
  command -v openssl >/dev/null || die "no openssl CLI"
  local started=$EPOCHREALTIME
  cmd_build quiet
  KUBECTL=${KUBECTL_GIVEN:-$K8S_DIR/kubectl}

  local kwok_stages
  kwok_stages=$(cd "$MODULES/kwok" && go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage
  if [[ ! -d $kwok_stages ]]; then
    (cd "$MODULES/kwok" && go mod download sigs.k8s.io/kwok) >/dev/null 2>&1 ||
      skip "cannot fetch sigs.k8s.io/kwok@$KWOK_VERSION for its stages"
  fi

  # A DIR without a running control plane is a stale one: start afresh.
  ours "$DIR" || die "$DIR exists and is not a control plane's directory; not touching it"
  rm -rf "$DIR"
  (umask 077 && mkdir -p "$DIR"/{logs,pids,certs,etcd,redis,kwok} "$DIR"/argocd/{tls,ssh,gpg/keys,gpg/source,plugins,home,tmp})
  chmod 700 "$DIR"
  umask 077
  trap 'up_interrupted INT' INT
  trap 'up_interrupted TERM' TERM
  trap 'up_failed $?' EXIT

  local ports
  read -ra ports <<<"$(pick_ports 13)"
  ETCD_PORT=${ports[0]} ETCD_PEER_PORT=${ports[1]} APISERVER_PORT=${ports[2]}
  KUBE_CONTROLLER_MANAGER_PORT=${ports[3]} KUBE_SCHEDULER_PORT=${ports[4]} REDIS_PORT=${ports[5]}
  ARGOCD_REPO_SERVER_PORT=${ports[6]} ARGOCD_REPO_SERVER_METRICS_PORT=${ports[7]}
  ARGOCD_APPLICATION_CONTROLLER_METRICS_PORT=${ports[8]} ARGOCD_SERVER_PORT=${ports[9]}
  ARGOCD_SERVER_METRICS_PORT=${ports[10]}
  # Nothing listens on these two: Argo CD's defaults would name hosts (DNS look-ups) for a
  # commit server (hydrator off) and Dex (no SSO configured) it never calls here.
  ARGOCD_COMMIT_SERVER_PORT=${ports[11]} ARGOCD_DEX_PORT=${ports[12]}
  APISERVER_URL=https://127.0.0.1:$APISERVER_PORT

  make_certs
  kubeconfig "$DIR/kubeconfig" admin
  kubeconfig "$DIR/controller-manager.kubeconfig" controller-manager
  kubeconfig "$DIR/scheduler.kubeconfig" scheduler

  # --- etcd ---
  local fsync=()
  # etcd 3.4 (bookworm) lacks it; 3.5+ has it and a throwaway store needs no fsync.
  etcd --help 2>&1 | grep -q -- --unsafe-no-fsync && fsync=(--unsafe-no-fsync)
  start etcd etcd --name "$NAME" --data-dir "$DIR/etcd" --logger zap --log-outputs stderr \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "$NAME=http://127.0.0.1:$ETCD_PEER_PORT" "${fsync[@]}"

  wait_for etcd 30 curl -fsS --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"

  # --- kube-apiserver ---
  local c=$DIR/certs t0=$EPOCHREALTIME
  # WatchList=false: streaming lists need etcd's RequestWatchProgress, which 3.4 lacks; left
  # on, the apiserver turns plain watches from resourceVersion "" into streaming lists and
  # fails them (kwok then retries them in a loop).
  # TaintNodesByCondition: its not-ready taint on a new Node is lifted by the node-lifecycle
  # controller, which is off (no kubelets); kwok's Node would stay unschedulable.
  start kube-apiserver "$K8S_DIR/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$c/apiserver.crt" --tls-private-key-file "$c/apiserver.key" --client-ca-file "$c/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$c/service-account.pub" --service-account-signing-key-file "$c/service-account.key" \
    --service-cluster-ip-range 10.0.0.0/24 --authorization-mode RBAC --endpoint-reconciler-type none \
    --requestheader-client-ca-file "$c/ca.crt" --requestheader-allowed-names front-proxy-client \
    --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
    --requestheader-extra-headers-prefix X-Remote-Extra- \
    --proxy-client-cert-file "$c/front-proxy-client.crt" --proxy-client-key-file "$c/front-proxy-client.key" \
    --disable-admission-plugins TaintNodesByCondition --feature-gates WatchList=false --profiling=false --cert-dir "$DIR/certs/apiserver-generated"
  wait_for kube-apiserver 60 api /readyz
  say "kube-apiserver ready in $(elapsed "$t0") s ($APISERVER_URL)"

  # --- controller-manager, scheduler ---
  local kcm=$DIR/controller-manager.kubeconfig sched=$DIR/scheduler.kubeconfig
  # node-lifecycle and node-ipam need kubelets' heartbeats and pod CIDRs; the cloud ones a
  # cloud (they switch themselves off without one).
  start kube-controller-manager "$K8S_DIR/kube-controller-manager" \
    --kubeconfig "$kcm" --authentication-kubeconfig "$kcm" --authorization-kubeconfig "$kcm" \
    --bind-address 127.0.0.1 --secure-port "$KUBE_CONTROLLER_MANAGER_PORT" --cert-dir "$DIR/certs/controller-manager-generated" \
    --leader-elect=false --use-service-account-credentials=true \
    --controllers '*,-node-lifecycle-controller,-node-ipam-controller' \
    --service-account-private-key-file "$c/service-account.key" --root-ca-file "$c/ca.crt" \
    --cluster-signing-cert-file "$c/ca.crt" --cluster-signing-key-file "$c/ca.key" --profiling=false
  start kube-scheduler "$K8S_DIR/kube-scheduler" \
    --kubeconfig "$sched" --authentication-kubeconfig "$sched" --authorization-kubeconfig "$sched" \
    --bind-address 127.0.0.1 --secure-port "$KUBE_SCHEDULER_PORT" --cert-dir "$DIR/certs/scheduler-generated" \
    --leader-elect=false --profiling=false

  # --- kwok: the kubelets ---
  # Admin credentials: kwok writes Node and Pod status and Leases on any node it manages.
  # KWOK_WORKDIR keeps it from reading ~/.kwok. No --server-address: it serves nothing.
  # Our pod-ready replaces kwok's: it leaves pods asking for a simulated kubelet state
  # (annotation kwok.iot-rs.dev/simulate, the pod-simulate-* stages) and pods whose status
  # says a container waits on an error, so that `bootstrap diagnose` can be tested on them.
  local ours=$MODULES/kwok/stages
  local stages=(
    "$kwok_stages/node/fast/node-initialize.yaml"
    "$ours/pod-ready.yaml"
    "$ours/pod-simulate-image-pull-backoff.yaml"
    "$ours/pod-simulate-crash-loop.yaml"
    "$ours/pod-simulate-oom-killed.yaml"
    "$ours/pod-simulate-not-ready.yaml"
    "$kwok_stages/pod/fast/pod-complete.yaml"
    "$kwok_stages/pod/fast/pod-delete.yaml"
  )
  local s config=()
  for s in "${stages[@]}"; do
    [[ -f $s ]] || die "kwok stage $s is missing"
    config+=(--config "$s")
  done
  # Node IP 127.0.0.1: whatever would call a "kubelet" (kubectl logs/exec) stays on this
  # machine. Pod IPs come from a range nothing routes; nothing here calls them.
  KWOK_WORKDIR=$DIR/kwok start kwok "$KWOK_BIN" "${config[@]}" --kubeconfig "$DIR/kubeconfig" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-ip 127.0.0.1 --cidr 10.244.0.0/16

  wait_for kube-controller-manager 30 curl -kfsS --max-time 2 "https://127.0.0.1:$KUBE_CONTROLLER_MANAGER_PORT/healthz"
  wait_for kube-scheduler 30 curl -kfsS --max-time 2 "https://127.0.0.1:$KUBE_SCHEDULER_PORT/healthz"

  local k=("$KUBECTL" --kubeconfig "$DIR/kubeconfig")
  "${k[@]}" create -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    type: kwok
    kubernetes.io/hostname: kwok-node-0
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    node-role.kubernetes.io/agent: "true"
status:
  capacity: {cpu: "16", memory: 64Gi, pods: "250"}
  allocatable: {cpu: "16", memory: 64Gi, pods: "250"}
EOF
  wait_for kwok 60 "${k[@]}" wait --for=condition=Ready node/kwok-node-0 --timeout=2s

  # --- ServiceLB stand-in, Argo CD supervisor ---
  write_env
  start servicelb bash "$SELF" __servicelb "$DIR"
  start argocd-supervisor bash "$SELF" __supervise "$DIR"

  say "control plane up in $(elapsed "$started") s: $DIR (Argo CD starts once its install.yaml is applied; see $DIR/logs/argocd-supervisor.log)"
  trap - INT TERM EXIT
  echo "export KUBECONFIG=$DIR/kubeconfig"
}

write_env() {
  local kube_version argocd_version etcd_version
  kube_version=$("$K8S_DIR/kube-apiserver" --version | awk '{ print $2 }')
  argocd_version=$(HOME=$DIR/argocd/home "$ARGOCD_BIN" version --client --short | awk '{ print $2 }')
  argocd_version=${argocd_version%%+*}
  etcd_version=$(etcd --version | awk '/^etcd Version/ { print $3 }')
  local var
  {
    echo "# Written by p3/scripts/control-plane.sh up; source it."
    printf 'export KUBECONFIG=%q\n' "$DIR/kubeconfig"
    for var in CONTROL_PLANE_DIR KUBERNETES_VERSION ARGOCD_VERSION KWOK_VERSION ETCD_VERSION APISERVER_URL \
      APISERVER_PORT ETCD_PORT ETCD_PEER_PORT KUBE_CONTROLLER_MANAGER_PORT KUBE_SCHEDULER_PORT REDIS_PORT \
      ARGOCD_SERVER_URL ARGOCD_SERVER_PORT ARGOCD_SERVER_METRICS_PORT ARGOCD_REPO_SERVER_PORT \
      ARGOCD_REPO_SERVER_METRICS_PORT ARGOCD_APPLICATION_CONTROLLER_METRICS_PORT ARGOCD_COMMIT_SERVER_PORT \
      ARGOCD_DEX_PORT ARGOCD_BIN KUBECTL; do
      case $var in
        CONTROL_PLANE_DIR) printf '%s=%q\n' "$var" "$DIR" ;;
        KUBERNETES_VERSION) printf '%s=%q\n' "$var" "$kube_version" ;;
        ARGOCD_VERSION) printf '%s=%q\n' "$var" "$argocd_version" ;;
        ETCD_VERSION) printf '%s=%q\n' "$var" "$etcd_version" ;;
        ARGOCD_SERVER_URL) printf '%s=%q\n' "$var" "http://127.0.0.1:$ARGOCD_SERVER_PORT" ;;
        *) printf '%s=%q\n' "$var" "${!var}" ;;
      esac
    done
  } >"$DIR/env"
  [[ $kube_version == "$KUBERNETES_VERSION" ]] || die "kube-apiserver says $kube_version, not $KUBERNETES_VERSION"
  [[ $argocd_version == "$ARGOCD_VERSION" ]] || die "argocd says $argocd_version, not $ARGOCD_VERSION"
}

# ============================================================================================
# background loops (started by up, each in its own process group)
# ============================================================================================

# SIMULATES K3s's ServiceLB (klipper-lb): it only writes status.loadBalancer.ingress[0].ip =
# 127.0.0.1 on each LoadBalancer Service that has no ingress, because Argo CD reports such a
# Service Progressing until it has one. Nothing routes any traffic to the Service.
servicelb_loop() {
  DIR=$1
  # shellcheck source=/dev/null
  . "$DIR/env"
  local k=("$KUBECTL" --kubeconfig "$DIR/kubeconfig")
  local tmpl='{{.metadata.namespace}} {{.metadata.name}} {{.spec.type}} {{with .status.loadBalancer.ingress}}set{{end}}{{"\n"}}'
  local patch='{"status":{"loadBalancer":{"ingress":[{"ip":"127.0.0.1"}]}}}'
  local ns name type ingress
  while :; do
    # A watch lists every Service first, then each change; it ends when the apiserver closes it.
    while read -r ns name type ingress; do
      if [[ $type == LoadBalancer && -z $ingress ]]; then
        if "${k[@]}" patch -n "$ns" service "$name" --subresource=status --type=merge -p "$patch" >/dev/null; then
          echo "$(date -u +%FT%TZ) $ns/$name: status.loadBalancer.ingress[0].ip=127.0.0.1 (simulated ServiceLB)"
        fi
      fi
    done < <("${k[@]}" get services --all-namespaces --watch -o go-template="$tmpl")
    sleep 1
  done
}

# NAME=value for each env entry of WORKLOAD's pod template that refers to a key of argocd-cm
# or argocd-cmd-params-cm present there: what the pod would get (timeout.reconciliation, the
# cmd-params tuning), read once at start as a pod does. Its literal values (paths inside the
# image) and secret references (the Redis password; this Redis has none) do not apply here.
pod_env() { # workload
  local k=("$KUBECTL" --kubeconfig "$DIR/kubeconfig" -n argocd) line var cm key quoted value
  declare -A data=()
  # shellcheck disable=SC2016 # go-template variables, not the shell's
  while read -r cm key quoted; do
    data["$cm $key"]=$quoted
  done < <("${k[@]}" get configmap argocd-cm argocd-cmd-params-cm --ignore-not-found \
    -o go-template='{{range .items}}{{$c := .metadata.name}}{{range $k, $v := .data}}{{$c}} {{$k}} {{printf "%q" $v}}{{"\n"}}{{end}}{{end}}')
  # shellcheck disable=SC2016 # go-template variables, not the shell's
  while read -r var cm key; do
    line=${data["$cm $key"]:-}
    [[ -n $line ]] || continue
    # Undo Go's %q: the quotes, then its backslash escapes.
    value=${line:1:${#line}-2}
    value=${value//\\\"/\"}
    printf '%s=%b\n' "$var" "$value"
  done < <("${k[@]}" get "$1" -o go-template='{{range (index .spec.template.spec.containers 0).env}}{{$n := .name}}{{with .valueFrom}}{{with .configMapKeyRef}}{{$n}} {{.name}} {{.key}}{{"\n"}}{{end}}{{end}}{{end}}')
}

# Waits for Argo CD's install.yaml, then runs its application-controller, repo-server and
# server (and a Redis for their cache) on the host; logs when one of them exits.
supervise() {
  DIR=$1
  # shellcheck source=/dev/null
  . "$DIR/env"
  log() { echo "$(date -u +%FT%TZ) $*"; }
  local c=$DIR/certs
  # Compact JSON (see api), which the Established test below reads.
  get() { curl -fsS -A "$NAME" --max-time 5 --cacert "$c/ca.crt" --cert "$c/admin.crt" --key "$c/admin.key" "$APISERVER_URL$1"; }
  local crd=/apis/apiextensions.k8s.io/v1/customresourcedefinitions/applications.argoproj.io
  local apps=/apis/apps/v1/namespaces/argocd
  log "waiting for argocd/ConfigMap argocd-cm, argocd/Secret argocd-secret, CRD applications.argoproj.io Established, and the workloads argocd-application-controller, argocd-repo-server, argocd-server (whose env the processes take)"
  until get /api/v1/namespaces/argocd/configmaps/argocd-cm >/dev/null 2>&1 &&
    get /api/v1/namespaces/argocd/secrets/argocd-secret >/dev/null 2>&1 &&
    get "$crd" 2>/dev/null | grep -q '"type":"Established","status":"True"' &&
    get "$apps/statefulsets/argocd-application-controller" >/dev/null 2>&1 &&
    get "$apps/deployments/argocd-repo-server" >/dev/null 2>&1 &&
    get "$apps/deployments/argocd-server" >/dev/null 2>&1; do
    sleep 0.5
  done
  log "Argo CD's install.yaml is applied; starting Redis and Argo CD $ARGOCD_VERSION"

  local bin_dir=${ARGOCD_BIN%/*} a=$DIR/argocd
  # Argo CD's own development mode (its Procfile): ARGOCD_FAKE_IN_CLUSTER makes the in-cluster
  # destination https://kubernetes.default.svc use KUBECONFIG (admin: what its service
  # accounts may do, and more). The data paths stand for the
  # ConfigMaps a pod would mount; HOME and TMPDIR keep git's config and clones inside DIR; the
  # PATH entry lets the repo-server find argocd-git-ask-pass, whose socket would otherwise be
  # /tmp/reposerver-ask-pass.sock for every run at once.
  local envs=(
    ARGOCD_FAKE_IN_CLUSTER=true KUBECONFIG="$DIR/kubeconfig" ARGOCD_GPG_ENABLED=false
    ARGOCD_TLS_DATA_PATH="$a/tls" ARGOCD_SSH_DATA_PATH="$a/ssh" ARGOCD_GNUPGHOME="$a/gpg/keys"
    ARGOCD_GPG_DATA_PATH="$a/gpg/source" ARGOCD_PLUGINSOCKFILEPATH="$a/plugins"
    HOME="$a/home" TMPDIR="$a/tmp" GIT_CONFIG_NOSYSTEM=1 PATH="$bin_dir:$PATH"
    ARGOCD_ASK_PASS_SOCK="$a/tmp/ask-pass.sock"
  )
  local redis=127.0.0.1:$REDIS_PORT repo=127.0.0.1:$ARGOCD_REPO_SERVER_PORT
  local repo_env controller_env server_env
  mapfile -t repo_env < <(pod_env deployment/argocd-repo-server)
  mapfile -t controller_env < <(pod_env statefulset/argocd-application-controller)
  mapfile -t server_env < <(pod_env deployment/argocd-server)
  declare -A names=()
  local pid
  run() { # name command...
    local name=$1
    shift
    env "${envs[@]}" "$@" </dev/null >>"$DIR/logs/$name.log" 2>&1 &
    pid=$!
    names[$pid]=$name
    echo "$pid" >"$DIR/pids/$name"
    log "started $name (pid $pid, log: $DIR/logs/$name.log)"
  }
  trap 'kill -TERM "${!names[@]}" 2>/dev/null; exit 0' TERM INT

  # No persistence: the cache is rebuilt from the cluster and Git.
  run redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --dir "$DIR/redis" --protected-mode yes
  run argocd-repo-server env "${repo_env[@]}" "$bin_dir/argocd-repo-server" --address 127.0.0.1 --port "$ARGOCD_REPO_SERVER_PORT" \
    --metrics-address 127.0.0.1 --metrics-port "$ARGOCD_REPO_SERVER_METRICS_PORT" --disable-tls --client-ca-path '' \
    --redis "$redis" --loglevel info
  # Its metrics listener binds 0.0.0.0:<port>: upstream hard-codes that address
  # (controller/appcontroller.go); it only listens.
  run argocd-application-controller env ARGOCD_CONTROLLER_REPLICAS=1 "${controller_env[@]}" \
    "$bin_dir/argocd-application-controller" --namespace argocd \
    --repo-server "$repo" --repo-server-plaintext --redis "$redis" --metrics-port "$ARGOCD_APPLICATION_CONTROLLER_METRICS_PORT" \
    --commit-server "127.0.0.1:$ARGOCD_COMMIT_SERVER_PORT" --loglevel info
  run argocd-server env "${server_env[@]}" "$bin_dir/argocd-server" --namespace argocd --insecure --address 127.0.0.1 --port "$ARGOCD_SERVER_PORT" \
    --metrics-address 127.0.0.1 --metrics-port "$ARGOCD_SERVER_METRICS_PORT" --repo-server "$repo" --repo-server-plaintext \
    --redis "$redis" --dex-server "http://127.0.0.1:$ARGOCD_DEX_PORT" --loglevel info

  local deadline=$((SECONDS + 120)) all_alive=1
  until curl -fsS --max-time 2 "http://127.0.0.1:$ARGOCD_SERVER_PORT/healthz" >/dev/null 2>&1 &&
    curl -fsS --max-time 2 "http://127.0.0.1:$ARGOCD_REPO_SERVER_METRICS_PORT/healthz" >/dev/null 2>&1 &&
    curl -fsS --max-time 2 "http://127.0.0.1:$ARGOCD_APPLICATION_CONTROLLER_METRICS_PORT/healthz" >/dev/null 2>&1; do
    for pid in "${!names[@]}"; do
      kill -0 "$pid" 2>/dev/null || all_alive=0
    done
    ((all_alive)) || break
    if ((SECONDS >= deadline)); then
      log "Argo CD's processes did not all answer /healthz within 120 s"
      break
    fi
    sleep 0.5
  done
  if ((all_alive && SECONDS < deadline)); then
    date -u +%FT%TZ >"$DIR/argocd-started"
    log "Argo CD is up: server http://127.0.0.1:$ARGOCD_SERVER_PORT, repo-server $repo"
  fi

  local died status
  while ((${#names[@]})); do
    status=0
    wait -n -p died "${!names[@]}" || status=$?
    [[ -n ${died:-} ]] || continue
    log "${names[$died]} (pid $died) exited with status $status; log: $DIR/logs/${names[$died]}.log"
    unset "names[$died]"
    died=
  done
  log "no Argo CD process is left"
}

# ============================================================================================
# down, status
# ============================================================================================

cmd_down() {
  resolve_dir "${1:-}"
  [[ -e $DIR ]] || return 0
  ours "$DIR" || die "$DIR is not a control plane's directory; not touching it"
  stop_all "$DIR"
  rm -rf "$DIR"
}

cmd_status() {
  resolve_dir "${1:-}"
  [[ -d $DIR/pids ]] || {
    echo "no control plane in $DIR"
    return 1
  }
  local f name pid
  for f in "$DIR"/pids/*; do
    [[ -e $f ]] || continue
    name=${f##*/}
    if pid=$(live_pid "$DIR" "$name"); then
      printf '%-30s running (pid %s)\n' "$name" "$pid"
    else
      printf '%-30s not running\n' "$name"
    fi
  done
  # shellcheck source=/dev/null
  . "$DIR/env" 2>/dev/null || true
  if [[ -e $DIR/argocd-started ]]; then
    echo "argocd: started $(cat "$DIR/argocd-started") (server ${ARGOCD_SERVER_URL:-?})"
  else
    echo "argocd: waiting for its install.yaml (log: $DIR/logs/argocd-supervisor.log)"
  fi
  [[ -n ${APISERVER_URL:-} ]] || return 1
  local version ready
  version=$(api /version 2>/dev/null | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p') || true
  ready=$(api /readyz 2>/dev/null) || ready="not ready"
  echo "kube-apiserver $APISERVER_URL: version ${version:-unknown}, readyz: $ready"
  [[ $ready == ok ]]
}

case ${1:-} in
  build) cmd_build ;;
  up) cmd_up "${2:-}" ;;
  down) cmd_down "${2:-}" ;;
  status) cmd_status "${2:-}" ;;
  __servicelb) servicelb_loop "$2" ;;
  __supervise) supervise "$2" ;;
  *)
    sed -n '6,9s/^# //p' "$0" >&2
    exit 2
    ;;
esac
