# Helpers of the tests between daemons (net*.sh, netns.sh, lossless*.sh),
# sourced by tests/run-integration.sh before the test files: pairs of
# daemons, JSON checks, and network namespaces for fault tests (every
# namespace made is listed in $RUN/netns.list, which the runner's cleanup
# deletes).

# netns_up: namespaces NS_A, NS_B joined by a veth pair, addresses IP_A, IP_B
netns_up() {
	if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root for network namespaces"; return 1; fi
	command -v iptables >/dev/null || { echo "SKIP: iptables is not installed"; return 1; }
	local id=$((RANDOM % 250 + 1))
	NS_A=msgr-a-$BASHPID-$id NS_B=msgr-b-$BASHPID-$id IP_A=10.213.$id.1 IP_B=10.213.$id.2
	ip netns add "$NS_A" || { echo "SKIP: cannot create network namespaces"; return 1; }
	echo "$NS_A" >>"$RUN/netns.list"
	ip netns add "$NS_B"
	echo "$NS_B" >>"$RUN/netns.list"
	VETH_A=va$id-$BASHPID VETH_B=vb$id-$BASHPID
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

# small_ns NAME: a network namespace of its own (in $NS) whose TCP
# buffers are 64 KiB, so the kernel cannot take a burst off the daemons'
# hands at once; prints SKIP and fails when one cannot be made here.
small_ns() {
	if [ "$(id -u)" != 0 ]; then echo "SKIP: needs root for a network namespace"; return 1; fi
	NS=msgr-$1-$BASHPID-$RANDOM
	ip netns add "$NS" || { echo "SKIP: cannot create a network namespace"; return 1; }
	echo "$NS" >>"$RUN/netns.list"
	ip -n "$NS" link set lo up
	ip netns exec "$NS" sysctl -q -w net.ipv4.tcp_wmem="4096 16384 65536" \
		net.ipv4.tcp_rmem="4096 16384 65536"
}

# start_pair NAME [--set K=V]...: daemons NAME-a and NAME-b with the same
# options; sets A_* and B_* (SOCK CTL PORT ADDR PID LOG DIR) and points
# msgr-itest's client.* entities at A and its osd.* entities at B.
start_pair() {
	local name=$1; shift
	start_daemon "$name-a" "$@"
	A_SOCK=$D_SOCK A_CTL=$D_CTL A_PORT=$D_PORT A_ADDR=$D_ADDR A_PID=$D_PID A_LOG=$D_LOG A_DIR=$D_DIR
	start_daemon "$name-b" "$@"
	B_SOCK=$D_SOCK B_CTL=$D_CTL B_PORT=$D_PORT B_ADDR=$D_ADDR B_PID=$D_PID B_LOG=$D_LOG B_DIR=$D_DIR
	export MSGR_SOCKET=$A_SOCK ITEST_PEER_SOCKET=$B_SOCK MSGR_CTL_SOCKET=$A_CTL
}

stop_pair() {
	D_PID=$A_PID D_LOG=$A_LOG; stop_daemon
	D_PID=$B_PID D_LOG=$B_LOG; stop_daemon
}

# jq-free JSON checks: pyjson CTL 'python expression over d' [msgrctl args]
pyjson() {
	local ctl=$1 expr=$2; shift 2
	MSGR_CTL_SOCKET=$ctl "$BIN/msgrctl" --json "$@" |
		python3 -c "import json,sys; d=json.load(sys.stdin); sys.exit(0 if ($expr) else 1)" ||
		{ echo "check failed: $expr on: $(MSGR_CTL_SOCKET=$ctl "$BIN/msgrctl" --json "$@")"; return 1; }
}

# pyjson_wait SECS CTL EXPR [msgrctl args]: pyjson until it holds, for at
# most SECS seconds (what a client wrote to its ring, the daemon reads on
# its next turn)
pyjson_wait() {
	local end=$((SECONDS + $1)); shift
	until pyjson "$@" >/dev/null 2>&1; do
		[ $SECONDS -lt $end ] || { pyjson "$@"; return 1; }
		sleep 0.05
	done
}

# established TCP connections accepted on port P
links_on() { ss -tnH state established "( sport = :$1 )" | wc -l; }

# free_port [HOST]: a TCP port nothing listens on at HOST (127.0.0.1) now.
free_port() {
	python3 -c 'import socket, sys; s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "${1:-127.0.0.1}"
}

# wp_dialled HOST PORT OUT HOLD KIND [ARGS]...: wirepeer.py KIND listening on
# HOST:PORT (its output in OUT, its pid in WP_PID), then a client of the
# current daemon ($MSGR_SOCKET) connecting to HOST:PORT/osd.w, so that the
# daemon dials it (output in HOLD, pid in HOLD_PID). WP_WRAP runs the
# peer in a namespace (ip netns exec NS).
wp_dialled() {
	local host=$1 port=$2 out=$3 hold=$4; shift 4
	${WP_WRAP:-} python3 "$(dirname "${BASH_SOURCE[0]}")/integration/wirepeer.py" "$host" "$port" "$@" >"$out" 2>&1 &
	WP_PID=$!
	wait_line "$out" listening
	"$T" hold client.h "$host:$port/osd.w" >"$hold" 2>&1 &
	HOLD_PID=$!
}
