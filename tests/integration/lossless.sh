# Lossless and peer channels between daemons, proven under link faults
# (issue 10). msgr-stream (msgr-stream.c) streams checked messages both ways
# on each entity pair while every daemon resets links on its own
# (net.inject_socket_failures) and ss -K kills the links between the daemons
# every 200 ms. On a lossless or peer channel every message must arrive
# exactly once, intact and in order, with no RESET; a lossy channel gets
# RESETs but never a duplicate, a reorder or a damaged message. Sourced by
# tests/run-integration.sh.
#
# LOSSLESS_N messages each way per pair (default 20000; 4000 in the
# sanitizer build, whose allocator maps fresh memory for every large buffer
# and so moves a few MB/s under these faults: the same fault paths, in a
# fifth of the bytes), mostly up to 4 KiB and 1% up to LOSSLESS_MAX bytes
# (default 256 KiB); make soak may raise both (200000 and 1 MiB), and then
# LOSSLESS_TIMEOUT (seconds per stream) with them.

STREAM=$BUILD/tests/msgr-stream
LOSSLESS_N=${LOSSLESS_N:-$([ -n "${MSGR_SANITIZED:-}" ] && echo 4000 || echo 20000)}
LOSSLESS_MAX=${LOSSLESS_MAX:-262144}
FAULTS=(--set global.inject=true --set net.inject_socket_failures=50)

