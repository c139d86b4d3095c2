# Monitoring that plugs in (issue 13): GET /metrics over HTTP for
# Prometheus, Ceph's perf/counter schema and dump, config diff and help,
# JSON numbers without float noise, the log file and logrotate, and
# structured journal fields. Sourced by tests/run-integration.sh.

# prom_parses FILE: Prometheus text that Debian's python3-prometheus-client
# parser reads.
prom_parses() {
	/usr/bin/python3 - "$1" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = {f.name: f for f in text_string_to_metric_families(open(sys.argv[1]).read())}
assert fams, "no metrics"
PY
}

# check_prom FILE: msgrd's own metrics, linted by promtool (installed, or
# the one make deps unpacks from Debian's prometheus package into
# $BUILD/tools) as well as parsed.
check_prom() {
	local promtool
	promtool=$(command -v promtool || ls "$BUILD/tools/promtool" "$BUILD/../tools/promtool" 2>/dev/null | head -1)
	if [ -n "$promtool" ] && [ -x "$promtool" ]; then
		"$promtool" check metrics <"$1" || { echo "promtool check metrics failed"; return 1; }
	else
		echo "no promtool (make deps could not fetch it): checking with python3-prometheus-client's parser only"
	fi
	prom_parses "$1"
}

# start_pair_a NAME ARGS...: start_pair with ARGS for daemon A only (two
# daemons cannot share one metrics port)
start_pair_a() {
	local name=$1; shift
	start_daemon "$name-a" "$@"
	A_SOCK=$D_SOCK A_CTL=$D_CTL A_PORT=$D_PORT A_ADDR=$D_ADDR A_PID=$D_PID A_LOG=$D_LOG A_DIR=$D_DIR
	start_daemon "$name-b"
	B_SOCK=$D_SOCK B_CTL=$D_CTL B_PORT=$D_PORT B_ADDR=$D_ADDR B_PID=$D_PID B_LOG=$D_LOG B_DIR=$D_DIR
	# no ITEST_PEER_SOCKET: each entity attaches where MSGR_SOCKET says
	export MSGR_SOCKET=$A_SOCK MSGR_CTL_SOCKET=$A_CTL
}

