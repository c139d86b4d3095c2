#!/bin/bash
# make demo: two msgrd daemons stand for two hosts. osd.1 attaches to the
# first, client.1 to the second; client.1 talks to osd.1 through both
# daemons, over one authenticated TCP session between them. Everything
# lives under build/demo; no root needed.
set -eu
BUILD=${1:-$(cd "$(dirname "$0")/.." && pwd)/build}
RUN=$BUILD/demo
rm -rf "$RUN"; mkdir -p "$RUN"
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
pids=() daemons=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

say "a cluster key both daemons hold (msgrctl keygen)"
"$BUILD/bin/msgrctl" keygen "$RUN/keyring"

# start NAME: a daemon with its own port, sockets and log under $RUN/NAME
start() {
	local dir=$RUN/$1 port
	mkdir -p "$dir"
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 30000))
		"$BUILD/bin/msgrd" -f --set global.listen=127.0.0.1:$port --set global.socket="$dir/msgrd.sock" \
			--set global.ctl_socket="$dir/msgrd.asok" --set auth.keyring="$RUN/keyring" \
			2>"$dir/msgrd.log" &
		pids+=($!)
		for _ in $(seq 100); do
			grep -q ' ready: ' "$dir/msgrd.log" && break
			kill -0 $! 2>/dev/null || break
			sleep 0.05
		done
		grep -q ' ready: ' "$dir/msgrd.log" && { daemons+=($!); echo "$1: msgrd on 127.0.0.1:$port"; return; }
	done
	cat "$dir/msgrd.log"; exit 1
}
say "starting msgrd on host A and host B (runtime directories under $RUN)"
start hostA
start hostB
A=$RUN/hostA B=$RUN/hostB
addrA=$(MSGR_CTL_SOCKET=$A/msgrd.asok "$BUILD/bin/msgrctl" status | awk '$1 == "listen" { print $2 }')

say "osd.1 attaches on host A; client.1 on host B talks to $addrA/osd.1"
MSGR_SOCKET=$A/msgrd.sock "$BUILD/bin/msgr-demo" server osd.1 &
server=$!; pids+=($server)
sleep 0.3
MSGR_SOCKET=$B/msgrd.sock "$BUILD/bin/msgr-demo" client client.1 "$addrA/osd.1" > >(tee "$RUN/client.out") &
client=$!; pids+=($client)
for _ in $(seq 100); do grep -q 'all answers in' "$RUN/client.out" 2>/dev/null && break; sleep 0.05; done

say "host A's view: msgrctl clients, conns, sessions"
export MSGR_CTL_SOCKET=$A/msgrd.asok
"$BUILD/bin/msgrctl" clients
echo
"$BUILD/bin/msgrctl" conns
echo
"$BUILD/bin/msgrctl" sessions
say "host B's view: msgrctl sessions"
MSGR_CTL_SOCKET=$B/msgrd.asok "$BUILD/bin/msgrctl" sessions

say "stopping: client, server, daemons"
kill -TERM $client; wait $client || true
sleep 0.2
kill -TERM $server; wait $server || true
kill -TERM "${daemons[@]}"; wait "${daemons[@]}"
trap - EXIT
say "host A's daemon log ($A/msgrd.log)"
cat "$A/msgrd.log"
say "host B's daemon log ($B/msgrd.log)"
cat "$B/msgrd.log"
