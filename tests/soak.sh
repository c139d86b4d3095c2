#!/bin/bash
# make soak: one daemon under every scenario in turn, with vandals and
# kill -9 churn, for SOAK_MINUTES (default 10). At the end the daemon must be
# alive, hold no clients, and have its fds and mappings back at baseline.
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
	--set auth.keyring="$RUN/keyring" \
	2>"$RUN/msgrd.log" &
daemon=$!
trap 'kill -9 $daemon 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$MSGR_CTL_SOCKET" ] && break; sleep 0.05; done
fds0=$(ls /proc/$daemon/fd | wc -l); maps0=$(wc -l </proc/$daemon/maps)
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
	rounds=$((rounds + 1))
	echo "soak: round $rounds done, $(( end - $(date +%s) )) s left"
done
kill -0 $daemon
sleep 1
"$BUILD/bin/msgrctl" --json clients | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d == [], d'
fds1=$(ls /proc/$daemon/fd | wc -l); maps1=$(wc -l </proc/$daemon/maps)
echo "soak: $rounds rounds; fds $fds0 -> $fds1, mappings $maps0 -> $maps1"
[ "$fds0" = "$fds1" ] && [ "$maps0" = "$maps1" ]
"$BUILD/bin/msgrctl" status | tail -10
kill -TERM $daemon; wait $daemon
trap - EXIT
rm -rf "$RUN"
echo "soak: passed"
