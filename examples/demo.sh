#!/bin/bash
# make demo: a daemon, two entities talking through it, and the daemon's
# view of them. Everything lives under build/demo; no root needed.
set -eu
BUILD=${1:-$(cd "$(dirname "$0")/.." && pwd)/build}
RUN=$BUILD/demo
rm -rf "$RUN"; mkdir -p "$RUN"
PORT=$((20000 + RANDOM % 30000))
export MSGR_SOCKET=$RUN/msgrd.sock MSGR_CTL_SOCKET=$RUN/msgrd.asok
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

say "starting msgrd (runtime directory $RUN)"
"$BUILD/bin/msgrd" -f --set global.listen=127.0.0.1:$PORT --set global.socket="$MSGR_SOCKET" \
	--set global.ctl_socket="$MSGR_CTL_SOCKET" 2>"$RUN/msgrd.log" &
daemon=$!; pids+=($daemon)
for _ in $(seq 100); do [ -S "$MSGR_CTL_SOCKET" ] && break; sleep 0.05; done
"$BUILD/bin/msgrctl" status | head -3

say "osd.1 and client.1 attach; client.1 talks to osd.1 through the daemon"
"$BUILD/bin/msgr-demo" server osd.1 &
server=$!; pids+=($server)
sleep 0.3
"$BUILD/bin/msgr-demo" client client.1 "127.0.0.1:$PORT/osd.1" > >(tee "$RUN/client.out") &
client=$!; pids+=($client)
for _ in $(seq 100); do grep -q 'all answers in' "$RUN/client.out" 2>/dev/null && break; sleep 0.05; done

say "the daemon's view: msgrctl clients"
"$BUILD/bin/msgrctl" clients
say "msgrctl conns"
"$BUILD/bin/msgrctl" conns

say "stopping: client, server, daemon"
kill -TERM $client; wait $client || true
sleep 0.2
kill -TERM $server; wait $server || true
kill -TERM $daemon; wait $daemon
trap - EXIT
say "daemon log ($RUN/msgrd.log)"
cat "$RUN/msgrd.log"
