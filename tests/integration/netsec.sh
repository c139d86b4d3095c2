# Security of the daemon-to-daemon protocol, version 2 (docs/PROTOCOL.md
# sections 3 and 3a, issue 8): the relay attack, a handshake changed in
# flight, HELLO range checks, secure mode's sealed frames, mixed auth
# modes, handshake slots under a flood from one source, key rotation.
# wirepeer.py is the independent implementation of the spec that plays the
# attacker or the changed peer. Sourced by tests/run-integration.sh after
# net.sh (start_pair, pyjson).

WP=$(dirname "$BASH_SOURCE")/wirepeer.py

# secure mode in wirepeer.py needs python3-cryptography (make deps)
need_crypto() {
	python3 -c 'import cryptography.hazmat.primitives.ciphers.aead, cryptography.hazmat.primitives.kdf.hkdf' 2>/dev/null ||
		{ echo "SKIP: python3-cryptography missing"; return 1; }
}

# keyring FILE KEY [NEXT_KEY]: a keyring as msgrctl keygen writes it, with
# an optional next key
keyring() {
	printf '[cluster]\nkey = %s\n' "$2" >"$1"
	[ -z "${3:-}" ] || printf 'next_key = %s\n' "$3" >>"$1"
	chmod 600 "$1"
}
hexkey() { python3 -c 'import os; print(os.urandom(32).hex())'; }

# The relay attack of issue 8, by someone with no key, against an honest
# pair that is talking meanwhile: neither daemon proves itself to the
# attacker, A never takes the relayed link, and the honest session does not
# notice the HELLO that claims B's nonce and address (no RESET, no restart).
# On version 1 daemons wirepeer sees both proofs and both AUTH_DONEs.
t_net_sec_relay() {
	start_pair relay
	"$T" pingpong-pair 3 >"$A_DIR/pp.out" 2>&1 &
	local pp=$!
	wait_line "$A_DIR/pp.out" ready
	python3 "$WP" 127.0.0.1 "$A_PORT" relay 127.0.0.1 "$B_PORT"
	wait $pp || { cat "$A_DIR/pp.out"; return 1; }
	grep -q "round trips" "$A_DIR/pp.out"
	pyjson "$A_CTL" 'len(d) == 1 and d[0]["peer"] == "'"$B_ADDR"'" and d[0]["links_up"] == 1' sessions
	pyjson "$B_CTL" 'len(d) == 1 and d[0]["peer"] == "'"$A_ADDR"'" and d[0]["links_up"] == 1' sessions
	pyjson "$A_CTL" 'd["stats"]["auth_failures"] >= 1' status
	! grep -q "restarted\|lost it and dialled again" "$A_LOG" "$B_LOG"
	stop_pair
}
run net-sec-relay t_net_sec_relay

# Every HELLO field and every banner field changed in flight, each way:
# the daemon answers AUTH_FAIL and closes, never with its own proof. The
# control (tamper none) verifies the daemon's proof and brings a link up.
t_net_sec_tamper() {
	local mode=$1 f n
	[ "$mode" = hmac ] || need_crypto
	start_daemon "tamper-$mode" --set auth.mode="$mode"
	python3 "$WP" 127.0.0.1 "$D_PORT" tamper all --mode "$mode" --keyring "$KEYRING" >"$D_DIR/out" ||
		{ cat "$D_DIR/out"; return 1; }
	cat "$D_DIR/out"
	for f in nonce mode max_message window link_id lost challenge listen lowest highest features; do
		grep -q "^ok tamper $f out: AUTH_FAIL" "$D_DIR/out"
		grep -q "^ok tamper $f in: AUTH_FAIL" "$D_DIR/out"
	done
	[ "$(grep -c "^ok tamper none: .* the link is up" "$D_DIR/out")" = 2 ]
	n=$(grep -c "^ok tamper .*: AUTH_FAIL" "$D_DIR/out")
	pyjson "$D_CTL" 'd["stats"]["auth_failures"] == '"$n"' and d["stats"]["protocol_errors"] == 0' status
	grep -q "authentication failed: the peer's proof does not match" "$D_LOG"
	stop_daemon
}
run net-sec-tamper-hmac t_net_sec_tamper hmac
run net-sec-tamper-secure t_net_sec_tamper secure

