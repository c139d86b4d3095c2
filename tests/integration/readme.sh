# The README's example is examples/hello.c, compiles, and runs.

t_readme_example() {
	local root
	root=$(cd "$(dirname "$BASH_SOURCE")/../.." && pwd)
	awk '/^```c$/{f=1;next} /^```$/{f=0} f' "$root/README.md" >"$RUN/readme.c"
	diff -u "$root/examples/hello.c" "$RUN/readme.c"
	start_daemon readme
	"$BIN/msgr-hello" >"$RUN/hello.out"; cat "$RUN/hello.out"
	grep -q 'accepted a connection from 127.0.0.1:.*/client.hello' "$RUN/hello.out"
	grep -q 'got type 42: hello' "$RUN/hello.out"
	stop_daemon
}

t_demo() {
	local root
	root=$(cd "$(dirname "$BASH_SOURCE")/../.." && pwd)
	local b=$RUN/demo-build; mkdir -p "$b/bin"
	# copies, not links: the checkout may sit in a directory that the user
	# nobody cannot enter (a mktemp -d clone); the rpath is $ORIGIN/../lib
	cp -a "$BIN/msgrd" "$BIN/msgrctl" "$BIN/msgr-demo" "$b/bin/"
	cp -a "$BIN/../lib" "$b/lib"
	cp "$root/examples/demo.sh" "$b/demo.sh"
	# make demo must work for a user who is not root: run it as nobody
	# when we can, with its runtime directory in a tree nobody owns
	local as=()
	if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
		chmod 755 "$RUN"
		chown -R 65534:65534 "$b"
		as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	fi
	"${as[@]}" bash "$b/demo.sh" "$b" >"$RUN/demo.out" 2>&1 || { cat "$RUN/demo.out"; return 1; }
	if [ ${#as[@]} != 0 ]; then
		[ "$(stat -c %u "$b/demo/hostA/msgrd.log")" = 65534 ] # it really ran as nobody
	fi
	grep -q '\[client.1\] answer type 121: "GOODBYE"' "$RUN/demo.out"
	# asked lossless, and lossless in effect between the demo's two hosts
	grep -q 'osd.1 .*lossless  *lossless  *open' "$RUN/demo.out"
	# the conversation crossed an authenticated session, seen from both hosts
	[ "$(grep -cE '^127\.0\.0\.1:[0-9]+ +up +1  (in|out) +up ' "$RUN/demo.out")" = 2 ]
	grep -q 'session 127.0.0.1:[0-9]*: link up (dialled' "$RUN/demo.out"
	[ "$(grep -c 'msgrd notice: stopped' "$RUN/demo.out")" = 2 ]
}

run readme-example t_readme_example
run make-demo t_demo

# libmsgr exports exactly the functions msgr.h declares, under a soname.
t_library_exports() {
	local root lib exported declared
	root=$(cd "$(dirname "$BASH_SOURCE")/../.." && pwd)
	lib=$(dirname "$BIN")/lib/libmsgr.so
	readelf -d "$lib" | grep -q 'SONAME.*\[libmsgr.so.0\]'
	exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" {sub(/@.*/, "", $3); print $3}' | sort)
	declared=$(grep -oE '^[a-z_ *]*\bmsgr_[a-z_]+\(' "$root/include/msgr.h" |
		grep -oE 'msgr_[a-z_]+' | sort -u)
	echo "exported: $exported"
	[ "$exported" = "$declared" ] || { echo "declared: $declared"; return 1; }
}
run library-exports t_library_exports
