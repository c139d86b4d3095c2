# The manual pages: lint-clean, and in step with the code they describe.
# Sourced by tests/run-integration.sh.

# The repository root.
man_root() {
	cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd
}

# Every page lints clean with mandoc (warnings and worse) and with groff.
t_man_lint() {
	local root f out bad=0
	root=$(man_root)
	command -v mandoc >/dev/null || { echo "SKIP mandoc is not installed"; return 0; }
	for f in "$root"/man/*.[1-9]; do
		if [ -L "$f" ]; then
			# an alias: a relative link to a page beside it
			case $(readlink "$f") in */*) echo "$f: link leaves man/"; bad=1 ;; esac
			[ -f "$f" ] || { echo "$f: dangling link"; bad=1; continue; }
		elif [ "$(head -c 4 "$f")" = ".so " ]; then
			echo "$f: use a symbolic link, not .so (mandoc warns about .so)"; bad=1
		fi
		out=$(mandoc -Tlint -Wwarning "$f" 2>&1 || true)
		[ -z "$out" ] || { echo "$out"; bad=1; }
		if command -v groff >/dev/null; then
			out=$(groff -ww -z -mandoc "$f" 2>&1 || true)
			[ -z "$out" ] || { echo "$f: groff: $out"; bad=1; }
		fi
	done
	echo "linted: $(find "$root/man" -name '*.[1-9]' | wc -l) pages"
	return $bad
}

# Every function msgr.h declares has man/NAME.3, whose page names it and
# shows its prototype.
t_man_functions() {
	local root fn page bad=0
	root=$(man_root)
	[ -f "$root/man/msgr.3" ] || { echo "man/msgr.3 is missing"; return 1; }
	for fn in $(grep -oE '^[a-z_ *]*\bmsgr_[a-z_]+\(' "$root/include/msgr.h" |
		    grep -oE 'msgr_[a-z_]+' | sort -u); do
		page=$root/man/$fn.3
		if [ ! -f "$page" ]; then
			echo "$fn: no man/$fn.3"; bad=1; continue
		fi
		grep -qE "^\.Nm $fn( ,)?\$" "$page" || { echo "$fn: not in the NAME of $(readlink -f "$page")"; bad=1; }
		grep -qE "^\.F[no] $fn( |\$)" "$page" || { echo "$fn: no prototype in $(readlink -f "$page")"; bad=1; }
		grep -qE "^\.F[no] $fn( |\$)" "$root/man/msgr.3" || { echo "$fn: not in msgr.3's SYNOPSIS"; bad=1; }
	done
	return $bad
}

# "section key default live" for every key in daemon/config.c's table. A
# default under SYSCONFDIR reads as the pages give it, under /etc, where
# packages (SYSCONFDIR=/etc) put it.
man_conf_keys() {
	sed -E 's|MSGR_SYSCONFDIR "|"/etc|' "$1/daemon/config.c" |
		sed -nE 's/^[[:space:]]*\{ *"([a-z_]+)", *"([a-z_]+)", *K_[A-Z0-9]+,.*"([^"]*)"(, *([01]))? *\},.*/\1 \2 \3 \5/p' |
		awk 'NF == 3 { print $1, $2, "none", $3; next } 1' # an empty default: the key is off
}