# HELLOs out of range (each followed by a valid proof over those very
# bytes) are closed as protocol errors; the receiver's own address or
# nonce is refused; the edges of each range are taken.
t_net_sec_rangecheck() {
	start_daemon range
	python3 "$WP" 127.0.0.1 "$D_PORT" rangecheck --mode hmac --keyring "$KEYRING" >"$D_DIR/out" ||
		{ cat "$D_DIR/out"; return 1; }
	cat "$D_DIR/out"
	local bad
	bad=$(grep -c "^ok rangecheck .*: link closed" "$D_DIR/out")
	echo "$bad out-of-range HELLOs"
	[ "$bad" -ge 14 ]
	pyjson "$D_CTL" 'd["stats"]["protocol_errors"] == '"$bad"' and d["stats"]["auth_failures"] == 2' status
	stop_daemon
}
run net-sec-rangecheck t_net_sec_rangecheck

# Secure mode: one flipped bit in a header record, a header tag, a payload
# record, a payload tag, or the first sealed frame closes the link (bad_tag);
# so do a CRC in a sealed header and a CRC frame where a sealed one belongs.
# An unflipped link delivers its message to the entity.
t_net_sec_flip() {
	need_crypto
	start_daemon flip --set auth.mode=secure
	"$T" server osd.flip 1 >"$D_DIR/flip.out" 2>&1 &
	local srv=$! sink
	"$T" server osd.sink -1 >"$D_DIR/sink.out" 2>&1 &
	sink=$!
	wait_line "$D_DIR/flip.out" ready
	wait_line "$D_DIR/sink.out" ready
	python3 "$WP" 127.0.0.1 "$D_PORT" secure-flip osd.flip osd.sink --keyring "$KEYRING"
	wait $srv || { cat "$D_DIR/flip.out"; return 1; }
	grep -q "ok reset" "$D_DIR/flip.out" # its one good message, then RESET
	kill "$sink"
	pyjson "$D_CTL" 'd["stats"]["bad_tag"] == 6 and d["stats"]["bad_tag"] + d["stats"]["bad_type"] + d["stats"]["bad_header_crc"] == 7 and d["stats"]["msgs_net_in"] == 1' status
	grep -q "a sealed record does not authenticate" "$D_LOG"
	stop_daemon
}
run net-sec-secure-flip t_net_sec_flip

# A secure daemon and an hmac one refuse each other, whichever dials, and
# both logs say which mode each runs.
t_net_sec_mixed() {
	start_daemon mixed-h
	local h_addr=$D_ADDR h_log=$D_LOG h_ctl=$D_CTL h_pid=$D_PID h_sock=$D_SOCK
	start_daemon mixed-s --set auth.mode=secure
	"$T" connect-fail "$h_addr/osd.none" 5000 | tee "$D_DIR/out1"
	grep -q "Permission denied" "$D_DIR/out1"
	MSGR_SOCKET=$h_sock "$T" connect-fail "$D_ADDR/osd.none" 5000 | tee "$D_DIR/out2"
	grep -q "Permission denied" "$D_DIR/out2"
	wait_line "$h_log" "authentication failed: the peer runs with auth.mode = secure and we with hmac"
	wait_line "$D_LOG" "authentication failed: the peer runs with auth.mode = hmac and we with secure"
	pyjson "$h_ctl" 'd["stats"]["auth_failures"] >= 2' status
	pyjson "$D_CTL" 'd["stats"]["auth_failures"] >= 2' status
	stop_daemon
	D_PID=$h_pid D_LOG=$h_log; stop_daemon
}
run net-sec-secure-refuses-hmac t_net_sec_mixed

# Two secure daemons carry the same traffic as two hmac ones, and nothing
# fails to authenticate.
t_net_sec_pair() {
	start_pair sec --set auth.mode=secure
	"$T" local lossy
	"$T" pingpong-pair 1
	pyjson "$A_CTL" 'len(d) == 1 and d[0]["state"] == "up" and d[0]["links_up"] == 1' sessions
	pyjson "$A_CTL" 'd["stats"]["msgs_net_out"] > 1000 and d["stats"]["msgs_net_in"] > 100' status
	local c
	for c in "$A_CTL" "$B_CTL"; do
		pyjson "$c" 'd["stats"]["bad_tag"] == 0 and d["stats"]["auth_failures"] == 0 and d["stats"]["protocol_errors"] == 0 and d["stats"]["link_errors"] == 0' status
	done
	stop_pair
}
run net-sec-secure-pair t_net_sec_pair

