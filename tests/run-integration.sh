#!/bin/bash
# Integration tests: real msgrd processes, each with its own runtime
# directory, sockets and port, driven by real libmsgr applications
# (build/tests/msgr-itest). Prints PASS/FAIL/SKIP per test; exits 1 if any
# test failed.
set -u
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
BIN=$BUILD/bin
T=$BUILD/tests/msgr-itest
RUN=$(mktemp -d "${TMPDIR:-/tmp}/msgr-itest.XXXXXX")
FAILED=0
PIDS=()
declare -A JOB_NAME=() # running tests: pid -> name (run, reap)

# kill_tree PID: PID and everything under it (a test still running when the
# runner is interrupted: its subshells, daemons and clients). Stopped first,
# so it starts nothing new meanwhile.
kill_tree() {
	local c
	kill -STOP "$1" 2>/dev/null || return 0
	for c in $(pgrep -P "$1"); do kill_tree "$c"; done
	kill -9 "$1" 2>/dev/null
}

cleanup() {
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "${!JOB_NAME[@]}"; do kill_tree "$p"; done
	wait 2>/dev/null
	# network namespaces a failed fault test left behind (netns.sh)
	[ -f "$RUN/netns.list" ] && while read -r ns; do ip netns del "$ns" 2>/dev/null; done <"$RUN/netns.list"
	[ "$FAILED" = 0 ] && [ -z "${KEEP:-}" ] && rm -rf "$RUN"
}
trap cleanup EXIT
# Tests run in the background, where SIGINT is ignored: an interrupted
# runner ends them (cleanup) as it exits.
trap 'exit 130' INT
trap 'exit 143' TERM

# One cluster key for every daemon the tests start (auth.mode = hmac, the
# default); tests of authentication make their own.
KEYRING=$RUN/cluster.keyring
"$BIN/msgrctl" keygen "$KEYRING" >/dev/null

# start_daemon NAME [--set K=V]...: sets D_DIR D_PID D_SOCK D_CTL D_LOG D_PORT
# D_ADDR. The port is random; a daemon that finds it taken is started again
# on another. $D_HOST (default 127.0.0.1) is the address it listens on, and
# $D_WRAP a command to run it under (ip netns exec NS); $D_READY the file its
# ready line goes to when that is not its stderr.
start_daemon() {
	local name=$1; shift
	D_DIR=$RUN/$name
	mkdir -p "$D_DIR"
	D_SOCK=$D_DIR/msgrd.sock D_CTL=$D_DIR/msgrd.asok D_LOG=$D_DIR/msgrd.log
	for _ in 1 2 3 4 5; do
		D_PORT=$((20000 + RANDOM % 30000))
		D_ADDR=${D_HOST:-127.0.0.1}:$D_PORT
		# D_BIND_ANY: accept on every address, tell peers D_ADDR
		${D_WRAP:-} "$BIN/msgrd" -f --set global.listen=$D_ADDR ${D_BIND_ANY:+--set global.bind=0.0.0.0:$D_PORT} --set global.socket="$D_SOCK" \
			--set global.ctl_socket="$D_CTL" --set auth.keyring="$KEYRING" "$@" >"$D_LOG" 2>&1 &
		D_PID=$!
		PIDS+=("$D_PID")
		for _ in $(seq 100); do
			[ -S "$D_CTL" ] && grep -q ' ready: ' "${D_READY:-$D_LOG}" 2>/dev/null && break
			kill -0 "$D_PID" 2>/dev/null || break
			sleep 0.05
		done
		# global.bind's address when set, else D_ADDR: match on the port
		grep -q "listen on [^ ]*:$D_PORT .*in use" "$D_LOG" || break
	done
	# D_READY: where the ready line goes when not to stderr (a log file, a journal)
	grep -q ' ready: ' "${D_READY:-$D_LOG}" 2>/dev/null || { echo "msgrd did not start:"; cat "$D_LOG"; return 1; }
	export MSGR_SOCKET=$D_SOCK MSGR_CTL_SOCKET=$D_CTL
}

stop_daemon() {
	kill -TERM "$D_PID" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$D_PID" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$D_PID" 2>/dev/null; then echo "msgrd did not stop on SIGTERM"; return 1; fi
	wait "$D_PID"; local rc=$?
	[ $rc = 0 ] || { echo "msgrd exited $rc"; cat "$D_LOG"; return 1; }
}