t_metrics_http() {
	local mp; mp=$(free_port)
	start_pair_a mhttp --set global.metrics_listen=127.0.0.1:$mp
	"$T" server osd.m -1 >"$A_DIR/srv.out" 2>&1 &
	wait_line "$A_DIR/srv.out" ready
	MSGR_SOCKET=$B_SOCK "$T" hold client.h "$A_ADDR/osd.m" >"$B_DIR/hold.out" 2>&1 &
	wait_line "$B_DIR/hold.out" ready
	pyjson "$A_CTL" 'len(d) == 1 and d[0]["state"] == "up"' sessions
	curl -sS -D "$A_DIR/h" "http://127.0.0.1:$mp/metrics" >"$A_DIR/m.prom"
	grep -qi '^content-type: text/plain; version=0.0.4' "$A_DIR/h"
	check_prom "$A_DIR/m.prom"
	/usr/bin/python3 - "$A_DIR/m.prom" "$B_ADDR" <<'PY'
import sys, time
from prometheus_client.parser import text_string_to_metric_families
peer = sys.argv[2]
s = {}
for f in text_string_to_metric_families(open(sys.argv[1]).read()):
    for x in f.samples:
        s[(x.name, tuple(sorted(x.labels.items())))] = x.value
def get(name, **labels):
    return s[(name, tuple(sorted(labels.items())))]
assert get("msgrd_build_info", version="0.1.0") == 1
assert abs(get("process_start_time_seconds") - time.time()) < 120, get("process_start_time_seconds")
assert get("msgrd_clients") == 1
assert get("msgrd_attaches_total") == 1
# per peer, by label
assert get("msgrd_session_state", peer=peer, state="up") == 1
assert get("msgrd_session_state", peer=peer, state="idle") == 0
assert 0 < get("msgrd_session_rtt_seconds", peer=peer) < 1
assert get("msgrd_session_sent_bytes_total", peer=peer) > 0
assert get("msgrd_session_received_bytes_total", peer=peer) > 0
assert get("msgrd_session_channels", peer=peer) == 1
# close reasons: one family with a reason label, not a metric per reason
assert get("msgrd_link_closes_total", reason="bad_banner") == 0
assert get("msgrd_link_closes_total", reason="keepalive_timeout") == 0
assert not any(n in ("msgrd_bad_banner_total", "msgrd_keepalive_timeouts_total") for n, _ in s), "per-reason metrics"
PY
	# msgrctl metrics is the same text
	"$BIN/msgrctl" metrics | grep -q "^msgrd_session_state{peer=\"$B_ADDR\",state=\"up\"} 1$"
	# perf dump keeps its flat names
	pyjson "$A_CTL" 'd["msgrd"]["bad_banner"] == 0 and d["msgrd"]["keepalive_timeouts"] == 0 and d["msgrd"]["clients"] == 1' perf dump
	# HEAD is served; anything else is refused with a clear status
	[ "$(curl -sS -o /dev/null -w '%{http_code}' -I "http://127.0.0.1:$mp/metrics")" = 200 ]
	[ "$(curl -sS -o /dev/null -w '%{http_code}' -X POST -d x=1 "http://127.0.0.1:$mp/metrics")" = 405 ]
	curl -sS -D - -o /dev/null -X DELETE "http://127.0.0.1:$mp/metrics" | grep -qi '^allow: GET, HEAD'
	[ "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mp/")" = 404 ]
	[ "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$mp/metrics/../etc/passwd")" = 404 ]
	# bounded: a header past the per-connection memory limit is refused
	local code; code=$(curl -sS -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 40000 /dev/zero | tr '\0' a)" \
		"http://127.0.0.1:$mp/metrics" || true)
	case "$code" in 4??) ;; *) echo "a 40 KB header got $code"; return 1 ;; esac
	# not HTTP at all, then a half request left open: the daemon goes on
	printf 'garbage\r\n\r\n' | timeout 5 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.sendall(sys.stdin.buffer.read())
print(s.recv(100).split(b"\r\n")[0].decode())' "$mp" | grep -qE '^(HTTP/1.1 4[0-9][0-9] .*)?$'   # refused or closed
	python3 -c 'import socket,sys,time; s=socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.sendall(b"GET /met"); print("sent", flush=True); time.sleep(30)' "$mp" >"$A_DIR/half.out" 2>&1 &
	local half=$!
	wait_line "$A_DIR/half.out" sent
	for _ in 1 2 3 4 5; do curl -sfS --max-time 5 "http://127.0.0.1:$mp/metrics" | grep -q '^msgrd_clients 1$'; done
	kill $half; wait $half 2>/dev/null || true
	pyjson "$A_CTL" 'd["clients"] == 1' status
	stop_pair
}
run metrics-http-prometheus t_metrics_http

# Bind errors and bad values are configuration errors: exit 2, naming the key.
t_metrics_listen_errors() {
	local mp out rc; mp=$(free_port)
	python3 -c 'import socket,sys,time; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); print("bound", flush=True); time.sleep(30)' "$mp" >"$RUN/mle.holder" 2>&1 &
	local holder=$!
	wait_line "$RUN/mle.holder" bound
	# a msgrd that did start would not exit: the timeout ends it (rc 124)
	rc=0; out=$(timeout 10 "$BIN/msgrd" --set global.metrics_listen=127.0.0.1:$mp --set auth.mode=none \
		--set global.socket="$RUN/mle.sock" --set global.ctl_socket="$RUN/mle.asok" 2>&1) || rc=$?
	kill $holder 2>/dev/null || true
	[ "$rc" = 2 ] || { echo "exit $rc: $out"; return 1; }
	echo "$out" | grep -q "global.metrics_listen = 127.0.0.1:$mp: cannot listen there: Address already in use"
	[ ! -e "$RUN/mle.sock" ]   # refused before anything else was up
	rc=0; out=$(timeout 10 "$BIN/msgrd" --set global.metrics_listen=nohost 2>&1) || rc=$?
	[ "$rc" = 2 ] || { echo "exit $rc: $out"; return 1; }
	echo "$out" | grep -q "global.metrics_listen: 'nohost' is not HOST:PORT"
	# an address this host does not have (TEST-NET-1: no packet is sent)
	rc=0; out=$(timeout 10 "$BIN/msgrd" --set global.metrics_listen=192.0.2.1:9100 --set auth.mode=none \
		--set global.socket="$RUN/mle.sock" --set global.ctl_socket="$RUN/mle.asok" 2>&1) || rc=$?
	[ "$rc" = 2 ] || { echo "exit $rc: $out"; return 1; }
	echo "$out" | grep -q "global.metrics_listen = 192.0.2.1:9100: cannot listen there: Cannot assign requested address"
	# off by default
	start_daemon mloff
	pyjson "$D_CTL" 'd["global.metrics_listen"] == ""' config get global.metrics_listen
	stop_daemon
}
run metrics-listen-errors t_metrics_listen_errors