# sskill_usable: ss -K can destroy a TCP socket here (it needs a kernel
# with CONFIG_INET_DIAG_DESTROY, and CAP_NET_ADMIN). Says SKIP and why when
# it cannot.
sskill_usable() {
	command -v ss >/dev/null || { echo "SKIP: ss (iproute2) is not installed"; return 1; }
	python3 - <<'EOF' && return 0
import socket, subprocess, sys
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
port = l.getsockname()[1]
c = socket.create_connection(("127.0.0.1", port)); s, _ = l.accept()
f = "( sport = :%d or dport = :%d )" % (port, port)
subprocess.run(["ss", "-tnK", f], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
left = subprocess.run(["ss", "-tnH", "state", "established", f], capture_output=True, text=True).stdout
sys.exit(1 if left.strip() else 0)
EOF
	echo "SKIP: ss -K cannot kill sockets here (it needs CONFIG_INET_DIAG_DESTROY and CAP_NET_ADMIN)"
	return 1
}

# kill_links FILE PORT...: until killed, every 200 ms, ss -K every TCP link
# from or to the daemons listening on PORT...; FILE holds the count of
# sockets killed so far.
kill_links() {
	local out=$1 f="" p n total=0
	shift
	for p; do f="$f${f:+ or }sport = :$p or dport = :$p"; done
	echo 0 >"$out"
	while :; do
		n=$(ss -tnHK "( $f )" 2>/dev/null | wc -l)
		total=$((total + n))
		# a rename, so a reader never finds the file empty (the count
		# is read while this loop may be between truncating and writing)
		echo "$total" >"$out.tmp" && mv "$out.tmp" "$out"
		sleep 0.2
	done
}

# stream_daemon NAME: start_daemon NAME with the faults on; adds its
# control socket, port, pid and log to SD_CTLS, SD_PORTS, SD_PIDS, SD_LOGS.
stream_daemon() {
	start_daemon "$1" "${FAULTS[@]}"
	SD_CTLS+=("$D_CTL") SD_PORTS+=("$D_PORT") SD_PIDS+=("$D_PID") SD_LOGS+=("$D_LOG")
}

# stream_pair NAME MODE SRV_SOCK SRV_ADDR SRV_ENTITY RUN_SOCK RUN_ENTITY:
# msgr-stream serve SRV_ENTITY on the daemon behind SRV_SOCK, and once it
# is ready msgr-stream run RUN_ENTITY on RUN_SOCK's daemon towards it in
# MODE, LOSSLESS_N messages each way. Outputs: $SDIR/NAME.serve, NAME.run.
stream_pair() {
	local name=$1 mode=$2 ssock=$3 saddr=$4 sent=$5 rsock=$6 rent=$7
	# timeout(1) is only the backstop: msgr-stream keeps STREAM_TIMEOUT
	# (the server 15 s more)
	MSGR_SOCKET=$ssock timeout -k 5 $((STREAM_TIMEOUT + 30)) \
		"$STREAM" serve "$sent" 1 >"$SDIR/$name.serve" 2>&1 &
	SERVE_PIDS+=($!)
	wait_line "$SDIR/$name.serve" "^ready $saddr/$sent"
	MSGR_SOCKET=$rsock timeout -k 5 $((STREAM_TIMEOUT + 15)) \
		"$STREAM" run "$rent" "$saddr/$sent" "$mode" "$LOSSLESS_N" "$LOSSLESS_MAX" >"$SDIR/$name.run" 2>&1 &
	RUN_PIDS+=($!)
	STREAMS+=("$name:$mode")
}

# streams_wait: wait for every runner, then give the servers 10 s to see
# their connection end; a server still there is stopped (and fails).
streams_wait() {
	local p i
	for p in "${RUN_PIDS[@]}"; do wait "$p" || true; done
	for p in "${SERVE_PIDS[@]}"; do
		for i in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" || true
	done
}

# streams_check: every stream's two JSON lines (the last line of each
# output starting with '{') say it held: no damage, duplicate, gap or
# reorder on either end, LOSSLESS_N messages each way; lossless and peer
# without any reset. Lossy streams must have been reset at least once.
# Prints one line per stream.
streams_check() {
	python3 - "$SDIR" "$LOSSLESS_N" "${STREAMS[@]}" <<'EOF'
import json, sys
d, n, bad = sys.argv[1], int(sys.argv[2]), 0
def last_json(path):
    try:
        lines = [l for l in open(path, errors="replace") if l.startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None
for s in sys.argv[3:]:
    name, mode = s.split(":")
    r, v = last_json("%s/%s.run" % (d, name)), last_json("%s/%s.serve" % (d, name))
    why = []
    if r is None: why.append("the runner printed no JSON line")
    if v is None: why.append("the server printed no JSON line")
    if r:
        if not r["ok"]: why.append("the runner saw %d violations" % r["violations"])
        if r["sent"] != n or r["received"] != n:
            why.append("the runner sent %d and received %d of %d" % (r["sent"], r["received"], n))
        if mode == "lossy" and r["resets"] + r["connect_failed"] < 1:
            why.append("a lossy stream under faults was never reset")
    if v:
        if not v["ok"]: why.append("the server saw %d violations" % v["violations"])
        if v["completed"] != 1: why.append("the server completed %d connections, not 1" % v["completed"])
        if mode != "lossy" and (v["sent"], v["received"]) != (n, n):
            why.append("the server sent %d and received %d of %d" % (v["sent"], v["received"], n))
    if r:
        print("%-4s %-9s %-8s sent %d received %d in %.1f s, %d connections, resets %d, remote resets %d, "
              "connect failed %d, dups %d gaps %d reorders %d bad %d" % ("ok" if not why else "FAIL", name,
              mode, r["sent"], r["received"], r["seconds"], r["conns"], r["resets"], r["remote_resets"],
              r["connect_failed"], r["dups"], r["gaps"], r["reorders"], r["bad"]))
    if v:
        print("     %-9s %-8s server: sent %d received %d, %d connections (%d complete), resets %d, dups %d "
              "gaps %d reorders %d bad %d" % ("", "", v["sent"], v["received"], v["conns"], v["completed"],
              v["resets"], v["dups"], v["gaps"], v["reorders"], v["bad"]))
    for w in why:
        print("     %s %s: %s" % (name, mode, w))
    if why:
        bad = 1
        for f in ("run", "serve"):
            for l in [l for l in open("%s/%s.%s" % (d, name, f), errors="replace") if not l.startswith("{")][:8]:
                print("     | %s" % l.rstrip())
sys.exit(bad)
EOF
}

# faults_report MIN_LINK_ERRORS MIN_INJECTED: the faults did happen, per
# the perf dumps of every daemon in SD_CTLS (summed), and ss -K killed
# something. Prints the counters of issue 10 too, where the daemons have
# them. A counter a daemon does not have counts as missing, not as 0.
faults_report() {
	local i
	for i in "${!SD_CTLS[@]}"; do
		MSGR_CTL_SOCKET=${SD_CTLS[i]} "$BIN/msgrctl" --json perf dump >"$SDIR/perf.$i.json"
	done
	echo "$((SECONDS - SD_T0)) s from the first daemon's start to the end of the streams"
	python3 - "$1" "$2" "$(cat "$SDIR/kills")" "$SDIR"/perf.*.json <<'EOF'
import json, sys
min_le, min_inj, kills = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
dumps = [json.load(open(f)).get("msgrd", {}) for f in sys.argv[4:]]
def total(k):
    return sum(d[k] for d in dumps) if all(k in d for d in dumps) else None
le, inj = total("link_errors"), total("injected_failures")
print("faults: link_errors %s, injected_failures %s (summed over %d daemons), sockets killed by ss -K %d"
      % (le, inj, len(dumps), kills))
for k in ("links_dialled", "links_accepted", "resumes", "replayed_msgs", "dup_dropped", "remote_resets", "redials"):
    if total(k) is not None:
        print("  %s: %d" % (k, total(k)))
bad = []
if le is None or le < min_le: bad.append("link_errors %s, want >= %d: the faults did not happen" % (le, min_le))
if inj is None or inj < min_inj: bad.append("injected_failures %s, want >= %d" % (inj, min_inj))
if kills < 1: bad.append("ss -K killed no link")
for b in bad: print(b)
sys.exit(1 if bad else 0)
EOF
}

# stream_setup NAME TIMEOUT: a directory for the outputs; STREAM_TIMEOUT
# for every msgr-stream of the test (LOSSLESS_TIMEOUT, when set, instead;
# twice TIMEOUT in the sanitizer build, about three times slower)
stream_setup() {
	local t=$2
	SDIR=$RUN/$1
	mkdir -p "$SDIR"
	[ -n "${MSGR_SANITIZED:-}" ] && t=$((t * 2))
	export STREAM_TIMEOUT=${LOSSLESS_TIMEOUT:-$t}
	SD_CTLS=() SD_PORTS=() SD_PIDS=() SD_LOGS=() SERVE_PIDS=() RUN_PIDS=() STREAMS=()
	SD_T0=$SECONDS
}

# stream_stop_daemons: every daemon of SD_PIDS lived through it and stops
# cleanly on SIGTERM.
stream_stop_daemons() {
	local i
	for i in "${!SD_PIDS[@]}"; do
		D_PID=${SD_PIDS[i]} D_LOG=${SD_LOGS[i]}
		kill -0 "$D_PID" 2>/dev/null || { echo "msgrd $D_LOG died:"; tail -20 "$D_LOG"; return 1; }
		stop_daemon || return 1
	done
}

# Two daemons, one lossless pair and one peer pair, LOSSLESS_N each way,
# under injected socket failures and ss -K every 200 ms for the whole run.
t_lossless_two_kill() {
	sskill_usable || return 1
	stream_setup lossless-two 45
	stream_daemon ll2-a
	local a_sock=$D_SOCK a_addr=$D_ADDR
	stream_daemon ll2-b
	local b_sock=$D_SOCK b_addr=$D_ADDR killer rc=0
	kill_links "$SDIR/kills" "${SD_PORTS[@]}" &
	killer=$!
	stream_pair ll lossless "$b_sock" "$b_addr" osd.ll "$a_sock" client.ll
	stream_pair pr peer "$b_sock" "$b_addr" osd.pr "$a_sock" osd.pa
	streams_wait
	kill "$killer"
	wait "$killer" 2>/dev/null || true
	streams_check || rc=1
	faults_report 20 5 || rc=1
	stream_stop_daemons || rc=1
	return $rc
}
run lossless-two-daemons-kill t_lossless_two_kill

# Three daemons, six entity pairs across them (each direction between each
# two daemons, lossless and peer), and a lossy pair in the same run; at
# least 100 link faults over the three.
t_lossless_three() {
	sskill_usable || return 1
	stream_setup lossless-three 75
	local -a sock addr
	local i killer rc=0
	for i in 0 1 2; do
		stream_daemon "ll3-$i"
		sock[i]=$D_SOCK addr[i]=$D_ADDR
	done
	kill_links "$SDIR/kills" "${SD_PORTS[@]}" &
	killer=$!
	# lossless: client.lI on daemon I -> osd.lI on daemon I+1;
	# peer: osd.pI on daemon I+1 -> osd.qI on daemon I
	for i in 0 1 2; do
		local j=$(((i + 1) % 3))
		stream_pair "l$i" lossless "${sock[j]}" "${addr[j]}" "osd.l$i" "${sock[i]}" "client.l$i"
		stream_pair "p$i" peer "${sock[i]}" "${addr[i]}" "osd.q$i" "${sock[j]}" "osd.p$i"
	done
	stream_pair y lossy "${sock[1]}" "${addr[1]}" osd.y "${sock[0]}" client.y
	streams_wait
	kill "$killer"
	wait "$killer" 2>/dev/null || true
	streams_check || rc=1
	faults_report 100 10 || rc=1
	stream_stop_daemons || rc=1
	return $rc
}
run lossless-three-daemons t_lossless_three

# A lossy pair under the same faults: RESETs, and never a duplicate, a
# reorder or a damaged message within a connection; the runner connects
# again and again until it has received LOSSLESS_N.
t_lossy_faults() {
	sskill_usable || return 1
	stream_setup lossy-faults 45
	stream_daemon lf-a
	local a_sock=$D_SOCK a_addr=$D_ADDR
	stream_daemon lf-b
	local b_sock=$D_SOCK b_addr=$D_ADDR killer rc=0
	kill_links "$SDIR/kills" "${SD_PORTS[@]}" &
	killer=$!
	stream_pair y lossy "$b_sock" "$b_addr" osd.y "$a_sock" client.y
	stream_pair z lossy "$a_sock" "$a_addr" osd.z "$b_sock" client.z
	streams_wait
	kill "$killer"
	wait "$killer" 2>/dev/null || true
	streams_check || rc=1
	faults_report 5 1 || rc=1
	stream_stop_daemons || rc=1
	return $rc
}
run lossy-under-faults t_lossy_faults

# The checks themselves: a stream that breaks itself once (a duplicate, a
# gap, a swap, a flipped byte) must fail, and name the seq; the same
# stream unbroken passes. One daemon, no faults.
t_lossless_checker() {
	local k want out
	stream_setup lossless-checker 20
	export STREAM_LINGER_MS=0
	start_daemon llc
	for k in none dup skip swap flip; do
		out=$SDIR/$k
		"$STREAM" serve osd.c$k 1 >"$out.serve" 2>&1 &
		local srv=$!
		wait_line "$out.serve" "^ready"
		local rc=0
		if [ $k = none ]; then
			"$STREAM" run client.c$k "$D_ADDR/osd.c$k" lossless 2000 65536 >"$out.run" 2>&1 || rc=$?
		else
			STREAM_MISBEHAVE=$k:700 "$STREAM" run client.c$k "$D_ADDR/osd.c$k" lossless 2000 65536 >"$out.run" 2>&1 || rc=$?
		fi
		for _ in $(seq 50); do kill -0 $srv 2>/dev/null || break; sleep 0.1; done
		kill -TERM $srv 2>/dev/null || true
		local src=0
		wait $srv || src=$?
		case $k in
		none) want='"ok":true' ;;
		dup) want='seq 700 delivered twice' ;;
		skip) want='seq 701 delivered where 700 was next: 1 missing' ;;
		swap) want='seq 700 delivered after seq 701 (out of order)' ;;
		flip) want='seq 700 damaged' ;;
		esac
		echo "$k: runner exit $rc, server exit $src"
		if [ $k = none ]; then
			[ $rc = 0 ]
			[ $src = 0 ]
			grep -q "$want" "$out.run"
			grep -q "$want" "$out.serve"
		else
			if ! { [ $src = 1 ] && grep -q "VIOLATION: .*$want" "$out.serve" && grep -q '"ok":false' "$out.serve"; }; then
				echo "the server did not catch '$k'"
				cat "$out.serve"
				return 1
			fi
		fi
	done
	stop_daemon
}
run lossless-checker-selftest t_lossless_checker