# Every key of the table is documented in msgrd.conf(5), in its section and
# with its default, and listed in conf/msgrd.conf; msgrd.conf(5) documents
# no other key; its run-time list is exactly the keys the table marks live.
t_man_conf_keys() {
	local root page conf keys sec key def doc bad=0
	root=$(man_root)
	page=$root/man/msgrd.conf.5
	conf=$root/conf/msgrd.conf
	keys=$(man_conf_keys "$root")
	[ "$(echo "$keys" | wc -l)" -ge 9 ] || { echo "cannot read the key table: '$keys'"; return 1; }
	# "section key default-text" for each key the page documents
	doc=$(awk '
		/^\.Ss Section \[/ { sec = $3; gsub(/[][]/, "", sec); next }
		/^\.Sh / { sec = "" }
		sec != "" && /^\.It Cm [a-z_]+ No =/ { key = $3; text[sec " " key] = ""; order[++n] = sec " " key; next }
		sec != "" && key != "" && /^\.(It|El)/ { key = "" }
		sec != "" && key != "" { text[sec " " key] = text[sec " " key] " " $0 }
		END { for (i = 1; i <= n; i++) { t = text[order[i]]; sub(/.*Default:/, "", t); print order[i], t } }
	' "$page")
	while read -r sec key def _; do
		local entry
		entry=$(echo "$doc" | awk -v k="$sec $key" 'index($0, k " ") == 1')
		if [ -z "$entry" ]; then
			echo "$sec.$key: not documented in [$sec] of msgrd.conf.5"; bad=1
		else
			case $entry in
			*" $def "* | *" $def" | *" $def."*) ;;
			*) echo "$sec.$key: msgrd.conf.5 does not give the default '$def': $entry"; bad=1 ;;
			esac
		fi
		awk -v s="[$sec]" -v k="$key" '
			/^\[/ { in_s = ($0 == s) }
			in_s && $0 ~ "^;?" k " *=" { found = 1 }
			END { exit !found }
		' "$conf" || { echo "$sec.$key: not in [$sec] of conf/msgrd.conf"; bad=1; }
	done <<<"$keys"
	# nothing documented that the table lacks
	while read -r sec key _; do
		echo "$keys" | grep -q "^$sec $key " || { echo "msgrd.conf.5 documents $sec.$key, which config.c lacks"; bad=1; }
	done <<<"$doc"
	# the run-time list is the table's live keys (when the table has the column)
	if echo "$keys" | grep -qE ' [01]$'; then
		local want have
		want=$(echo "$keys" | awk '$4 == 1 { print $1 "." $2 }' | sort)
		have=$(awk '/^\.Sh CHANGES AT RUN TIME/ { f = 1; next } /^\.Sh / { f = 0 }
			    f && /^\.Cm [a-z_]+\.[a-z_]+$/ { print $2 }' "$page" | sort -u)
		[ "$want" = "$have" ] || { echo "run-time keys: config.c has [$want], msgrd.conf.5 lists [$have]"; bad=1; }
	fi
	echo "keys checked: $(echo "$keys" | wc -l)"
	return $bad
}

# The commands and options in `msgrctl --help` are those msgrctl.8 documents.
t_man_msgrctl() {
	local root page help cmds documented c bad=0
	root=$(man_root)
	page=$root/man/msgrctl.8
	[ -x "$BIN/msgrctl" ] || { echo "$BIN/msgrctl is not built"; return 1; }
	help=$("$BIN/msgrctl" --help)
	# "  config get KEY    text" under "Commands:" -> "config get"
	cmds=$(echo "$help" | awk '
		/^Commands:/ { f = 1; next }
		f && /^$/ { f = 0 }
		f && /^  [a-z]/ {
			line = substr($0, 3); sub(/  .*/, "", line)
			n = split(line, w, " "); c = ""
			for (i = 1; i <= n && w[i] ~ /^[a-z_]+$/; i++) c = c (c == "" ? "" : " ") w[i]
			print c
		}')
	[ -n "$cmds" ] || { echo "no commands found in msgrctl --help:"; echo "$help"; return 1; }
	documented=$(awk '
		/^\.Ss Commands/ { f = 1; next }
		/^\.S[hs] / { f = 0 }
		f && /^\.It Cm / {
			c = ""
			for (i = 3; i <= NF && $i ~ /^[a-z_]+$/; i++) c = c (c == "" ? "" : " ") $i
			print c
		}' "$page")
	while read -r c; do
		echo "$documented" | grep -qx "$c" || { echo "msgrctl --help lists '$c'; msgrctl.8 does not"; bad=1; }
	done <<<"$cmds"
	while read -r c; do
		echo "$cmds" | grep -qx "$c" || { echo "msgrctl.8 documents '$c'; msgrctl --help does not list it"; bad=1; }
	done <<<"$documented"
	# a command's own options ("keygen FILE [--force]") are on its entry
	local line o
	while read -r c o; do
		line=$(grep -E "^\.It Cm $c( |\$)" "$page" | head -1)
		case $line in
		*"Fl \\-$o"*) ;;
		*) echo "msgrctl.8: '$c' lacks its option --$o"; bad=1 ;;
		esac
	done < <(echo "$help" | awk '
		/^Commands:/ { f = 1; next }
		f && /^$/ { f = 0 }
		f && /^  [a-z]/ {
			line = substr($0, 3); sub(/  .*/, "", line)
			n = split(line, w, " "); c = ""
			for (i = 1; i <= n && w[i] ~ /^[a-z_]+$/; i++) c = c (c == "" ? "" : " ") w[i]
			for (; i <= n; i++) if (match(w[i], /--[a-z-]+/)) print c, substr(w[i], RSTART + 2, RLENGTH - 2)
		}')
	man_options "$help" "$page" || bad=1
	return $bad
}

# The options in msgrd --help are those msgrd.8 documents.
t_man_msgrd() {
	local root help
	root=$(man_root)
	[ -x "$BIN/msgrd" ] || { echo "$BIN/msgrd is not built"; return 1; }
	help=$("$BIN/msgrd" --help)
	man_options "$help" "$root/man/msgrd.8"
}

# man_options HELP PAGE: every "  -x, --long" line of HELP has a matching
# ".It Fl x ... Fl \-long" entry in PAGE.
man_options() {
	local opts s l bad=0
	opts=$(echo "$1" | sed -nE 's/^  -([a-zA-Z]), --([a-z-]+).*/\1 \2/p')
	[ -n "$opts" ] || { echo "no options found in --help"; return 1; }
	while read -r s l; do
		grep -qE "^\.It Fl $s( .*)? , Fl \\\\-$l( |\$)" "$2" ||
			{ echo "$(basename "$2"): no entry for -$s, --$l"; bad=1; }
	done <<<"$opts"
	return $bad
}

# The run-time keys that msgrd.8 (applied on SIGHUP) and msgrctl.8 (taken
# by config set) list are exactly those config.c's table marks live.
t_man_live_keys() {
	local root want have bad=0
	root=$(man_root)
	want=$(man_conf_keys "$root" | awk '$4 == 1 { print $1 "." $2 }' | sort)
	[ "$(wc -l <<<"$want")" -ge 10 ] || { echo "cannot read the live keys of config.c: '$want'"; return 1; }
	# man_live_list PAGE FROM TO: the .Cm section.key lines from a line
	# matching FROM up to one matching TO
	man_live_list() {
		awk -v from="$2" -v to="$3" '$0 ~ from { f = 1; next } f && $0 ~ to { f = 0 }
			f && /^\.Cm [a-z_]+\.[a-z_]+( [,.;])?$/ { print $2 }' "$1" | sort -u
	}
	have=$(man_live_list "$root/man/msgrd.8" 'keys that can change while it runs:' '^\.Cm \[policy\]')
	[ "$want" = "$have" ] || { echo "msgrd.8 lists as live:"; diff <(echo "$want") <(echo "$have") || true; bad=1; }
	have=$(man_live_list "$root/man/msgrctl.8" 'keys that can change at run time are accepted:' 'For any other key')
	[ "$want" = "$have" ] || { echo "msgrctl.8 lists as live:"; diff <(echo "$want") <(echo "$have") || true; bad=1; }
	echo "live keys: $(echo $want)"
	return $bad
}

# A quoted macro argument runs to its closing quote: in
# '.Ql {"a": 1, "b": 2}' the quotes around b vanish from the page. Literal
# quotes on macro lines are written \(dq.
t_man_quotes() {
	local root bad
	root=$(man_root)
	bad=$(grep -nE '^\..*(^|[[:space:]])"[^"]*"[^[:space:]]' "$root"/man/*.[1-9]) || true
	[ -z "$bad" ] || { echo "quotes that mdoc takes as argument delimiters:"; echo "$bad"; return 1; }
}

run man-lint t_man_lint
run man-functions t_man_functions
run man-conf-keys t_man_conf_keys
run man-msgrctl t_man_msgrctl
run man-msgrd t_man_msgrd
run man-live-keys t_man_live_keys
run man-quotes t_man_quotes
