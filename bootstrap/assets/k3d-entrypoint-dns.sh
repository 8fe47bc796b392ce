#!/bin/sh
# Docker's embedded DNS on user-defined networks answers through NAT rules that catch only the
# node's own traffic (OUTPUT): at 127.0.0.11 before Docker 29, at the network's gateway address
# since. Pods live in network namespaces of their own, so their queries arrive through
# PREROUTING and miss those rules. As k3d v5.9 does, whatever the address: the rules are made
# to match the gateway and are hooked into PREROUTING too; and /etc/resolv.conf, which K3s
# hands to CoreDNS, names the gateway when it named the loopback-only 127.0.0.11 (K3s would
# otherwise replace a loopback resolver with 8.8.8.8).
set -eu
gateway="@GATEWAY_IP@"
embedded_re='127\.0\.0\.11'

rules=$(iptables-save)
if printf '%s\n' "$rules" | grep -q -- '-j DOCKER_OUTPUT$'; then
  echo "dns: Docker's DNS rules answer pods too, at $gateway"
  # Hooked into PREROUTING once: a restarted node finds its rules already rewritten.
  prerouting='s/^\(-A OUTPUT \(.*\) -j DOCKER_OUTPUT\)$/\1\n-A PREROUTING \2 -j DOCKER_OUTPUT/'
  if printf '%s\n' "$rules" | grep -q -- '^-A PREROUTING .*-j DOCKER_OUTPUT$'; then
    prerouting=''
  fi
  printf '%s\n' "$rules" |
    sed -e "s/-d $embedded_re/-d $gateway/g" -e "$prerouting" \
      -e "s/--to-source :53/--to-source $gateway:53/g" |
    iptables-restore
else
  echo "dns: no rules of Docker's embedded DNS here; the rules are left as they are"
fi
if grep -q "^nameserver $embedded_re" /etc/resolv.conf; then
  cp /etc/resolv.conf /etc/resolv.conf.original
  sed -e "s/$embedded_re/$gateway/g" /etc/resolv.conf.original >/etc/resolv.conf
  echo "dns: /etc/resolv.conf names $gateway"
fi
echo "dns: done"