# One source (127.0.0.3) opens 80 silent links: 8 may wait in their
# handshake, 72 are refused at once. Meanwhile a real daemon, from
# 127.0.0.1, still gets its session. Then ten sources hold the 64 slots
# there are in all.
t_net_sec_flood() {
	start_pair flood --set net.handshake_timeout=20s
	python3 "$WP" 127.0.0.1 "$A_PORT" idle 80 8 --bind 127.0.0.3 --hold 15 >"$A_DIR/idle.out" 2>&1 &
	local idle=$!
	wait_line "$A_DIR/idle.out" holding
	cat "$A_DIR/idle.out"
	pyjson "$A_CTL" 'd["stats"]["links_refused"] == 72' status
	# B dials A while the flood holds its slots
	MSGR_SOCKET=$B_SOCK ITEST_PEER_SOCKET=$A_SOCK "$T" pingpong-pair 1
	pyjson "$A_CTL" 'len(d) == 1 and d[0]["peer"] == "'"$B_ADDR"'" and d[0]["links"][0]["direction"] == "in"' sessions
	kill -0 $idle # still holding
	kill $idle
	wait $idle || true
	# the flood's links are gone once A has read their EOF
	for _ in $(seq 100); do [ "$(links_on "$A_PORT")" -le 1 ] && break; sleep 0.05; done
	python3 "$WP" 127.0.0.1 "$A_PORT" idle 9 64 --hold 15 \
		--bind 127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9,127.0.0.10,127.0.0.11,127.0.0.12 \
		>"$A_DIR/idle2.out" 2>&1 &
	idle=$!
	wait_line "$A_DIR/idle2.out" holding
	pyjson "$A_CTL" 'd["stats"]["links_refused"] == 72 + 26' status
	# every slot is a stranger's now; B brought a link up before, so when
	# its link dies and it dials again, it is let in all the same
	ss -K dst 127.0.0.1 sport = :"$A_PORT" >/dev/null
	MSGR_SOCKET=$B_SOCK ITEST_PEER_SOCKET=$A_SOCK "$T" pingpong-pair 1
	pyjson "$A_CTL" 'len(d) == 1 and d[0]["state"] == "up" and d[0]["links"][0]["direction"] == "in"' sessions
	pyjson "$A_CTL" 'd["stats"]["links_refused"] == 72 + 26 and d["stats"]["link_errors"] >= 1' status
	kill -0 $idle # still holding
	kill $idle
	wait $idle || true
	stop_pair
}
run net-sec-handshake-flood t_net_sec_flood

