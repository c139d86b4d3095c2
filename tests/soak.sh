#!/bin/bash
# make soak: one daemon under every scenario in turn, with vandals and
# kill -9 churn, and a second daemon it talks to over a TCP session (remote
# scenarios, races, killed links), for SOAK_MINUTES (default 10). At the end
# both daemons must be alive, hold no clients, and have their fds and
# mappings back at baseline.
# Not part of make check; run it after changing the daemon or libmsgr.
set -eu
BUILD=${BUILD:-$(cd "$(dirname "$0")/.." && pwd)/build}
T=$BUILD/tests/msgr-itest
RUN=$(mktemp -d "${TMPDIR:-/tmp}/msgr-soak.XXXXXX")
end=$(( $(date +%s) + ${SOAK_MINUTES:-10} * 60 ))
export MSGR_SOCKET=$RUN/msgrd.sock MSGR_CTL_SOCKET=$RUN/msgrd.asok
"$BUILD/bin/msgrctl" keygen "$RUN/keyring" >/dev/null
"$BUILD/bin/msgrd" -f --set global.listen=127.0.0.1:$((20000 + RANDOM % 30000)) \
	--set global.socket="$MSGR_SOCKET" --set global.ctl_socket="$MSGR_CTL_SOCKET" \
	--set auth.keyring="$RUN/keyring" --set global.inject=true \
	2>"$RUN/msgrd.log" &
daemon=$!
B_ADDR=127.0.0.1:$((20000 + RANDOM % 30000))
"$BUILD/bin/msgrd" -f --set global.listen=$B_ADDR --set global.socket="$RUN/b.sock" \
	--set global.ctl_socket="$RUN/b.asok" --set auth.keyring="$RUN/keyring" 2>"$RUN/b.log" &
daemon_b=$!
trap 'kill -9 $daemon $daemon_b 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$MSGR_CTL_SOCKET" ] && [ -S "$RUN/b.asok" ] && break; sleep 0.05; done
fds0=$(ls /proc/$daemon/fd | wc -l); maps0=$(wc -l </proc/$daemon/maps)
bfds0=$(ls /proc/$daemon_b/fd | wc -l); bmaps0=$(wc -l </proc/$daemon_b/maps)
net() { ITEST_PEER_SOCKET=$RUN/b.sock "$T" "$@" >/dev/null; }
rounds=0
while [ "$(date +%s)" -lt "$end" ]; do
	for m in lossy lossless peer; do "$T" local $m >/dev/null; done
	"$T" threads peer >/dev/null
	"$T" eagain >/dev/null
	"$T" window >/dev/null
	"$T" window-edges >/dev/null
	"$T" detach-flush >/dev/null
	"$T" unpin >/dev/null
	"$T" pingpong-pair 2 >/dev/null &
	pair=$!
	for kind in random cmd rxfree txdone; do "$T" vandal client.v$kind $kind >/dev/null; done
	"$T" hold client.k "127.0.0.1:1/osd.none" >/dev/null 2>&1 &
	sleep 0.2; kill -9 $! 2>/dev/null || true
	wait $pair
	# over the network: the same scenarios, a killed link, a restarted peer
	net local lossy
	net threads lossy
	net window
	net detach-flush
	echo go | net pairs 20
	{ sleep 1; "$BUILD/bin/msgrctl" inject kill-link "$B_ADDR" >/dev/null; echo go; } | net reset-wait 3000
	net cross 200
	rounds=$((rounds + 1))
	echo "soak: round $rounds done, $(( end - $(date +%s) )) s left"
done
kill -0 $daemon
kill -0 $daemon_b
# the idle session's link is the only thing left: end it, then count
"$BUILD/bin/msgrctl" inject kill-link "$B_ADDR" >/dev/null || true
sleep 1
"$BUILD/bin/msgrctl" --json clients | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d == [], d'
fds1=$(ls /proc/$daemon/fd | wc -l); maps1=$(wc -l </proc/$daemon/maps)
bfds1=$(ls /proc/$daemon_b/fd | wc -l); bmaps1=$(wc -l </proc/$daemon_b/maps)
echo "soak: $rounds rounds; A: fds $fds0 -> $fds1, mappings $maps0 -> $maps1;" \
	"B: fds $bfds0 -> $bfds1, mappings $bmaps0 -> $bmaps1"
[ "$fds0" = "$fds1" ] && [ "$maps0" = "$maps1" ] && [ "$bfds0" = "$bfds1" ] && [ "$bmaps0" = "$bmaps1" ]
"$BUILD/bin/msgrctl" status | tail -24
kill -TERM $daemon $daemon_b; wait $daemon; wait $daemon_b
trap - EXIT
rm -rf "$RUN"
echo "soak: passed"
