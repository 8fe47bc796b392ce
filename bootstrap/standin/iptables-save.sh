#!/bin/sh
# Stand-in for iptables-save in the test node image: the NAT rules Docker installs for its
# embedded DNS in a user-defined network, at the address /etc/resolv.conf names (127.0.0.11
# before Docker 29, the network's gateway since), so the DNS fix has real input either way.
dns=$(sed -n 's/^nameserver \([0-9.]*\).*/\1/p' /etc/resolv.conf | head -n 1)
cat <<RULES
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER_OUTPUT - [0:0]
:DOCKER_POSTROUTING - [0:0]
-A OUTPUT -d $dns/32 -j DOCKER_OUTPUT
-A POSTROUTING -d $dns/32 -j DOCKER_POSTROUTING
-A DOCKER_OUTPUT -d $dns/32 -p tcp -m tcp --dport 53 -j DNAT --to-destination $dns:40125
-A DOCKER_OUTPUT -d $dns/32 -p udp -m udp --dport 53 -j DNAT --to-destination $dns:53907
-A DOCKER_POSTROUTING -s $dns/32 -p tcp -m tcp --sport 40125 -j SNAT --to-source :53
-A DOCKER_POSTROUTING -s $dns/32 -p udp -m udp --sport 53907 -j SNAT --to-source :53
COMMIT
RULES
