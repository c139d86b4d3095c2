# Network namespaces for fault tests (netns.sh, lossless-faults.sh), sourced
# by tests/run-integration.sh before the test files. Every namespace made
# is listed in $RUN/netns.list, which the runner's cleanup deletes.

# netns_up: namespaces NS_A, NS_B joined by a veth pair, addresses IP_A, IP_B
netns_up() {
	if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root for network namespaces"; return 1; fi
	command -v iptables >/dev/null || { echo "SKIP: iptables is not installed"; return 1; }
	local id=$((RANDOM % 250 + 1))
	NS_A=msgr-a-$$-$id NS_B=msgr-b-$$-$id IP_A=10.213.$id.1 IP_B=10.213.$id.2
	ip netns add "$NS_A" || { echo "SKIP: cannot create network namespaces"; return 1; }
	echo "$NS_A" >>"$RUN/netns.list"
	ip netns add "$NS_B"
	echo "$NS_B" >>"$RUN/netns.list"
	VETH_A=va$id-$$ VETH_B=vb$id-$$
	VETH_A=${VETH_A:0:15} VETH_B=${VETH_B:0:15}
	ip link add "$VETH_A" type veth peer name "$VETH_B"
	ip link set "$VETH_A" netns "$NS_A"
	ip link set "$VETH_B" netns "$NS_B"
	ip -n "$NS_A" addr add "$IP_A/24" dev "$VETH_A"
	ip -n "$NS_B" addr add "$IP_B/24" dev "$VETH_B"
	for ns in "$NS_A" "$NS_B"; do ip -n "$ns" link set lo up; done
	ip -n "$NS_A" link set "$VETH_A" up
	ip -n "$NS_B" link set "$VETH_B" up
	ip netns exec "$NS_A" iptables -L INPUT >/dev/null 2>&1 || { echo "SKIP: iptables does not work in a namespace"; return 1; }
}

netns_down() {
	ip netns del "$NS_A" 2>/dev/null || true
	ip netns del "$NS_B" 2>/dev/null || true
}
