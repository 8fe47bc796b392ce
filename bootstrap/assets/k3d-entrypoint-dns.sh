#!/bin/sh
# Docker's embedded DNS answers at 127.0.0.11 on user-defined networks: a loopback address,
# which pods (in their own network namespaces) cannot reach. Give it the network gateway's
# address instead: Docker's NAT rules for 127.0.0.11 are rewritten to match the gateway, also
# for traffic arriving from pods (PREROUTING), and /etc/resolv.conf, which CoreDNS forwards
# to, names the gateway. Engines that already put another resolver address there need nothing.
set -eu
gateway="@GATEWAY_IP@"
embedded_re='127\.0\.0\.11'

if ! grep -q "^nameserver $embedded_re" /etc/resolv.conf; then
  echo "dns: /etc/resolv.conf does not use 127.0.0.11; nothing to do"
  exit 0
fi
echo "dns: serving Docker's embedded resolver at $gateway"
iptables-save |
  sed -e "s/-d $embedded_re/-d $gateway/g" \
    -e 's/^\(-A OUTPUT \(.*\) -j DOCKER_OUTPUT\)$/\1\n-A PREROUTING \2 -j DOCKER_OUTPUT/' \
    -e "s/--to-source :53/--to-source $gateway:53/g" |
  iptables-restore
cp /etc/resolv.conf /etc/resolv.conf.original
sed -e "s/$embedded_re/$gateway/g" /etc/resolv.conf.original >/etc/resolv.conf
echo "dns: done"
