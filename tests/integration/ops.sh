# Operations: the control socket (Ceph admin-socket protocol, Ceph's own
# CLI), run-time configuration, SIGHUP, fault injection, keygen, metrics,
# and who may use the control socket.

t_ceph_cli() {
	command -v ceph >/dev/null || { echo "SKIP ceph-common is not installed (make deps installs it)"; return 0; }
	start_daemon ceph
	"$T" server osd.ceph -1 >"$D_DIR/srv.out" 2>&1 &
	wait_line "$D_DIR/srv.out" ready
	ceph daemon "$D_CTL" help >"$D_DIR/help.json"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert "status" in d and "conns" in d and "config set <key> <value>" in d, d' "$D_DIR/help.json"
	ceph daemon "$D_CTL" status | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d["clients"] == 1, d'
	ceph daemon "$D_CTL" conns | python3 -c 'import json,sys; assert json.load(sys.stdin) == []'
	"$T" hold client.c "127.0.0.1:$D_PORT/osd.ceph" >"$D_DIR/hold.out" 2>&1 &
	wait_line "$D_DIR/hold.out" ready
	ceph daemon "$D_CTL" conns | python3 -c '
import json,sys
d = json.load(sys.stdin)
assert sorted(c["entity"] for c in d) == ["client.c", "osd.ceph"], d
assert all(c["mode"] == "lossless" and c["state"] == "open" for c in d), d'
	ceph daemon "$D_CTL" config set global.poll_us 9 | grep -q 'global.poll_us = 9 (was 0)'
	ceph daemon "$D_CTL" config get global.poll_us | grep -q '"global.poll_us": "9"'
	stop_daemon
}

t_config_live() {
	start_daemon live
	"$BIN/msgrctl" config get global.poll_us | grep -q ' 0$'
	"$BIN/msgrctl" config set global.poll_us 25 | grep -q 'global.poll_us = 25 (was 0)'
	"$BIN/msgrctl" --json config get global.poll_us | grep -q '"global.poll_us": "25"'
	expect_exit 1 "$BIN/msgrctl" config set global.poll_us many 2>"$D_DIR/err"
	grep -q "is not a number" "$D_DIR/err"
	expect_exit 1 "$BIN/msgrctl" config set global.listen 10.0.0.1:1 2>"$D_DIR/err"
	grep -q "cannot change while msgrd runs" "$D_DIR/err"
	expect_exit 1 "$BIN/msgrctl" config get global.nope 2>"$D_DIR/err"
	grep -q "unknown key 'global.nope'" "$D_DIR/err"
	expect_exit 2 "$BIN/msgrctl" config set global.poll_us
	"$BIN/msgrctl" log level | grep -q info
	"$BIN/msgrctl" log level debug | grep -q debug
	expect_exit 1 "$BIN/msgrctl" log level loud
	grep -q 'config set: global.poll_us = 25 (was 0)' "$D_LOG"
	# the new poll_us is used: the daemon still delivers
	"$T" errors >/dev/null
	stop_daemon
}

t_sighup() {
	local conf=$RUN/hup.conf
	printf '[global]\npoll_us = 1\n' >"$conf"
	start_daemon hup -c "$conf" --set global.log_level=notice
	printf '[global]\npoll_us = 7\nlog_level = debug\nmax_clients = 5\n[auth]\nmode = none\n' >"$conf"
	kill -HUP "$D_PID"
	wait_line "$D_LOG" 'reload: global.poll_us = 7 (was 1)'
	grep -q 'reload: global.max_clients = 5 (was 1024)' "$D_LOG"
	grep -q 'auth.mode changed to none but takes effect only after a restart' "$D_LOG"
	"$BIN/msgrctl" config get global.log_level | grep -q notice   # --set still wins
	"$BIN/msgrctl" config get auth.mode | grep -q hmac
	printf '[global]\npoll_us = fast\n' >"$conf"
	kill -HUP "$D_PID"
	wait_line "$D_LOG" "hup.conf:2: global.poll_us: 'fast' is not a number; keeping the running configuration"
	"$BIN/msgrctl" config get global.poll_us | grep -q ' 7$'
	"$T" errors >/dev/null
	stop_daemon
}

t_inject() {
	start_daemon inject
	"$T" wait-lost client.victim >"$D_DIR/v.out" 2>&1 &
	wait_line "$D_DIR/v.out" ready
	expect_exit 1 "$BIN/msgrctl" inject detach client.victim 2>"$D_DIR/err"
	grep -q "fault injection is disabled" "$D_DIR/err"
	"$BIN/msgrctl" config set global.inject true
	expect_exit 1 "$BIN/msgrctl" inject detach client.nobody 2>"$D_DIR/err"
	grep -q "no attached entity 'client.nobody'" "$D_DIR/err"
	"$BIN/msgrctl" inject detach client.victim
	wait_line "$D_DIR/v.out" "ok lost"
	grep -q 'client.victim .*detached: fault injection' "$D_LOG"
	"$BIN/msgrctl" --json clients | python3 -c 'import json,sys; d=json.load(sys.stdin); assert all(c["entity"] != "client.victim" for c in d), d'
	stop_daemon
}

