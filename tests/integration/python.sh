# The Python binding (python/msgr): its unit tests against a real msgrd and
# a C entity, the README's Python example, and the package as make install
# puts it.

PY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# py [VAR=VALUE]... CMD...: CMD (python3) with the given environment. A
# sanitizer build's libmsgr ($PY_LIB, default the build tree's) needs the
# ASan runtime loaded before anything else, and python3 is not linked with
# it; the interpreter's own allocations at exit are not leaks of ours.
py() {
	local lib=${PY_LIB:-$(dirname "$BIN")/lib/libmsgr.so.0} asan
	asan=$(ldd "$lib" 2>/dev/null | awk '$1 ~ /^libasan\.so/ { print $3 }')
	if [ -n "$asan" ]; then
		env LD_PRELOAD="$asan" ASAN_OPTIONS="detect_leaks=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" "$@"
	else
		env "$@"
	fi
}

# The build tree's package and library.
py_tree() {
	py PYTHONPATH="$PY_ROOT/python" MSGR_LIBRARY="$(dirname "$BIN")/lib/libmsgr.so.0" \
		PYTHONDONTWRITEBYTECODE=1 "$@"
}

t_python_binding() {
	start_daemon py
	"$T" victim osd.pyecho >"$D_DIR/echo.out" 2>&1 &
	local echo=$!
	wait_line "$D_DIR/echo.out" ready
	"$BUILD/tests/msgr-pyabi" >"$D_DIR/abi.json"
	py_tree MSGR_TEST_ECHO="$D_ADDR/osd.pyecho" MSGR_TEST_ABI="$D_DIR/abi.json" \
		timeout 120 python3 -m unittest -v "$PY_ROOT/python/tests/test_msgr.py" >"$D_DIR/py.out" 2>&1 ||
		{ cat "$D_DIR/py.out"; return 1; }
	cat "$D_DIR/py.out"
	# a skipped test is a harness that did not give it what it needs
	tail -1 "$D_DIR/py.out" | grep -qx 'OK'
	# the echo entity saw nothing it did not like
	kill -0 $echo || { cat "$D_DIR/echo.out"; return 1; }
	stop_daemon
}

# msgrd dies under an asyncio reader: DaemonLost comes once and ends
# events(), a later next() raises DaemonGone, and detach still works.
t_python_daemon_lost() {
	start_daemon pylost
	py_tree timeout 30 python3 -c '
import asyncio, msgr
async def main():
    with msgr.Client.attach("client.pylost") as c:
        print("ready", flush=True)
        got = [type(ev).__name__ async for ev in c.events()]
        print("events:", got)
        assert got == ["DaemonLost"], got
        try:
            c.next(0)
        except msgr.DaemonGone as e:
            print("then:", e)
        else:
            raise AssertionError("next() after DaemonLost did not raise")
asyncio.run(main())' >"$D_DIR/lost.out" 2>&1 &
	local p=$!
	wait_line "$D_DIR/lost.out" ready
	kill -9 "$D_PID"
	wait $p || { cat "$D_DIR/lost.out"; return 1; }
	cat "$D_DIR/lost.out"
	grep -q '^then: next on client.pylost: .*(ENOTCONN)$' "$D_DIR/lost.out"
}

# The README's Python example is examples/hello.py, and it runs.
t_python_readme() {
	awk '/^```python$/{f=1;next} /^```$/{f=0} f' "$PY_ROOT/README.md" >"$RUN/readme.py"
	diff -u "$PY_ROOT/examples/hello.py" "$RUN/readme.py"
	[ "$(wc -l <"$RUN/readme.py")" -le 15 ]
	start_daemon pyreadme
	py_tree timeout 30 python3 "$RUN/readme.py" >"$RUN/hello-py.out" 2>&1 || { cat "$RUN/hello-py.out"; return 1; }
	cat "$RUN/hello-py.out"
	grep -q '^accepted a connection from 127.0.0.1:.*/client.pyhello$' "$RUN/hello-py.out"
	grep -qx 'got type 42: hello' "$RUN/hello-py.out"
	stop_daemon
}

# make install PREFIX=DIR puts the package where python3 finds it with
# PYTHONPATH (or by itself for /usr and /usr/local), and it loads the
# library installed beside it, not one from the build tree or ld.so's
# path; make uninstall takes it away again.
t_python_installed() {
	local p=$RUN/pyprefix dir
	install_make install PREFIX="$p" >"$RUN/pyinstall.out" 2>&1 || { cat "$RUN/pyinstall.out"; return 1; }
	dir=$(cd "$p" && echo lib/python3*/dist-packages)
	[ -f "$p/$dir/msgr/__init__.py" ] && [ -f "$p/$dir/msgr/_abi.py" ]
	grep -qx "LIBDIR = \"$p/lib\"" "$p/$dir/msgr/_abi.py"
	start_daemon pyinstalled
	(cd "$RUN" && PY_LIB="$p/lib/libmsgr.so.0" py PYTHONPATH="$p/$dir" MSGR_LIBRARY= \
		timeout 30 python3 -c '
import msgr, sys
assert msgr.library_path == sys.argv[1], msgr.library_path
assert msgr.__file__.startswith(sys.argv[2]), msgr.__file__
with msgr.Client.attach("client.pyinst") as c:
    print("attached as", c.addr)' "$p/lib/libmsgr.so.0" "$p/$dir")
	stop_daemon
	install_make uninstall PREFIX="$p" >/dev/null
	[ ! -e "$p/$dir/msgr" ] || { find "$p/$dir"; return 1; }
}

run python-binding t_python_binding
run python-daemon-lost t_python_daemon_lost
run python-readme-example t_python_readme
run python-installed t_python_installed
