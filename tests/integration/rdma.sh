# The RDMA transport (issue 12) between real daemons. This machine has no
# RDMA device, so the daemons run it over the fake verbs shim
# (net.transport = rdma-fake: queue pairs over Unix SOCK_SEQPACKET sockets,
# transports/rdma_fake.c), which only global.inject allows; everything above
# the shim (rdma.c, the engine's credits and framing, the TCP fallback) is
# the code real hardware runs. Delivery is checked as on TCP: msgr-itest's
# scenarios and msgr-stream's exactly-once streams (lossless.sh's helpers).
# Sourced by tests/run-integration.sh, after lossless.sh.

RDMA_FAKE=(--set global.inject=true --set net.transport=rdma-fake)

# rdma_counters CTL...: the rdma_* counters of each daemon, one line each
rdma_counters() {
	local c
	for c; do
		MSGR_CTL_SOCKET=$c "$BIN/msgrctl" --json perf dump | python3 -c '
import json, sys
d = json.load(sys.stdin)["msgrd"]
print(" ".join("%s=%d" % (k, v) for k, v in sorted(d.items()) if k.startswith("rdma_")))'
	done
}

# Two daemons over rdma-fake with a small window (4 data receives), so
# credits run out and come back all the time: msgr-itest's lossy scenarios
# across them, both links carried by RDMA, no RNR, no fallback, and credit
# messages did flow.
t_rdma_two() {
	start_pair rtwo "${RDMA_FAKE[@]}" --set rdma.recv_depth=4 --set rdma.recv_size=8K
	"$T" local lossy
	"$T" threads lossy
	"$T" window
	"$T" detach-flush
	"$T" pingpong-pair 1
	rdma_counters "$A_CTL" "$B_CTL"
	pyjson "$A_CTL" 'len(d) == 1 and d[0]["state"] == "up" and d[0]["links"][0]["transport"] == "rdma-fake"' sessions
	pyjson "$B_CTL" 'd[0]["links"][0]["transport"] == "rdma-fake" and d[0]["links"][0]["direction"] == "in"' sessions
	"$BIN/msgrctl" sessions | grep -q "^$B_ADDR .* rdma-fake+fault "
	pyjson "$A_CTL" 'd["msgrd"]["rdma_links"] >= 1 and d["msgrd"]["rdma_rnr"] == 0 and d["msgrd"]["rdma_fallbacks"] == 0' perf dump
	pyjson "$B_CTL" 'd["msgrd"]["rdma_links"] >= 1 and d["msgrd"]["rdma_rnr"] == 0 and d["msgrd"]["rdma_qp_errors"] == 0' perf dump
	pyjson "$A_CTL" 'd["msgrd"]["rdma_credit_msgs"] + d["msgrd"]["rdma_credit_stalls"] > 0' perf dump
	pyjson "$A_CTL" 'd["stats"]["msgs_net_out"] > 1000 and d["stats"]["protocol_errors"] == 0 and d["stats"]["link_errors"] == 0' status
	# no TCP link between them: the session is the fake QP's
	[ "$(links_on "$B_PORT")" = 0 ]
	stop_pair
}
run rdma-fake-two-daemons t_rdma_two

