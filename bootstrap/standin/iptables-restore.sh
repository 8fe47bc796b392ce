#!/bin/sh
# Stand-in for iptables-restore in the test node image: records the rules it is given.
set -eu
cat >/var/log/iptables-restored
