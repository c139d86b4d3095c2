# msgr-bench (make bench) is measured by hand, not here; this only checks
# that a small run of a workload goes through end to end: the idle
# workload with 50 entities fills its table, its two target rows and its
# rows of results.json, three rounds each way.
t_bench_idle() {
	local d=$RUN/bench
	mkdir -p "$d"
	"$BIN/msgr-bench" --only idle --idle 50 --seconds 0.2 --out "$d/r.md" >"$d/out" 2>"$d/err" ||
		{ cat "$d/err"; return 1; }
	grep -q '^idle: msgrd one-way 64 B beside 50 idle entities' "$d/out"
	grep -Eq '^msgrd 64 B beside 50 idle entities / alone +≥ 0.95 +[0-9.]+ +- +(met|MISSED)$' "$d/out"
	grep -Eq '^daemon VmRSS with 50 idle entities \(MB\) +< 100 +[0-9]+ +- +met$' "$d/out"
	[ "$(grep -c 'attached 50 in' "$d/err")" = 3 ] || { cat "$d/err"; return 1; }
	grep -q '"workload":"idle-beside"' "$d/r.json"
}
run_plain bench-idle-smoke t_bench_idle