# rdma_streams NAME N_DAEMONS: lossless and peer streams between every two
# of N daemons over rdma-fake, under injected link resets (the fault
# interceptor wraps the RDMA transport as it wraps TCP); every message
# exactly once, in order, intact; RNR stays at 0 under that load.
rdma_streams() {
	local name=$1 n=$2 i killer rc=0
	local -a sock addr
	LOSSLESS_N=${RDMA_STREAM_N:-$([ -n "${MSGR_SANITIZED:-}" ] && echo 2000 || echo 6000)}
	FAULTS=("${RDMA_FAKE[@]}" --set net.inject_socket_failures=100 --set rdma.recv_depth=8)
	stream_setup "$name" 60
	for ((i = 0; i < n; i++)); do
		stream_daemon "$name-$i"
		sock[i]=$D_SOCK addr[i]=$D_ADDR
	done
	for ((i = 0; i < n; i++)); do
		local j=$(((i + 1) % n))
		[ "$n" = 2 ] && [ "$i" = 1 ] && break
		stream_pair "l$i" lossless "${sock[j]}" "${addr[j]}" "osd.l$i" "${sock[i]}" "client.l$i"
		stream_pair "p$i" peer "${sock[i]}" "${addr[i]}" "osd.q$i" "${sock[j]}" "osd.p$i"
	done
	streams_wait
	streams_check || rc=1
	rdma_counters "${SD_CTLS[@]}"
	for i in "${!SD_CTLS[@]}"; do
		pyjson "${SD_CTLS[i]}" 'd["msgrd"]["rdma_rnr"] == 0 and d["msgrd"]["rdma_links"] >= 1' perf dump || rc=1
	done
	# Every link is RDMA's, but for dials an injected fault cut mid-handshake:
	# the dialler hears "unreachable" then, and falls back to TCP for that
	# one link (a dial the peer refused would too; none is refused here).
	# The faults happened: links were reset and the channels resumed.
	BIN=$BIN python3 - "${SD_CTLS[@]}" <<'EOF' || rc=1
import json, os, subprocess, sys
def ctl(c, *args):
    out = subprocess.run([os.environ["BIN"] + "/msgrctl", "--json", *args], capture_output=True,
                         text=True, env=dict(os.environ, MSGR_CTL_SOCKET=c)).stdout
    return json.loads(out)
tot = {"injected_failures": 0, "resumes": 0, "rdma_fallbacks": 0}
tcp_out = 0
for c in sys.argv[1:]:
    d = ctl(c, "perf", "dump")["msgrd"]
    for k in tot:
        tot[k] += d[k]
    tcp_out += sum(l["transport"] != "rdma-fake" and l["direction"] == "out"
                   for s in ctl(c, "sessions") for l in s["links"])
print("faults: %s, TCP links dialled: %d" % (tot, tcp_out))
sys.exit(0 if tot["injected_failures"] >= 1 and tot["resumes"] >= 1 and tcp_out <= tot["rdma_fallbacks"] else 1)
EOF
	# and a fallback only ever follows a handshake cut short
	! grep -h "cannot be reached over RDMA" "${SD_LOGS[@]}" | grep -v "(Connection reset by peer)" || rc=1
	stream_stop_daemons || rc=1
	return $rc
}

t_rdma_lossless_two() { rdma_streams rll2 2; }
run rdma-fake-lossless-faults t_rdma_lossless_two

t_rdma_lossless_three() { rdma_streams rll3 3; }
run rdma-fake-three-daemons t_rdma_lossless_three

# Mixed hosts: A has RDMA (rdma-fake), B only TCP. A's dial finds nobody on
# RDMA at B's address and is redone over TCP (counted), B's dial reaches
# A's TCP listener; traffic flows both ways over TCP.
t_rdma_mixed() {
	start_daemon rmix-a "${RDMA_FAKE[@]}"
	A_SOCK=$D_SOCK A_CTL=$D_CTL A_PORT=$D_PORT A_ADDR=$D_ADDR A_PID=$D_PID A_LOG=$D_LOG A_DIR=$D_DIR
	start_daemon rmix-b
	B_SOCK=$D_SOCK B_CTL=$D_CTL B_PORT=$D_PORT B_ADDR=$D_ADDR B_PID=$D_PID B_LOG=$D_LOG B_DIR=$D_DIR
	export MSGR_SOCKET=$A_SOCK ITEST_PEER_SOCKET=$B_SOCK MSGR_CTL_SOCKET=$A_CTL
	"$T" pingpong-pair 1
	rdma_counters "$A_CTL"
	pyjson "$A_CTL" 'd["msgrd"]["rdma_fallbacks"] >= 1 and d["msgrd"]["rdma_links"] == 0' perf dump
	pyjson "$A_CTL" 'd[0]["state"] == "up" and d[0]["links"][0]["transport"] == "tcp"' sessions
	grep -q "cannot be reached over RDMA" "$A_LOG"
	# B dials A (a new pair of entities the other way round)
	MSGR_SOCKET=$B_SOCK ITEST_PEER_SOCKET=$A_SOCK "$T" pingpong-pair 1
	pyjson "$B_CTL" 'd[0]["links"][0]["transport"] == "tcp"' sessions
	stop_pair
}
run rdma-mixed-hosts t_rdma_mixed