# ceph daemon parity: perf schema, counter dump/schema in ceph-exporter's
# form (checked against a stored sample of Ceph's documented form first),
# config diff, config help, log flush/reopen.
t_ceph_parity() {
	local dir; dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	start_pair parity --set global.poll_us=7
	MSGR_SOCKET=$B_SOCK "$T" server osd.p -1 >"$B_DIR/srv.out" 2>&1 &
	wait_line "$B_DIR/srv.out" ready
	"$T" hold client.p "$B_ADDR/osd.p" >"$A_DIR/hold.out" 2>&1 &
	wait_line "$A_DIR/hold.out" ready
	/usr/bin/python3 "$dir/ceph-counters.py" "$dir/data/ceph-counters-sample.json" >"$A_DIR/sample.prom"
	# what ceph-exporter would make of them carries Ceph's names, which
	# promtool's naming lint refuses (Ceph's own exporter output too): parsed only
	prom_parses "$A_DIR/sample.prom"
	"$BIN/msgrctl" --json counter schema >"$A_DIR/schema.json"
	"$BIN/msgrctl" --json counter dump >"$A_DIR/dump.json"
	/usr/bin/python3 "$dir/ceph-counters.py" "$A_DIR/schema.json" "$A_DIR/dump.json" >"$A_DIR/exporter.prom"
	prom_parses "$A_DIR/exporter.prom"
	grep -q "^ceph_msgrd_peer_bytes_out{ceph_daemon=\"msgrd\",peer=\"$B_ADDR\"} [1-9]" "$A_DIR/exporter.prom"
	grep -q '^ceph_msgrd_link_close_links{ceph_daemon="msgrd",reason="bad_banner"} 0$' "$A_DIR/exporter.prom"
	grep -q '^ceph_msgrd_attaches{ceph_daemon="msgrd"} 1$' "$A_DIR/exporter.prom"
	# perf schema: Ceph's flat form, one entry per perf dump counter
	"$BIN/msgrctl" --json perf schema >"$A_DIR/pschema.json"
	"$BIN/msgrctl" --json perf dump >"$A_DIR/pdump.json"
	python3 - "$A_DIR/pschema.json" "$A_DIR/pdump.json" <<'PY'
import json, sys
s, d = json.load(open(sys.argv[1]))["msgrd"], json.load(open(sys.argv[2]))["msgrd"]
assert set(s) == set(d), set(s) ^ set(d)
assert s["attaches"]["type"] == 10 and s["attaches"]["metric_type"] == "counter", s["attaches"]
assert s["clients"]["type"] == 2 and s["clients"]["metric_type"] == "gauge", s["clients"]
assert s["bytes_local"]["units"] == "bytes" and s["clients"]["units"] == "none"
assert all(e["description"] and e["value_type"] == "integer" for e in s.values())
PY
	# config diff: what differs from the defaults, with both values
	pyjson "$A_CTL" 'd["diff"]["global.poll_us"] == {"default": "0", "final": "7"} and "global.max_clients" not in d["diff"]' config diff
	"$BIN/msgrctl" config set global.max_clients 77 >/dev/null
	pyjson "$A_CTL" 'd["diff"]["global.max_clients"]["final"] == "77"' config diff
	# config help: one key, with its default and whether it is live
	pyjson "$A_CTL" 'd["name"] == "global.poll_us" and d["default"] == "0" and d["value"] == "7" and d["can_update_at_runtime"] is True and d["desc"]' config help global.poll_us
	pyjson "$A_CTL" 'd["can_update_at_runtime"] is False' config help global.metrics_listen
	# and its type and range in units (msgr__conf_key_help)
	pyjson "$A_CTL" 'd["long_desc"].startswith("size") and "64K..1G" in d["long_desc"]' config help global.pool_size
	expect_exit 1 "$BIN/msgrctl" config help global.nope 2>"$A_DIR/err"
	grep -q "unknown key 'global.nope'" "$A_DIR/err"
	# every key of the table has a description (a new key needs one)
	"$BIN/msgrctl" --json config show | python3 -c '
import json, subprocess, sys
keys = [k for k in json.load(sys.stdin) if not k.startswith("policy.")]
assert len(keys) > 20, keys
for k in keys:
    h = json.loads(subprocess.run([sys.argv[1], "--json", "config", "help", k], check=True,
                                  capture_output=True, text=True, timeout=10).stdout)
    assert h["name"] == k and h["desc"], f"config help {k}: no description: {h}"' "$BIN/msgrctl"
	# log flush and log reopen answer, with and without a log file
	pyjson "$A_CTL" 'd == {}' log flush
	"$BIN/msgrctl" log reopen | grep -q 'no log file'
	if command -v ceph >/dev/null; then
		ceph daemon "$A_CTL" counter schema >/dev/null
		ceph daemon "$A_CTL" config help global.poll_us | grep -q '"can_update_at_runtime": true'
	fi
	stop_pair
}
run ceph-parity-counters-config-log t_ceph_parity