# wait_line FILE TEXT: wait up to 10 s for TEXT in FILE
wait_line() {
	for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	echo "timed out waiting for '$2' in $1"; cat "$1"; return 1
}

# wait_line_for SECS FILE TEXT [PID]: wait_line with a deadline of SECS,
# given up early if PID (the process writing FILE) ends.
wait_line_for() {
	local end=$((SECONDS + $1))
	while [ $SECONDS -lt $end ]; do
		grep -q "$3" "$2" 2>/dev/null && return 0
		[ -z "${4:-}" ] || kill -0 "$4" 2>/dev/null || break
		sleep 0.05
	done
	echo "no '$3' in $2 after $(($1 - end + SECONDS)) s"; cat "$2"; return 1
}

# expect_exit CODE CMD...: CMD must exit with CODE
expect_exit() {
	local want=$1 rc=0; shift
	"$@" || rc=$?
	[ "$rc" = "$want" ] || { echo "'$*' exited $rc, expected $want"; return 1; }
}

# Tests run side by side, TEST_JOBS at a time (default 2): each has its own
# daemons, ports, sockets and namespaces. On 2 cores two at once took the
# plain pass from 7 min 45 s to 5 min 40 s; the tests are mostly busy, so
# more would not help there. A test's report is printed by the runner as
# the test ends (reap), so lines never interleave; TEST_JOBS=1 runs them
# one after another.
TEST_JOBS=${TEST_JOBS:-2}
case "$TEST_JOBS" in
''|*[!0-9]*|0*) echo "run-integration.sh: TEST_JOBS='$TEST_JOBS' is not a number of tests from 1 up" >&2; exit 2 ;;
esac

# run_one NAME CMD...: the test itself, in a subshell; writes the report
# to $RUN/NAME.report
run_one() {
	local name=$1; shift
	local out=$RUN/$name.out rep=$RUN/$name.report
	local t0=$(date +%s%N) rc
	( set -eE; trap 'echo "failed: line $LINENO: $BASH_COMMAND"' ERR
	  trap 'rc=$?; trap - ERR; set +e; kill -9 "${PIDS[@]}" $(jobs -p) 2>/dev/null; wait 2>/dev/null; exit $rc' EXIT
	  "$@" ) >"$out" 2>&1
	rc=$?
	if grep -q '^SKIP' "$out"; then
		printf "SKIP  %-34s %s\n" "$name" "$(grep -m1 '^SKIP' "$out")"
	elif [ $rc = 0 ]; then
		local ms=$((($(date +%s%N) - t0) / 1000000))
		printf "PASS  %-34s %3d.%01ds\n" "$name" $((ms / 1000)) $((ms % 1000 / 100))
	else
		printf "FAIL  %-34s\n" "$name"; sed 's/^/      /' "$out" | tail -40
	fi >"$rep"
}

# reap: wait for one running test, print its report
reap() {
	local pid= name rep
	wait -n -p pid
	[ -n "$pid" ] && [ -n "${JOB_NAME[$pid]:-}" ] || return 0
	name=${JOB_NAME[$pid]} rep=$RUN/${JOB_NAME[$pid]}.report
	unset "JOB_NAME[$pid]"
	[ -s "$rep" ] || echo "FAIL  $name (its runner died)" >"$rep"
	cat "$rep"
	grep -q '^FAIL' "$rep" && FAILED=1
	return 0
}

run() {
	local name=$1
	case "$name" in ${ONLY:-*}) ;; *) return 0 ;; esac
	while [ ${#JOB_NAME[@]} -ge "$TEST_JOBS" ]; do reap; done
	run_one "$@" &
	JOB_NAME[$!]=$name
}

run_plain() {
	if [ -n "${MSGR_SANITIZED:-}" ]; then
		case "$1" in ${ONLY:-*}) printf -- "----  %-34s plain build only (documents and the bench)\n" "$1" ;; esac
		return 0
	fi
	run "$@"
}

# shellcheck source=net-lib.sh
. "$(dirname "$0")/net-lib.sh"
for f in "$(dirname "$0")"/integration/*.sh; do
	# shellcheck source=/dev/null
	. "$f"
done

while [ ${#JOB_NAME[@]} -gt 0 ]; do reap; done
echo "integration tests: $([ $FAILED = 0 ] && echo all passed || echo FAILURES; true)"
exit $FAILED
