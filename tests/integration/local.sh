# Same-host delivery through one daemon. Sourced by tests/run-integration.sh.

t_local_modes() {
	start_daemon local
	for m in lossy lossless peer; do
		"$T" local $m || return 1
	done
	"$T" threads peer
	"$T" eagain
	"$T" blocking
	"$T" detach-flush
	"$T" unpin
	"$T" window
	"$T" window-edges
	"$T" errors
	"$BIN/msgrctl" status | grep -q 'msgs_local'
	kill -0 "$D_PID"
	stop_daemon
}

t_reset_on_kill() {
	start_daemon reset
	"$T" server osd.srv 1 >"$D_DIR/srv.out" 2>&1 &
	local srv=$!
	wait_line "$D_DIR/srv.out" ready
	"$T" hold client.h "127.0.0.1:$D_PORT/osd.srv" >"$D_DIR/hold.out" 2>&1 &
	local hold=$!
	wait_line "$D_DIR/hold.out" ready
	kill -9 $hold
	wait_line "$D_DIR/srv.out" "ok reset"
	wait $srv
	stop_daemon
}

t_daemon_lost() {
	start_daemon lost
	"$T" wait-lost client.w >"$D_DIR/w.out" 2>&1 &
	local w=$!
	wait_line "$D_DIR/w.out" ready
	kill -9 "$D_PID"
	wait_line "$D_DIR/w.out" "ok lost"
	wait $w
	# a restarted daemon replaces the stale sockets
	start_daemon lost
	"$T" errors
	stop_daemon
}

# Kill -9 a client 100 times: the daemon's fds, mappings and memory must
# return to where they were.
t_kill9_churn() {
	start_daemon churn
	"$T" server osd.srv -1 >"$D_DIR/srv.out" 2>&1 &
	wait_line "$D_DIR/srv.out" ready
	local peer=127.0.0.1:$D_PORT/osd.srv
	churn_once() {
		# emptied here, not by the job's own redirection, which may come
		# after wait_line has found the last round's "ready"
		: >"$D_DIR/hold.out"
		"$T" hold client.k "$peer" >>"$D_DIR/hold.out" 2>&1 &
		local h=$!
		wait_line "$D_DIR/hold.out" ready >/dev/null
		kill -9 $h; wait $h 2>/dev/null || true
		for _ in $(seq 100); do
			[ "$("$BIN/msgrctl" --json clients | grep -c '"entity"')" = 1 ] && return 0
			sleep 0.02
		done
		echo "client.k still attached after kill -9"; return 1
	}
	for _ in $(seq 5); do churn_once; done # warm up allocator arenas
	local fds0 maps0 segs0 rss0 fds1 maps1 segs1 rss1
	fds0=$(ls /proc/$D_PID/fd | wc -l); maps0=$(wc -l </proc/$D_PID/maps)
	segs0=$(grep -c 'memfd:msgr-segment' /proc/$D_PID/maps || true)
	rss0=$(awk '/VmRSS/{print $2}' /proc/$D_PID/status)
	for _ in $(seq 100); do churn_once; done
	fds1=$(ls /proc/$D_PID/fd | wc -l); maps1=$(wc -l </proc/$D_PID/maps)
	segs1=$(grep -c 'memfd:msgr-segment' /proc/$D_PID/maps || true)
	rss1=$(awk '/VmRSS/{print $2}' /proc/$D_PID/status)
	echo "fds $fds0 -> $fds1, mappings $maps0 -> $maps1 (segments $segs0 -> $segs1), rss ${rss0}k -> ${rss1}k"
	[ "$fds0" = "$fds1" ] || { echo "fd leak"; return 1; }
	# a leaked client leaves its segment mapped: those must match exactly
	[ "$segs0" = "$segs1" ] || { echo "segment mapping leak"; return 1; }
	# ASan's allocator maps regions lazily, per size class, as outboxes
	# and tables grow; in a plain build every mapping comes back
	local mslack=0; [ -n "${MSGR_SANITIZED:-}" ] && mslack=16
	[ $((maps1 - maps0)) -le $mslack ] || { echo "mapping leak"; return 1; }
	# ASan's quarantine holds freed memory for a while; LeakSanitizer
	# checks that build at daemon exit instead.
	local slack=2048; [ -n "${MSGR_SANITIZED:-}" ] && slack=32768
	[ $((rss1 - rss0)) -lt $slack ] || { echo "memory grew by $((rss1 - rss0)) KiB"; return 1; }
	grep -c 'client.k attached' "$D_LOG" | grep -qx 105
	stop_daemon
}

