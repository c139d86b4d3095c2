# Local attackers: processes that may use the attach socket and their own
# segment, and try to starve the daemon or another entity. Sourced by
# tests/run-integration.sh.

# cpu_pct PID SECS: the share of one CPU (percent) PID used over the next
# SECS seconds, from utime + stime in /proc/PID/stat.
cpu_pct() {
	local hz t0 t1
	hz=$(getconf CLK_TCK)
	t0=$(awk '{ print $14 + $15 }' "/proc/$1/stat")
	sleep "$2"
	t1=$(awk '{ print $14 + $15 }' "/proc/$1/stat")
	echo $(((t1 - t0) * 100 / (hz * $2)))
}

# A daemon that spins takes what it can get of a CPU, which is far more
# than this even on a busy machine; an idle one takes about nothing.
CPU_IDLE_MAX=10

# lowest_free_fd PID: RLIMIT_NOFILE bounds fd numbers, not how many are
# open, so a limit of this leaves PID not one fd to open.
lowest_free_fd() {
	local i=0
	while [ -e "/proc/$1/fd/$i" ]; do i=$((i + 1)); done
	echo $i
}

# silent_flood SOCK N SECS: open up to N attach connections that never send
# a request (for at most 3 s), print "ready COUNT", hold them for SECS.
# exec: run in the background, the job's pid is python's own, for kill.
silent_flood() {
	exec python3 - "$@" <<'PY'
import socket, sys, time
path, n, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
socks, end = [], time.time() + 3
while len(socks) < n and time.time() < end:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.setblocking(False)
    try:
        s.connect(path)
    except BlockingIOError:  # the listen backlog is full
        s.close()
        time.sleep(0.01)
        continue
    socks.append(s)
print("ready", len(socks), flush=True)
time.sleep(hold)
PY
}

# The daemon is a few fds short of its RLIMIT_NOFILE and hundreds of silent
# attach connections arrive. It must not spin on EMFILE, must log the
# shortage a bounded number of times, and must serve an honest attach
# while the silent connections are still open: the request of an honest
# client arrives with its connection, and silent ones make room for it.
t_attach_silent_flood() {
	start_daemon afl
	local cpu lines
	prlimit --pid "$D_PID" --nofile=$(($(lowest_free_fd "$D_PID") + 24)):
	silent_flood "$D_SOCK" 300 30 >"$D_DIR/flood.out" 2>&1 &
	local flood=$!
	wait_line "$D_DIR/flood.out" ready
	cat "$D_DIR/flood.out"
	"$T" attach client.honest 3000
	cpu=$(cpu_pct "$D_PID" 3)
	echo "daemon CPU over 3 s while the flood holds: $cpu%"
	[ "$cpu" -le $CPU_IDLE_MAX ] || { echo "the daemon spins"; return 1; }
	"$T" attach client.honest2 3000
	kill -0 $flood
	lines=$(wc -l <"$D_LOG")
	echo "log: $lines lines"
	[ "$lines" -le 20 ] || { echo "the log is flooded:"; sort "$D_LOG" | uniq -c | sort -rn | head; return 1; }
	grep 'out of file descriptors' "$D_LOG"
	"$BIN/msgrctl" --json status | python3 -c '
import json, sys
s = json.load(sys.stdin)["stats"]
print("attach_shed", s["attach_shed"])
assert s["attach_shed"] > 0, s'
	kill $flood
	stop_daemon
}

