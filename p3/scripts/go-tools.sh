# shellcheck shell=bash
# Sourced by the scripts that build test tools from the Go module proxy (control-plane.sh,
# k3d.sh): how they stop, and which failures mean "the proxy cannot be reached".

die() {
  echo "error: $*" >&2
  exit 1
}
skip() {
  echo "skipped: $*"
  exit 0
}

# Go's complaints when it cannot reach the module proxy (or a toolchain download through it):
# these make a build a skip, any other failure an error.
# shellcheck disable=SC2034 # used by the scripts that source this file
UNREACHABLE='dial tcp|no such host|i/o timeout|connection refused|connection reset|network is unreachable|TLS handshake timeout|proxyconnect|server misbehaving|Temporary failure in name resolution|read: connection|unexpected EOF|403 Forbidden|502 Bad Gateway|503 Service Unavailable|504 Gateway Timeout'
