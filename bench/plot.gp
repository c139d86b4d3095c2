# plot.gp - msgr-bench's plots, drawn from its results.json. msgr-bench runs
# it when gnuplot is on PATH; by hand:
#   gnuplot -e "json='build/bench/results.json'; outdir='build/bench'; \
#               awkfile='bench/rows.awk'" bench/plot.gp
# throughput.svg: one-way msg/s and MB/s against message size, every path on
# the same axes (log scales). latency.svg: ping-pong p50 and p99 by path,
# and the mixed workload's ping-pong idle and beside the 16 MiB bulk stream.
if (!exists("json")) json = "build/bench/results.json"
if (!exists("outdir")) outdir = "build/bench"
if (!exists("awkfile")) awkfile = "bench/rows.awk"

# rows(workload, path, keys, tag): the matching rows as columns
rows(w, p, k, t) = sprintf("< awk -v W='%s' -v P='%s' -v KEYS='%s' -v TAG='%s' -f '%s' '%s'", \
                           w, p, k, t, awkfile, json)
uniq(w, k) = system(sprintf("awk -v W='%s' -v KEYS='%s' -f '%s' '%s' | awk '!seen[$0]++'", \
                            w, k, awkfile, json))
count(w) = int(system(sprintf("awk -v W='%s' -v KEYS=size -f '%s' '%s' | wc -l", w, awkfile, json)))
sizelabel(n) = n >= 1048576 ? sprintf("%d MiB", n / 1048576) : \
               n >= 1024 ? sprintf("%d KiB", n / 1024) : sprintf("%d B", n)

set encoding utf8
set datafile missing "null"
set key outside right top
set grid
# ten paths, ten colours
set linetype 9 lc rgb "#9c755f"
set linetype 10 lc rgb "#17becf"
set linetype cycle 10

# ---- throughput against size ----
paths = uniq("oneway", "path")
sizes = uniq("oneway", "size")
set terminal svg size 1300,520 dynamic font "sans,11" background "white"
set output outdir . "/throughput.svg"
if (words(paths) > 0) {
	set multiplot layout 1,2 title "msgr-bench: one-way throughput against message size (one run)"
	set logscale xy
	set xtics ()
	do for [s in sizes] {
		lbl = sizelabel(s + 0)
		pos = s + 0
		set xtics add (lbl pos)
	}
	set xrange [*:*]
	set xlabel "message size"
	set ylabel "messages/s"
	set format y "%.0s%c"
	unset key
	plot for [i = 1:words(paths)] rows("oneway", word(paths, i), "size,msgs_per_s", "") \
		using 1:2 with linespoints lw 2 pt i lt i title word(paths, i)
	set ylabel "MB/s (10^6 bytes of payload)"
	set format y "%g"
	set key outside right top
	plot for [i = 1:words(paths)] rows("oneway", word(paths, i), "size,mb_per_s", "") \
		using 1:2 with linespoints lw 2 pt i lt i title word(paths, i)
	unset multiplot
} else {
	set label 1 "no one-way results" at screen 0.4, 0.5
	plot [0:1] [0:1] NaN notitle
	unset label 1
}
unset output

# ---- latency ----
reset
set encoding utf8
set datafile missing "null"
set grid ytics
set terminal svg size 1300,520 dynamic font "sans,11" background "white"
set output outdir . "/latency.svg"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set logscale y
set ylabel "round trip (µs)"
set xtics rotate by -30 nomirror
set key top left
npp = count("pingpong")
nmix = count("mixed-idle") + count("mixed-busy")
set multiplot layout 1,2 title "msgr-bench: 64 B ping-pong round trip (one run)"
if (npp > 0) {
	set title "by path"
	plot rows("pingpong", "", "path,p50_us,p99_us", "") using 2:xtic(1) title "p50", \
	     '' using 3 title "p99"
} else {
	set title "by path: no ping-pong results"
	plot [0:1] [1:10] NaN notitle
}
if (nmix > 0) {
	# path:idle, then path:bulk, path by path
	mixpaths = uniq("mixed-idle", "path")
	cmd = "<"
	do for [p in mixpaths] {
		cmd = cmd . sprintf(" awk -v W=mixed-idle -v P='%s' -v KEYS=path,p50_us,p99_us -v TAG=:idle -f '%s' '%s';", p, awkfile, json)
		cmd = cmd . sprintf(" awk -v W=mixed-busy -v P='%s' -v KEYS=path,p50_us,p99_us -v TAG=:bulk -f '%s' '%s';", p, awkfile, json)
	}
	set title "beside a 16 MiB bulk stream on the same session (mixed)"
	plot cmd using 2:xtic(1) title "p50", '' using 3 title "p99"
} else {
	set title "mixed: not run"
	plot [0:1] [1:10] NaN notitle
}
unset multiplot
unset output