# Not one fd to spare, with no silent connection to close: an attach is
# refused at once with EMFILE (the daemon keeps one spare fd for that), and
# so is a flood; with even the spare gone the daemon stops accepting for a
# moment instead of spinning, and serves the waiting attach once fds are
# back.
t_attach_no_fds() {
	start_daemon anf
	local cpu lines w limit
	limit=$(prlimit --pid "$D_PID" --nofile --output SOFT --noheadings)
	prlimit --pid "$D_PID" --nofile="$(lowest_free_fd "$D_PID")":
	expect_exit 1 "$T" attach client.refused 3000 2>"$D_DIR/err"
	cat "$D_DIR/err"
	grep -q 'attach client.refused: Too many open files' "$D_DIR/err"
	silent_flood "$D_SOCK" 200 30 >"$D_DIR/flood.out" 2>&1 &
	local flood=$!
	wait_line "$D_DIR/flood.out" ready
	cat "$D_DIR/flood.out"
	cpu=$(cpu_pct "$D_PID" 2)
	echo "daemon CPU over 2 s, no fd to spare, flood refused: $cpu%"
	[ "$cpu" -le $CPU_IDLE_MAX ] || { echo "the daemon spins"; return 1; }
	kill $flood; wait $flood 2>/dev/null || true

	# fds 0-2 only: closing the spare gives back none the daemon may use
	prlimit --pid "$D_PID" --nofile=3:
	"$T" attach client.waits 10000 >"$D_DIR/w.out" 2>&1 &
	w=$!
	cpu=$(cpu_pct "$D_PID" 2)
	echo "daemon CPU over 2 s, below even the spare fd: $cpu%"
	[ "$cpu" -le $CPU_IDLE_MAX ] || { echo "the daemon spins"; return 1; }
	kill -0 $w || { cat "$D_DIR/w.out"; echo "the attach did not wait"; return 1; }
	prlimit --pid "$D_PID" --nofile="$limit":
	wait $w || { cat "$D_DIR/w.out"; return 1; }
	cat "$D_DIR/w.out"
	lines=$(wc -l <"$D_LOG")
	echo "log: $lines lines"
	[ "$lines" -le 20 ] || { echo "the log is flooded:"; sort "$D_LOG" | uniq -c | sort -rn | head; return 1; }
	# with fds to spare, silent connections still hold at most 64
	local fds0 fds1
	fds0=$(ls "/proc/$D_PID/fd" | wc -l)
	silent_flood "$D_SOCK" 300 30 >"$D_DIR/flood2.out" 2>&1 &
	flood=$!
	wait_line "$D_DIR/flood2.out" ready
	cat "$D_DIR/flood2.out"
	fds1=$(ls "/proc/$D_PID/fd" | wc -l)
	echo "daemon fds: $fds0 before 300 silent connections, $fds1 with them"
	[ $((fds1 - fds0)) -le 64 ] || { echo "more than 64 silent connections kept"; return 1; }
	"$T" attach client.after 3000
	kill $flood
	stop_daemon
}

# A client sends 32,768 raw CONNECTs to a victim and exits. The victim,
# closing each handle on RESET, must finish within a deadline (the daemon
# serves CLOSE even while the victim's outbox is over its limit, and
# msgr_conn_close never waits for the command ring); the daemon must then
# be idle, and a third client must reach the victim. The per-client limit
# is raised so that every CONNECT lands, as before there was one: 32,768
# RESETs are what push the victim's outbox past its limit (conn-cap tests
# the limit).
t_mass_reset() {
	start_daemon mass --set global.max_conns_per_client=65536
	local peer=127.0.0.1:$D_PORT/osd.v cpu lines t0
	"$T" victim osd.v >"$D_DIR/v.out" 2>&1 &
	wait_line "$D_DIR/v.out" ready
	t0=$SECONDS
	"$T" flood client.x "$peer" 32768 exit
	wait_line_for 30 "$D_DIR/v.out" '^ok accepted=' || {
		echo "daemon CPU over 2 s while the victim is stuck: $(cpu_pct "$D_PID" 2)%"; return 1; }
	echo "victim: $(grep '^ok' "$D_DIR/v.out") ($((SECONDS - t0)) s after the flood ended)"
	cpu=$(cpu_pct "$D_PID" 3)
	echo "daemon CPU over 3 s afterwards: $cpu%"
	[ "$cpu" -le $CPU_IDLE_MAX ] || { echo "the daemon spins"; return 1; }
	"$T" ping "$peer" 5000
	lines=$(wc -l <"$D_LOG")
	echo "log: $lines lines"
	[ "$lines" -le 20 ] || { echo "the log is flooded:"; sort "$D_LOG" | uniq -c | sort -rn | head; return 1; }
	stop_daemon
}

