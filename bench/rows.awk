# rows.awk - rows of msgr-bench's results.json for gnuplot (bench/plot.gp).
# results.json holds one object per line; this prints, for each line whose
# workload is W (and path is P, if given), the values of the keys in KEYS
# (comma-separated), separated by spaces; null stays "null" (gnuplot is told
# it means a missing value). Strings print without their quotes; TAG, if
# given, is appended to the first value (a label).
#   awk -v W=oneway -v P=tcp -v KEYS=size,msgs_per_s -f rows.awk results.json
function field(line, key,    v) {
	if (!match(line, "\"" key "\":(\"[^\"]*\"|[^,}]*)"))
		return "null"
	v = substr(line, RSTART + length(key) + 3, RLENGTH - length(key) - 3)
	gsub(/"/, "", v)
	return v
}
BEGIN { nk = split(KEYS, keys, ",") }
/^\{/ {
	if (field($0, "workload") != W)
		next
	if (P != "" && field($0, "path") != P)
		next
	out = ""
	for (i = 1; i <= nk; i++)
		out = out (i > 1 ? " " : "") field($0, keys[i]) (i == 1 ? TAG : "")
	print out
}