t_keygen() {
	local k=$RUN/keyring
	"$BIN/msgrctl" keygen "$k"
	[ "$(stat -c %a "$k")" = 600 ]
	grep -qE '^key = [0-9a-f]{64}$' "$k"
	grep -qx '\[cluster\]' "$k"
	local first; first=$(cat "$k")
	expect_exit 1 "$BIN/msgrctl" keygen "$k" 2>"$RUN/err"
	grep -q 'use --force' "$RUN/err"
	[ "$(cat "$k")" = "$first" ]
	chmod 644 "$k"
	"$BIN/msgrctl" keygen "$k" --force
	[ "$(stat -c %a "$k")" = 600 ]
	[ "$(cat "$k")" != "$first" ]
	expect_exit 2 "$BIN/msgrctl" keygen
	"$BIN/msgrctl" keygen "$k" --force --group "$(id -gn)"
	[ "$(stat -c %a "$k")" = 640 ]
	expect_exit 2 "$BIN/msgrctl" keygen "$k" --force --group no-such-group-here
}

t_metrics() {
	start_daemon metrics
	"$T" server osd.m -1 >"$D_DIR/srv.out" 2>&1 &
	wait_line "$D_DIR/srv.out" ready
	"$BIN/msgrctl" metrics >"$D_DIR/m.prom"
	# every sample line is NAME VALUE, named after a TYPE line
	python3 - "$D_DIR/m.prom" <<'PY'
import re, sys
types = {}
samples = {}
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split(" ")
        types[name] = kind
    elif line.startswith("# HELP ") or not line:
        continue
    else:
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*) ([0-9]+)", line)
        assert m, line
        samples[m.group(1)] = int(m.group(2))
assert set(samples) == set(types), (samples, types)
assert samples["msgrd_clients"] == 1 and types["msgrd_clients"] == "gauge", samples
assert samples["msgrd_attaches_total"] == 1 and types["msgrd_attaches_total"] == "counter"
PY
	"$BIN/msgrctl" --json perf dump | python3 -c 'import json,sys; d=json.load(sys.stdin)["msgrd"]; assert d["clients"]==1, d'
	stop_daemon
}

# Only root, msgrd's user and msgrd's group may use the control socket.
t_ctl_permissions() {
	[ "$(id -u)" = 0 ] || { echo "SKIP needs root to run msgrctl as another user"; return 0; }
	command -v setpriv >/dev/null || { echo "SKIP setpriv (util-linux) missing"; return 0; }
	start_daemon perms
	[ "$(stat -c %a "$D_CTL")" = 660 ]
	chmod 755 "$RUN" "$D_DIR"
	as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	expect_exit 3 as_nobody "$BIN/msgrctl" -s "$D_CTL" status 2>/dev/null  # mode 0660
	# loosened by mistake: SO_PEERCRED still refuses
	chmod 666 "$D_CTL"
	expect_exit 1 as_nobody "$BIN/msgrctl" -s "$D_CTL" status 2>"$D_DIR/err"
	grep -q 'permission denied' "$D_DIR/err"
	grep -q 'control socket: refused pid' "$D_LOG"
	# a member of msgrd's group (root's group here) is let in
	setpriv --reuid=65534 --regid=65534 --groups=0 "$BIN/msgrctl" -s "$D_CTL" status >/dev/null
	stop_daemon
}

run ceph-cli-admin-socket t_ceph_cli
run config-get-set-live t_config_live
run sighup-reload t_sighup
run inject-detach t_inject
run keygen t_keygen
run metrics-prometheus t_metrics
run ctl-socket-permissions t_ctl_permissions

# systemd's side, without systemd: a notify socket of our own collects
# READY, STATUS, WATCHDOG and RELOADING; JOURNAL_STREAM gives <N> prefixes.
t_sd_notify() {
	local dir=$RUN/notify; mkdir -p "$dir"
	python3 - "$dir/notify.sock" "$dir/got" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1]); s.settimeout(0.2)
end = time.time() + 6
with open(sys.argv[2], "w", buffering=1) as out:
    while time.time() < end:
        try:
            out.write(s.recv(4096).decode().replace("\n", "|") + "\n")
        except socket.timeout:
            pass
PY
	local py=$!
	for _ in $(seq 50); do [ -S "$dir/notify.sock" ] && break; sleep 0.05; done
	NOTIFY_SOCKET=$dir/notify.sock WATCHDOG_USEC=200000 JOURNAL_STREAM=8:1 \
		start_daemon notify
	wait_line "$RUN/notify/got" 'READY=1'
	grep -q 'STATUS=serving 127.0.0.1:.*, 0 clients attached' "$dir/got"
	sleep 0.5
	[ "$(grep -c 'WATCHDOG=1' "$dir/got")" -ge 3 ] || { cat "$dir/got"; return 1; }
	kill -HUP "$D_PID"
	wait_line "$dir/got" 'RELOADING=1'
	grep -q '^<5>msgrd .* ready: ' "$D_LOG"
	grep -q '^<5>reload: (no file): nothing changed' "$D_LOG"
	if grep -qE '^[0-9]{2}:[0-9]{2}' "$D_LOG"; then
		echo "timestamps in journal mode: the journal adds its own"; return 1
	fi
	stop_daemon
	kill $py 2>/dev/null || true
}
run sd-notify-and-journal t_sd_notify