# JSON numbers as the figure was, not with float noise; clients, conns and
# sessions name the same figures the same way.
t_json_numbers() {
	start_pair jnum
	MSGR_SOCKET=$B_SOCK "$T" server osd.j -1 >"$B_DIR/srv.out" 2>&1 &
	wait_line "$B_DIR/srv.out" ready
	"$T" hold client.j "$B_ADDR/osd.j" >"$A_DIR/hold.out" 2>&1 &
	wait_line "$A_DIR/hold.out" ready
	# until the link has measured its rtt (a keepalive round trip)
	local i
	for i in $(seq 300); do
		"$BIN/msgrctl" --json sessions | grep -qE '"rtt_us": ([1-9]|0\.[0-9]*[1-9])' && break
		sleep 0.05
	done
	[ "$i" -lt 300 ] || { echo "no rtt measured in 15 s"; "$BIN/msgrctl" --json sessions; return 1; }
	for c in status clients conns sessions; do "$BIN/msgrctl" --json $c; done >"$A_DIR/all.json"
	python3 - "$A_DIR/all.json" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
reals = re.findall(r'"(\w+)": (-?[0-9]+\.[0-9eE+-]+)', text)
assert any(k == "rtt_us" for k, _ in reals), "no rtt_us"
for k, v in reals:
    digits = re.sub(r"[^0-9]", "", v.split("e")[0].split("E")[0]).lstrip("0")
    assert len(digits) <= 15, f"{k}: {v} has float noise"
PY
	pyjson "$A_CTL" 'all(k in d[0] for k in ("msgs_out", "msgs_in", "bytes_out", "bytes_in", "rx_pool_used_bytes", "outbox_events", "age_s")) and not any(k in d[0] for k in ("bytes_sent", "bytes_recv", "rx_pool_used", "outbox"))' clients
	pyjson "$A_CTL" 'all(k in d[0] for k in ("msgs_out", "msgs_in", "bytes_out", "bytes_in", "age_s"))' conns
	pyjson "$A_CTL" 'all(k in d[0]["links"][0] for k in ("bytes_out", "bytes_in", "rtt_us")) and "age_s" in d[0]' sessions
	"$BIN/msgrctl" clients | grep -q '^[0-9]* *client.j '
	stop_pair
}
run json-numbers-and-units t_json_numbers

