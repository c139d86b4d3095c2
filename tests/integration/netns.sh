# Faults on a real link between two network namespaces the test creates:
# a veth pair, one daemon on each side. Silent peers (iptables DROP, link
# down) must be found by keepalives; a dial into silence must give up at
# net.connect_timeout. Sourced by tests/run-integration.sh; needs root.

# Daemons on both sides, fast keepalives; client.* attach to A, osd.* to B
# (through their Unix sockets, which namespaces do not separate).
netns_pair() {
	local name=$1; shift
	D_HOST=$IP_A D_WRAP="ip netns exec $NS_A" start_daemon "$name-a" "$@"
	A_SOCK=$D_SOCK A_CTL=$D_CTL A_PORT=$D_PORT A_ADDR=$D_ADDR A_PID=$D_PID A_LOG=$D_LOG A_DIR=$D_DIR
	D_HOST=$IP_B D_WRAP="ip netns exec $NS_B" start_daemon "$name-b" "$@"
	B_SOCK=$D_SOCK B_CTL=$D_CTL B_PORT=$D_PORT B_ADDR=$D_ADDR B_PID=$D_PID B_LOG=$D_LOG B_DIR=$D_DIR
	export MSGR_SOCKET=$A_SOCK ITEST_PEER_SOCKET=$B_SOCK MSGR_CTL_SOCKET=$A_CTL
}

KA=(--set net.keepalive_interval=200ms --set net.keepalive_timeout=1s --set net.connect_timeout=1s)

# silence ACTION: a connected pair; after ACTION both ends must see RESET
# within 3 s, and not before the keepalive timeout could have fired.
silence() {
	local ms
	reset_wait "$1" 3000 "$2"
	ms=$(sed -n 's/^ok reset after \([0-9]*\) ms$/\1/p' "$A_DIR/rw.$1")
	echo "$1: reset after $ms ms (keepalive_timeout 1 s)"
	[ "$ms" -ge 700 ] && [ "$ms" -le 3000 ]
}

t_netns_keepalive() {
	netns_up || return 0
	netns_pair ka "${KA[@]}"
	# every packet between the two dropped, both ways: nothing but silence
	silence drop 'ip netns exec "$NS_A" iptables -A INPUT -s "$IP_B" -j DROP;
		      ip netns exec "$NS_B" iptables -A INPUT -s "$IP_A" -j DROP'
	pyjson "$A_CTL" 'd["stats"]["keepalive_timeouts"] >= 1' status
	pyjson "$B_CTL" 'd["stats"]["keepalive_timeouts"] >= 1' status
	grep -q "nothing heard for .* ms (net.keepalive_timeout)" "$A_LOG"
	ip netns exec "$NS_A" iptables -F INPUT
	ip netns exec "$NS_B" iptables -F INPUT
	# traffic flows again: a new session comes up on demand
	"$T" pingpong-pair 1
	# the link cut: the cable pulled on one side
	silence linkdown 'ip -n "$NS_A" link set "$VETH_A" down'
	ip -n "$NS_A" link set "$VETH_A" up
	"$T" pingpong-pair 1
	stop_pair
	netns_down
}
run netns-keepalive-silent-peer t_netns_keepalive

t_netns_connect_timeout() {
	netns_up || return 0
	netns_pair ct "${KA[@]}"
	# SYNs vanish: the dial can only time out
	ip netns exec "$NS_A" iptables -A OUTPUT -d "$IP_B" -p tcp --dport "$B_PORT" -j DROP
	"$T" connect-fail "$B_ADDR/osd.x" 3000 | tee "$A_DIR/cf.out"
	grep -q "Connection timed out" "$A_DIR/cf.out"
	local ms
	ms=$(sed -n 's/^ok connect failed after \([0-9]*\) ms.*/\1/p' "$A_DIR/cf.out")
	[ "$ms" -ge 900 ] && [ "$ms" -le 2500 ]
	pyjson "$A_CTL" 'd["stats"]["handshake_timeouts"] == 1' status
	ip netns exec "$NS_A" iptables -F OUTPUT
	"$T" pingpong-pair 1
	stop_pair
	netns_down
}
run netns-connect-timeout t_netns_connect_timeout

# A link lost at one end only: the lower daemon (A) dialled it and would not
# notice for 10 s; B notices in 1 s and dials again. B's HELLO names the
# lost link, so A drops it for the new one at once instead of taking the
# redial for a race (which it would win with the dead link).
t_netns_one_sided_loss() {
	netns_up || return 0
	D_HOST=$IP_A D_WRAP="ip netns exec $NS_A" start_daemon os-a \
		--set net.keepalive_interval=200ms --set net.keepalive_timeout=10s
	A_SOCK=$D_SOCK A_CTL=$D_CTL A_PID=$D_PID A_LOG=$D_LOG
	D_HOST=$IP_B D_WRAP="ip netns exec $NS_B" start_daemon os-b \
		--set net.keepalive_interval=200ms --set net.keepalive_timeout=1s
	B_SOCK=$D_SOCK B_CTL=$D_CTL B_PID=$D_PID B_LOG=$D_LOG B_PORT=$D_PORT
	# A dials B (client.* on A, osd.* on B); the idle link stays up
	MSGR_SOCKET=$A_SOCK ITEST_PEER_SOCKET=$B_SOCK "$T" pingpong-pair 1
	# silence both ways: B gives up on the link after 1 s, A would after 10
	ip netns exec "$NS_A" iptables -A INPUT -s "$IP_B" -j DROP
	ip netns exec "$NS_B" iptables -A INPUT -s "$IP_A" -j DROP
	wait_line "$B_LOG" "nothing heard for"
	# A keeps hearing nothing on the old link (B's RST in answer to A's
	# next KEEPALIVE would tell it), but hears B's new one
	ip netns exec "$NS_A" iptables -R INPUT 1 -s "$IP_B" -p tcp --sport "$B_PORT" -j DROP
	ip netns exec "$NS_B" iptables -F INPUT
	pyjson "$A_CTL" 'len(d) == 1 and d[0]["state"] == "up"' sessions   # A has not noticed
	# B dials A: must work at once, not after A's 10 s
	MSGR_SOCKET=$B_SOCK ITEST_PEER_SOCKET=$A_SOCK "$T" pingpong-pair 1
	grep -q "the peer lost it and dialled again" "$A_LOG"
	pyjson "$A_CTL" 'd["stats"]["races"] == 0' status
	ip netns exec "$NS_A" iptables -F INPUT
	D_PID=$A_PID D_LOG=$A_LOG; stop_daemon
	D_PID=$B_PID D_LOG=$B_LOG; stop_daemon
	netns_down
}
run netns-one-sided-loss t_netns_one_sided_loss