# rdma.max_links bounds what RDMA pins: A takes none (0), so its own dials
# go over TCP at once and B's RDMA request is refused, after which B dials
# again over TCP. Both count the fallback; the sessions run on TCP.
t_rdma_max_links() {
	start_daemon rmax-a "${RDMA_FAKE[@]}" --set rdma.max_links=0
	A_SOCK=$D_SOCK A_CTL=$D_CTL A_PORT=$D_PORT A_ADDR=$D_ADDR A_PID=$D_PID A_LOG=$D_LOG A_DIR=$D_DIR
	start_daemon rmax-b "${RDMA_FAKE[@]}"
	B_SOCK=$D_SOCK B_CTL=$D_CTL B_PORT=$D_PORT B_ADDR=$D_ADDR B_PID=$D_PID B_LOG=$D_LOG B_DIR=$D_DIR
	export MSGR_SOCKET=$B_SOCK ITEST_PEER_SOCKET=$A_SOCK MSGR_CTL_SOCKET=$B_CTL
	"$T" pingpong-pair 1
	rdma_counters "$A_CTL" "$B_CTL"
	grep -q "refusing a connection from .*: rdma.max_links (0) reached" "$A_LOG"
	pyjson "$B_CTL" 'd["msgrd"]["rdma_fallbacks"] >= 1 and d["msgrd"]["rdma_links"] == 0' perf dump
	pyjson "$A_CTL" 'd["msgrd"]["rdma_links"] == 0' perf dump
	pyjson "$B_CTL" 'd[0]["state"] == "up" and d[0]["links"][0]["transport"] == "tcp"' sessions
	stop_pair
}
run rdma-max-links t_rdma_max_links

# net.transport = rdma on a machine with no RDMA device: one clear line,
# and the daemon runs on TCP, with a peer on plain TCP and with another
# such daemon.
t_rdma_no_device() {
	if [ -n "$(ls /sys/class/infiniband 2>/dev/null)" ]; then
		echo "SKIP: this machine has an RDMA device ($(ls /sys/class/infiniband | head -1))"
		return 0
	fi
	start_pair rnodev --set net.transport=rdma
	grep -q "rdma: no RDMA device (.*); using tcp" "$A_LOG"
	[ "$(grep -c "no RDMA device" "$A_LOG")" = 1 ]
	"$T" pingpong-pair 1
	pyjson "$A_CTL" 'd[0]["links"][0]["transport"] == "tcp"' sessions
	pyjson "$A_CTL" 'd["msgrd"]["rdma_links"] == 0' perf dump
	stop_pair
}
run rdma-no-device t_rdma_no_device

# The fake device is for tests: without global.inject msgrd refuses it,
# naming what to set, and the configuration checker says the same.
t_rdma_fake_refused() {
	local out=$RUN/rfake-refused.out
	expect_exit 2 "$BIN/msgrd" -f --set net.transport=rdma-fake --set global.socket="$RUN/rf.sock" \
		--set global.ctl_socket="$RUN/rf.asok" --set auth.mode=none --check-config 2>"$out" >/dev/null || { cat "$out"; return 1; }
	grep -q "net.transport = rdma-fake is for tests and needs global.inject = true" "$out"
	# out-of-range [rdma] keys name the key and the range
	expect_exit 2 "$BIN/msgrd" -f --set rdma.recv_depth=0 --check-config 2>"$out" >/dev/null
	grep -q "rdma.recv_depth: 0 is out of range 1..1024" "$out"
	expect_exit 2 "$BIN/msgrd" -f --set rdma.recv_size=2M --check-config 2>"$out" >/dev/null
	grep -q "rdma.recv_size: 2M is out of range" "$out"
}
run rdma-fake-refused t_rdma_fake_refused