# The three fixes one at a time, in one process (msgr-itest close-behind):
# a CLOSE is served while its client's outbox is over the limit; a SEND
# that may not be served yet lets the daemon sleep; msgr_conn_close returns
# at once on a full command ring.
t_close_behind() {
	start_daemon behind --set global.max_conns_per_client=65536
	local p cpu
	mkfifo "$D_DIR/in"
	"$T" close-behind 24576 <"$D_DIR/in" >"$D_DIR/cb.out" 2>&1 &
	p=$!
	exec 3>"$D_DIR/in"
	wait_line_for 30 "$D_DIR/cb.out" blocked $p
	cpu=$(cpu_pct "$D_PID" 2)
	echo "daemon CPU over 2 s while a command waits on a full outbox: $cpu%"
	echo go >&3
	exec 3>&-
	wait $p || { cat "$D_DIR/cb.out"; return 1; }
	cat "$D_DIR/cb.out"
	[ "$cpu" -le $CPU_IDLE_MAX ] || { echo "the daemon spins"; return 1; }
	stop_daemon
}

# global.max_conns_per_client: a connect past it fails with EMFILE for the
# connector, a connect to an entity at it with ECONNREFUSED; one log line
# each however many; it changes at run time. Last, whatever it allows, an
# entity accepts at most 32,768 connections (a credit slot each, from the
# split up): the next connect is refused the same way, naming why (it
# failed with ENOMEM, "out of memory", before).
t_conn_cap() {
	start_daemon cap --set global.max_conns_per_client=100
	local peer=127.0.0.1:$D_PORT/osd.c
	"$T" victim osd.c >"$D_DIR/v.out" 2>&1 &
	wait_line "$D_DIR/v.out" ready
	"$T" flood client.y "$peer" 150 hold >"$D_DIR/y.out" 2>&1 &
	local y=$! z
	wait_line "$D_DIR/y.out" '^ok'
	cat "$D_DIR/y.out"
	grep -q '^ok connected=100 failed=50 error=Too many open files$' "$D_DIR/y.out"
	[ "$(grep -c 'refused: client.y holds 100 connections' "$D_LOG")" = 1 ] || { cat "$D_LOG"; return 1; }
	"$T" connect-fail "$peer" 5000 | tee "$D_DIR/cf.out"
	grep -q 'Connection refused' "$D_DIR/cf.out"
	grep 'refused: osd.c holds 100 connections' "$D_LOG"
	"$BIN/msgrctl" config set global.max_conns_per_client 1000
	"$T" ping "$peer" 5000
	"$BIN/msgrctl" --json status | python3 -c '
import json, sys
s = json.load(sys.stdin)["stats"]
print("conns_refused", s["conns_refused"])
assert s["conns_refused"] == 51, s'
	# osd.c holds the 100 of client.y still
	"$BIN/msgrctl" config set global.max_conns_per_client 65536
	"$T" flood client.z "$peer" 32668 hold >"$D_DIR/z.out" 2>&1 &
	z=$!
	wait_line_for 120 "$D_DIR/z.out" '^ok' $z
	cat "$D_DIR/z.out"
	grep -q '^ok connected=32668 failed=0' "$D_DIR/z.out"
	"$T" connect-fail "$peer" 5000 | tee "$D_DIR/cf.out"
	grep -q 'Connection refused' "$D_DIR/cf.out"
	grep 'refused: osd.c has accepted 32768 connections, the most one entity can accept' "$D_LOG"
	kill $y $z
	stop_daemon
}

run attach-silent-flood-out-of-fds t_attach_silent_flood
run attach-no-fds-refuse-pause t_attach_no_fds
run mass-reset-victim-closes t_mass_reset
run close-behind-full-outbox t_close_behind
run conn-cap-per-client t_conn_cap