# A client that wrecks its own segment is cut off with a reason; two other
# entities keep exchanging checked messages throughout.
t_vandal() {
	start_daemon vandal
	"$T" pingpong-pair 6 >"$D_DIR/pair.out" 2>&1 &
	local pair=$!
	wait_line "$D_DIR/pair.out" ready
	for kind in random cmd rxfree txdone cmd modes-mask modes-pattern modes-many text-long \
		text-short text-nul; do
		"$T" vandal client.v "$kind"
	done
	wait $pair || { cat "$D_DIR/pair.out"; return 1; }
	grep 'ok' "$D_DIR/pair.out"
	grep 'client.v' "$D_LOG" | grep 'detached:' | grep -v 'connection closed'
	[ "$(grep 'client.v' "$D_LOG" | grep -c 'detached:' )" -ge 5 ]
	grep -q 'client.v .*detached: txdone ring full' "$D_LOG"
	grep -q "client.v .*detached: ACCEPT_MODES: accept modes for 'osd.\*': bad mode bits 0x11" "$D_LOG"
	grep -q "client.v .*detached: ACCEPT_MODES: pattern 'osd/1': '/' cannot be in an entity name" "$D_LOG"
	grep -q "client.v .*detached: ACCEPT_MODES: accept modes for 'x32.\*': more than 32 rules" "$D_LOG"
	grep -q "client.v .*detached: CONNECT with bad address length 4096" "$D_LOG"
	[ "$(grep -c "client.v .*detached: CONNECT whose address (17 bytes) is cut short or holds a NUL" "$D_LOG")" -eq 2 ]
	kill -0 "$D_PID"
	"$T" errors
	stop_daemon
}

t_config_errors() {
	local dir=$RUN/conf; mkdir -p "$dir"
	printf '[global]\nlisten = 127.0.0.1:6800\nbogus_key = 1\n' >"$dir/a.conf"
	expect_exit 2 "$BIN/msgrd" -c "$dir/a.conf" >"$dir/out" 2>&1
	grep -q "a.conf:3: unknown key 'global.bogus_key'" "$dir/out" || { cat "$dir/out"; return 1; }
	printf '[global]\n\npoll_us = lots\n' >"$dir/b.conf"
	expect_exit 2 "$BIN/msgrd" -c "$dir/b.conf" >"$dir/out" 2>&1
	grep -q "b.conf:3: global.poll_us: 'lots' is not a number" "$dir/out" || { cat "$dir/out"; return 1; }
	expect_exit 2 "$BIN/msgrd" --set global.listen=nowhere >"$dir/out" 2>&1
	grep -q "is not HOST:PORT" "$dir/out"
	expect_exit 2 "$BIN/msgrd" -c "$dir/missing.conf" >"$dir/out" 2>&1
	grep -q "missing.conf: cannot open" "$dir/out"
	"$BIN/msgrd" --version | grep -q '^msgrd '
	"$BIN/msgrd" --help | grep -q -- '--set'
	# a second daemon on the same sockets is refused, the first unharmed
	start_daemon twice
	expect_exit 1 "$BIN/msgrd" --set global.socket="$D_SOCK" \
		--set global.ctl_socket="$D_DIR/other.asok" >"$dir/out" 2>&1
	grep -q "Address already in use" "$dir/out"
	"$T" errors
	stop_daemon
}

