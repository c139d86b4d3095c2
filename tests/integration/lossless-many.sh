# Many lossless channels resumed after a link kill (issue 10: "10,000
# channels must resume quickly"; PROTOCOL.md 5a.4: the resume round lists
# every kept channel, 128 per RESUME frame). msgr-many (msgr-many.c)
# attaches MANY_C clients to daemon A and MANY_S servers to daemon B, each
# client connected to each server: MANY_C x MANY_S channels (default
# 100 x 100 = 10,000), one message each way on each; then, MANY_ROUNDS
# times, a message each way on every channel, `msgrctl inject kill-link`
# (A and B in turn) and another each way on every channel, measuring the
# time from the kill until perf dump counts every channel resumed on both
# daemons and until every channel delivered everything. Every message must
# arrive exactly once and in order, with no RESET or REMOTE_RESET, within
# MANY_BOUND_MS of the kill (default 20 s: generous, for a loaded 2-CPU
# machine; the figures are printed to the test's output, kept with KEEP=1).
# lossless-10k-resume-mix does the same, with two kills (one by each
# side), with every other channel in MSGR_PEER mode, where both daemons dial. Sourced by
# tests/run-integration.sh.
#
# The resumes counted before any kill (setup_resumes) are only printed
# (a session's first link starts no resume round, so they should be 0).
#
# 100 x 100 is what fits make check. The session's channel table is a fixed
# 1,024 buckets (hashed on id >> 1, as one side's ids share their low bit),
# so each frame walks ~N/1024 channels; a table that grows is issue 11's.

MANY=$BUILD/tests/msgr-many
MANY_C=${MANY_C:-100}
MANY_S=${MANY_S:-100}
MANY_ROUNDS=${MANY_ROUNDS:-3}

# many_run NAME MODE ROUNDS: the two daemons, msgr-many between them in
# MODE (lossless, peer or mix) with ROUNDS kills, and the checks of its JSON
# line and of both daemons' counters
many_run() {
	local name=$1 mode=$2 rounds=$3 out
	[ -x "$MANY" ] || { echo "SKIP: $MANY is not built (make $MANY)"; return 0; }
	start_daemon "$name-a" --set global.inject=true
	A_SOCK=$D_SOCK A_CTL=$D_CTL A_ADDR=$D_ADDR A_PID=$D_PID A_LOG=$D_LOG
	start_daemon "$name-b" --set global.inject=true
	B_SOCK=$D_SOCK B_CTL=$D_CTL B_ADDR=$D_ADDR B_PID=$D_PID B_LOG=$D_LOG
	unset MSGR_SOCKET MSGR_CTL_SOCKET
	out=$RUN/$name.many
	# timeout(1) is only the backstop: msgr-many keeps its own bounds (45 s
	# for setup, MANY_BOUND_MS per kill)
	MANY_MSGRCTL=$BIN/msgrctl MANY_MODE=$mode MANY_A_PID=$A_PID MANY_B_PID=$B_PID MANY_SETUP_MS=45000 \
		timeout -k 5 $((60 + rounds * 25)) "$MANY" "$A_SOCK" "$A_CTL" "$A_ADDR" "$B_SOCK" "$B_CTL" "$B_ADDR" \
		"$MANY_C" "$MANY_S" "$rounds" >"$out" 2>&1 || { cat "$out"; return 1; }
	grep -v '^{' "$out"
	python3 - "$out" "$rounds" <<'EOF'
import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
r, rounds = json.loads(lines[-1]), int(sys.argv[2])
n = r["channels"]
print("%d channels (%s): setup %d ms (attach %d, connect %d, first message %d); after a kill: resumed in "
      "p50 %d ms %s, everything delivered in p50 %d ms %s" % (n, r["mode"], r["attach_ms"] + r["connect_ms"] +
      r["warm_ms"], r["attach_ms"], r["connect_ms"], r["warm_ms"], r["resume_p50_ms"], r["resume_ms"],
      r["deliver_p50_ms"], r["deliver_ms"]))
print("daemon VmRSS KiB (start, after setup, end): A %s, B %s; of it RssAnon (heap): A %s, B %s"
      % (r["rss_kb_a"], r["rss_kb_b"], r["anon_kb_a"], r["anon_kb_b"]))
print("before any kill (setup): resumes A %d, B %d" % (r["setup_resumes_a"], r["setup_resumes_b"]))
print("counters over the kills (A/B): resumes %d/%d replayed_msgs %d/%d dup_dropped %d/%d remote_resets %d/%d redials %d/%d"
      % (r["resumes_a"], r["resumes_b"], r["replayed_a"], r["replayed_b"], r["dup_dropped_a"],
         r["dup_dropped_b"], r["remote_resets_a"], r["remote_resets_b"], r["redials_a"], r["redials_b"]))
bad = []
if not r["ok"] or r["violations"]: bad.append("%d violations" % r["violations"])
for side in "ab":
    # every channel resumes at least once per kill; when both daemons
    # dial at once (peer channels in the mix) a race can settle a
    # channel in two rounds, each counted
    if r["resumes_" + side] < rounds * n:
        bad.append("resumes on %s grew by %d, want at least %d (%d rounds x %d channels)" %
                   (side.upper(), r["resumes_" + side], rounds * n, rounds, n))
    if r["remote_resets_" + side]:
        bad.append("remote_resets on %s: %d" % (side.upper(), r["remote_resets_" + side]))
# setup 1 message each way, then 2 per round each way, on every channel
if r["msgs"] != 2 * n * (1 + 2 * rounds):
    bad.append("%d messages delivered, want %d" % (r["msgs"], 2 * n * (1 + 2 * rounds)))
for b in bad: print("FAIL: " + b)
sys.exit(1 if bad else 0)
EOF
	# the daemons lived through it, warning of nothing (no channel
	# reset, no protocol error, no overrun), one link per kill
	if grep -E ' msgrd (warning|error|critical): ' "$A_LOG" "$B_LOG" | head -5 | grep .; then
		echo "the daemons logged warnings"
		return 1
	fi
	echo "links up: A $(grep -c 'link up' "$A_LOG"), B $(grep -c 'link up' "$B_LOG") (1 + $rounds kills)"
	D_PID=$A_PID D_LOG=$A_LOG; stop_daemon
	D_PID=$B_PID D_LOG=$B_LOG; stop_daemon
}

t_lossless_10k_resume() { many_run lossless-10k lossless "$MANY_ROUNDS"; }
# two kills: one by each side
t_lossless_10k_resume_mix() { many_run lossless-10k-mix mix 2; }
run lossless-10k-resume t_lossless_10k_resume
run lossless-10k-resume-mix t_lossless_10k_resume_mix