# Key rotation: A (key K1, next K2) and B (key K2, next K1) talk, in hmac
# and in secure mode (where the dialler's proving key is the HKDF input),
# and so does wirepeer with B's keyring. A (K1 only) and B (K2, next K1):
# B proves with K2, and A refuses it, whichever side dials.
t_net_sec_rotation() {
	need_crypto
	local k1 k2 ka=$RUN/rot-a.keyring kb=$RUN/rot-b.keyring k1only=$RUN/rot-k1.keyring
	k1=$(hexkey) k2=$(hexkey)
	keyring "$ka" "$k1" "$k2"
	keyring "$kb" "$k2" "$k1"
	keyring "$k1only" "$k1"
	local mode
	for mode in hmac secure; do
		start_daemon "rot-$mode-a" --set auth.keyring="$ka" --set auth.mode="$mode"
		A_SOCK=$D_SOCK A_CTL=$D_CTL A_PORT=$D_PORT A_ADDR=$D_ADDR A_PID=$D_PID A_LOG=$D_LOG A_DIR=$D_DIR
		start_daemon "rot-$mode-b" --set auth.keyring="$kb" --set auth.mode="$mode"
		B_SOCK=$D_SOCK B_CTL=$D_CTL B_PORT=$D_PORT B_ADDR=$D_ADDR B_PID=$D_PID B_LOG=$D_LOG B_DIR=$D_DIR
		if [ $mode = hmac ]; then # A dials
			MSGR_SOCKET=$A_SOCK ITEST_PEER_SOCKET=$B_SOCK "$T" pingpong-pair 1
		else # B dials
			MSGR_SOCKET=$B_SOCK ITEST_PEER_SOCKET=$A_SOCK "$T" pingpong-pair 1
		fi
		python3 "$WP" 127.0.0.1 "$A_PORT" tamper none --mode "$mode" --keyring "$kb"
		python3 "$WP" 127.0.0.1 "$B_PORT" tamper none --mode "$mode" --keyring "$ka"
		pyjson "$A_CTL" 'd["stats"]["auth_failures"] == 0 and d["stats"]["bad_tag"] == 0' status
		pyjson "$B_CTL" 'd["stats"]["auth_failures"] == 0 and d["stats"]["bad_tag"] == 0' status
		stop_pair
	done
	start_daemon rot-old-a --set auth.keyring="$k1only"
	A_SOCK=$D_SOCK A_CTL=$D_CTL A_ADDR=$D_ADDR A_PID=$D_PID A_LOG=$D_LOG A_DIR=$D_DIR
	start_daemon rot-old-b --set auth.keyring="$kb"
	B_SOCK=$D_SOCK B_CTL=$D_CTL B_ADDR=$D_ADDR B_PID=$D_PID B_LOG=$D_LOG B_DIR=$D_DIR
	# A dials: B takes A's K1 proof, A refuses B's K2 proof
	MSGR_SOCKET=$A_SOCK "$T" connect-fail "$B_ADDR/osd.none" 5000 | grep -q "Permission denied"
	wait_line "$A_LOG" "authentication failed: the peer's proof does not match"
	wait_line "$B_LOG" "the peer refused us"
	# B dials: A refuses B's K2 proof at once
	MSGR_SOCKET=$B_SOCK "$T" connect-fail "$A_ADDR/osd.none" 5000 | grep -q "Permission denied"
	[ "$(grep -c "authentication failed: the peer's proof does not match" "$A_LOG")" -ge 2 ]
	! grep -q "authentication failed" "$B_LOG" # B never refused anything
	stop_pair
}
run net-sec-key-rotation t_net_sec_rotation

# msgrd as the dialler, wirepeer as the acceptor: the daemon proves only
# once it has our whole HELLO, with the dialler's proof; its frames after
# that open with the spec's keys; an AUTH that reflects the dialler's role,
# or an AUTH_DONE from the acceptor, is refused; an acceptor's HELLO out of
# range (window 2^61, a link id) closes the link before the daemon proves.
t_net_sec_dialler() {
	local mode=$1 port c acc
	[ "$mode" = hmac ] || need_crypto
	start_daemon "dialler-$mode" --set auth.mode="$mode"
	port=$(free_port 127.0.0.1)
	wp_dialled 127.0.0.1 "$port" "$D_DIR/good.out" "$D_DIR/hold.out" \
		accept good --mode "$mode" --keyring "$KEYRING"
	wait $WP_PID || { cat "$D_DIR/good.out"; return 1; }
	cat "$D_DIR/good.out"
	wait_line "$D_DIR/hold.out" ready
	kill $HOLD_PID
	for c in reflect authdone; do
		python3 "$WP" 127.0.0.1 "$port" accept $c --mode "$mode" --keyring "$KEYRING" >"$D_DIR/$c.out" 2>&1 &
		acc=$!
		wait_line "$D_DIR/$c.out" listening
		"$T" connect-fail "127.0.0.1:$port/osd.w" 5000 | grep -q "Permission denied"
		wait $acc || { cat "$D_DIR/$c.out"; return 1; }
		cat "$D_DIR/$c.out"
	done
	pyjson "$D_CTL" 'd["stats"]["auth_failures"] == 2' status
	grep -q "authentication failed: the peer's proof does not match" "$D_LOG"
	# an acceptor's HELLO out of range: closed as a protocol error, unproven
	for c in window linkid; do
		python3 "$WP" 127.0.0.1 "$port" accept $c --mode "$mode" --keyring "$KEYRING" >"$D_DIR/$c.out" 2>&1 &
		acc=$!
		wait_line "$D_DIR/$c.out" listening
		"$T" connect-fail "127.0.0.1:$port/osd.w" 5000 >"$D_DIR/$c.cf" 2>&1
		wait $acc || { cat "$D_DIR/$c.out"; return 1; }
		cat "$D_DIR/$c.out" "$D_DIR/$c.cf"
	done
	pyjson "$D_CTL" 'd["stats"]["protocol_errors"] == 2 and d["stats"]["auth_failures"] == 2' status
	stop_daemon
}
run net-sec-dialler-hmac t_net_sec_dialler hmac
run net-sec-dialler-secure t_net_sec_dialler secure