# global.log_file: reopened on SIGHUP, on `log reopen`, and by the
# installed logrotate snippet's postrotate.
t_log_file() {
	local dir=$RUN/logf root; mkdir -p "$dir"
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	D_READY=$dir/msgrd.log start_daemon logf --set global.log_file="$dir/msgrd.log"
	! grep -q ' ready: ' "$D_LOG"   # the file, not stderr
	mv "$dir/msgrd.log" "$dir/msgrd.log.1"
	kill -HUP "$D_PID"
	wait_line "$dir/msgrd.log" 'reload: '
	mv "$dir/msgrd.log" "$dir/msgrd.log.2"
	"$BIN/msgrctl" log reopen | grep -q reopened
	"$BIN/msgrctl" config set global.log_level debug >/dev/null
	wait_line "$dir/msgrd.log" 'global.log_level = debug'
	! grep -q 'global.log_level = debug' "$dir/msgrd.log.2"
	"$BIN/msgrctl" --json log flush >/dev/null
	# a log file that cannot be opened: the daemon keeps the old one
	"$BIN/msgrctl" config set global.log_file /nonexistent/dir/x.log >/dev/null || true
	wait_line "$dir/msgrd.log" 'global.log_file /nonexistent/dir/x.log: No such file or directory'
	"$BIN/msgrctl" config set global.log_file "$dir/msgrd.log" >/dev/null
	# logrotate with the snippet make install writes, pointed at this daemon
	if command -v logrotate >/dev/null; then
		sed -e "s|/var/log/msgrd/\*.log|$dir/msgrd.log|" -e "s|@BINDIR@/msgrctl|MSGR_CTL_SOCKET=$D_CTL $BIN/msgrctl|" \
			-e '/^ *su /d' -e '/^ *create /d' "$root/conf/msgrd.logrotate.in" >"$dir/lr.conf"
		logrotate -s "$dir/lr.state" -f "$dir/lr.conf"
		[ -e "$dir/msgrd.log.1" ] || [ -e "$dir/msgrd.log.1.gz" ]
		"$BIN/msgrctl" config set global.log_level info >/dev/null
		wait_line "$dir/msgrd.log" 'global.log_level = info'
	else
		echo "logrotate not installed: its snippet not run (make deps installs it)"
	fi
	stop_daemon
}
run log-file-reopen-logrotate t_log_file

# Under systemd, lines go to the journal with ENTITY=, PEER= and CONN=.
# No systemd here: a journal socket of our own in a private mount
# namespace (over /run/systemd) collects what sd-journal sends.
t_journal_fields() {
	[ "$(id -u)" = 0 ] || { echo "SKIP needs root for a private mount namespace"; return 0; }
	command -v unshare >/dev/null || { echo "SKIP unshare not installed"; return 0; }
	local dir=$RUN/journal; mkdir -p "$dir"
	cat >"$dir/wrap.sh" <<'SH'
mount -t tmpfs tmpfs /run/systemd && mkdir -p /run/systemd/journal || exit 1
python3 - "$JOURNAL_OUT" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/run/systemd/journal/socket"); s.settimeout(0.2)
end = time.time() + 15
with open(sys.argv[1], "w", buffering=1) as out:
    while time.time() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        # the native protocol: FIELD=value lines (values here have no newline)
        out.write(" | ".join(d.decode().rstrip("\n").split("\n")) + "\n")
PY
for _ in $(seq 50); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
export JOURNAL_STREAM=8:1
exec "$@"
SH
	JOURNAL_OUT=$dir/got D_READY=$dir/got D_WRAP="unshare -m --propagation private bash $dir/wrap.sh" \
		start_daemon journal --set global.log_level=debug
	"$T" server osd.1 -1 >"$dir/srv.out" 2>&1 &
	wait_line "$dir/srv.out" ready
	"$T" hold client.jf "$D_ADDR/osd.1" >"$dir/hold.out" 2>&1 &
	wait_line "$dir/hold.out" ready
	wait_line "$dir/got" 'ENTITY=osd.1'
	grep 'ENTITY=osd.1' "$dir/got" | grep -q 'MESSAGE=client osd.1 attached'
	grep -q 'PRIORITY=6 | SYSLOG_IDENTIFIER=msgrd | ENTITY=osd.1 | MESSAGE=client osd.1 attached' "$dir/got"
	grep -q 'MESSAGE=msgrd .* ready: ' "$dir/got"
	kill "$(jobs -p | tail -1)" 2>/dev/null || true   # the hold: its connection resets
	wait_line "$dir/got" 'ENTITY=osd.1 | PEER=.*/client.jf | CONN=[0-9]'
	# nothing went to stderr but what the journal could not take
	! grep -q ' ready: ' "$D_LOG"
	stop_daemon
}
run journal-structured-fields t_journal_fields