t_msgrctl() {
	start_daemon ctl
	"$T" server osd.ctl -1 >"$D_DIR/srv.out" 2>&1 &
	wait_line "$D_DIR/srv.out" ready
	"$BIN/msgrctl" clients | tee "$D_DIR/clients.out"
	grep -q 'osd.ctl' "$D_DIR/clients.out"
	"$BIN/msgrctl" --json clients | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[0]["entity"]=="osd.ctl", d'
	"$BIN/msgrctl" --json status | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["clients"]==1, d'
	"$BIN/msgrctl" config show | grep -q "global.listen *127.0.0.1:$D_PORT"
	# the Ceph admin-socket framing, spoken by hand
	python3 - "$D_CTL" <<'PY'
import json, socket, struct, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b'{"prefix": "get_command_descriptions"}\0')
n = struct.unpack('>I', s.recv(4, socket.MSG_WAITALL))[0]
d = json.loads(s.recv(n, socket.MSG_WAITALL))
assert any(c["sig"] == ["status"] for c in d.values()), d
PY
	expect_exit 2 "$BIN/msgrctl" nonsense 2>"$D_DIR/err"   # msgrctl knows its commands
	grep -q "unknown command 'nonsense'" "$D_DIR/err"
	expect_exit 3 "$BIN/msgrctl" -s "$RUN/nothing.asok" status
	expect_exit 2 "$BIN/msgrctl"
	stop_daemon
}

# libmsgr's own error paths (tests/integration/msgr-libfaults.c)
LF=$BUILD/tests/msgr-libfaults

t_lib_attach_fds() {
	"$LF" attach-fds
}

t_lib_sendv_overflow() {
	start_daemon sendv
	"$LF" sendv-overflow
	stop_daemon
}

# The daemon must also have forgotten the channel nobody took: no channel
# left once the connecting side has seen its RESET.
t_lib_accept_nomem() {
	start_daemon nomem
	"$LF" accept-nomem
	"$BIN/msgrctl" --json conns | python3 -c 'import json, sys; c = json.load(sys.stdin); assert not c, c'
	stop_daemon
}

# accept_modes DIR CTL: msgr-itest accept-modes (osd.acc on $ITEST_PEER_SOCKET's
# daemon, or $MSGR_SOCKET's; the connecting entities on $MSGR_SOCKET's), with
# `msgrctl clients` showing osd.acc's rules on CTL's daemon (the acceptor's)
# while it holds, and the refusals counted there. net.sh runs it too.
accept_modes() {
	local dir=$1 ctl=$2
	rm -f "$dir/am.in"; mkfifo "$dir/am.in"
	"$T" accept-modes hold <"$dir/am.in" >"$dir/am.out" 2>&1 &
	local p=$!
	exec 3>"$dir/am.in"
	wait_line "$dir/am.out" ready
	MSGR_CTL_SOCKET=$ctl "$BIN/msgrctl" --json clients | python3 -c '
import json, sys
d = {c["entity"]: c for c in json.load(sys.stdin)}
want = [{"peer": "client.*", "modes": ["peer"]}, {"peer": "osd.*", "modes": ["peer"]}]
assert d["osd.acc"]["accept_modes"] == want, d["osd.acc"]
assert "accept_modes" not in d.get("client.m", {}), d'
	echo go >&3; exec 3>&-
	wait $p
	grep -q "ok accept modes" "$dir/am.out"
	# six connects refused, each with its reason at debug level
	MSGR_CTL_SOCKET=$ctl "$BIN/msgrctl" --json perf dump | python3 -c '
import json, sys
d = json.load(sys.stdin)["msgrd"]
assert d["modes_refused"] == 6, d["modes_refused"]'
}

t_local_accept_modes() {
	start_daemon amodes --set global.log_level=debug
	accept_modes "$D_DIR" "$D_CTL"
	grep -q "refused: osd.acc does not accept lossless connections from client.m\$" "$D_LOG"
	grep -q "refused: osd.acc does not accept lossy connections from mon.m (no rule matches it)" "$D_LOG"
	stop_daemon
}

# Idle clients cost the daemon neither memory (their rings are zeros until
# used: 1.4 MiB each before) nor poll passes (parked after 1 ms); a parked
# one that sends is woken and served. Two clients come and go first: once
# the daemon had freed a client's RX pool records, glibc served the next
# ones from the heap, cleared (128 KiB each for the default pool), and
# idle clients cost about 150 KiB each instead of 30.
t_idle_many() {
	start_daemon idlemany
	echo go | "$T" idle-many 2 | grep -q "ok woke"
	mkfifo "$D_DIR/in"
	local rss0 rss1 n=200
	rss0=$(awk '/VmRSS/{print $2}' /proc/$D_PID/status)
	"$T" idle-many $n <"$D_DIR/in" >"$D_DIR/idle.out" 2>&1 &
	local p=$!
	exec 3>"$D_DIR/in"
	wait_line "$D_DIR/idle.out" ready
	rss1=$(awk '/VmRSS/{print $2}' /proc/$D_PID/status)
	echo "daemon RSS with $n idle clients: ${rss0}k -> ${rss1}k"
	# under ASan the records come from calloc (for its redzones) and its
	# allocator keeps its own heap, so only the old bound holds there
	local per=64
	[ -z "${MSGR_SANITIZED:-}" ] || per=150
	[ $((rss1 - rss0)) -lt $((n * per)) ] || { echo "more than $per KiB per idle client"; return 1; }
	sleep 0.1 # past the 1 ms after which an idle client is parked
	echo go >&3
	wait_line "$D_DIR/idle.out" "ok woke"
	exec 3>&-
	wait $p
	stop_daemon
}

# Messages of megabytes that wait for room in the receiver's pool (the
# daemon's outbox) arrive whole and in order.
t_local_wait_room() {
	start_daemon waitroom
	"$T" wait-room 12 3158001
	"$BIN/msgrctl" --json clients | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d == [], d'
	kill -0 "$D_PID"
	stop_daemon
}

run local-delivery-all-modes t_local_modes
run local-large-messages-wait t_local_wait_room
run local-idle-clients t_idle_many
run reset-when-peer-killed t_reset_on_kill
run daemon-lost t_daemon_lost
run kill9-client-100x-no-leak t_kill9_churn
run vandal-client-isolated t_vandal
run config-errors t_config_errors
run msgrctl t_msgrctl
run lib-attach-fd-leak t_lib_attach_fds
run lib-sendv-overflow t_lib_sendv_overflow
run lib-accept-nomem t_lib_accept_nomem
run local-accept-modes t_local_accept_modes

# Issue 13: errors that name the problem. msgr_last_error() says what went
# wrong for the thread that asks (msgr-itest last-error); an unknown entity
# (ENXIO) and a host where no daemon listens (ECONNREFUSED) are told apart;
# msgrd's log names a duplicate attach in words; and msgrd run as non-root
# with the default paths says it cannot create /run/msgrd.
# A client that connects without reading its events gets -EAGAIN once the
# daemon holds its commands back, instead of waiting for ever (the address
# text travels in the cmd ring, so the ring is what fills); reading lets it
# connect again.
t_connect_flood() {
	start_daemon flood
	timeout 120 "$T" connect-flood || { echo "connect-flood failed or hung ($?)"; return 1; }
	kill -0 "$D_PID"
	stop_daemon
}

t_errors_named() {
	local port out=$RUN/en.out
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	start_daemon en
	"$T" last-error "127.0.0.1:$port"
	grep -q "attach refused for 'client.le': already attached to this msgrd" "$D_LOG"
	stop_daemon
	# the default paths, in a private /run, as nobody: no /run/msgrd yet,
	# and nobody may make it
	command -v unshare >/dev/null && command -v setpriv >/dev/null && [ "$(id -u)" = 0 ] ||
		{ echo "SKIP needs root, unshare and setpriv"; return 0; }
	expect_exit 1 unshare -m sh -c 'mount -t tmpfs -o mode=0755 tmpfs /run && exec setpriv --reuid=nobody \
		--regid=nogroup --clear-groups "$0" -f --set auth.mode=none \
		--set global.listen=127.0.0.1:'"$port" "$BIN/msgrd" >"$out" 2>&1
	cat "$out"
	grep -q "cannot create /run/msgrd, the folder of global.socket /run/msgrd/msgrd.sock: Permission denied (run msgrd as root" "$out"
}
run errors-name-the-problem t_errors_named
run connect-flood-eagain t_connect_flood
