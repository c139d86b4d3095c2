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

# Every command block of the README and of the man pages' EXAMPLES runs as
# written (tests/integration/docblocks.py says how a block is read; build
# and test blocks are not run). Each file gets a private mount, network and
# pid namespace: /run and /tmp are empty tmpfs, /etc, /usr and /var are
# overlays whose changes vanish with it, so /etc/msgrd, /run/msgrd, /tmp/m
# and the fixed ports of the docs are the docs' own; everything started
# there dies with it. What a page takes as given (a group msgr, a running
# daemon, a program ./my-osd) is set up first, by docs_fixture.

# docs_ns FILE: run FILE's blocks in a namespace of their own.
docs_ns() {
	local root file=$1 dir
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	dir=$RUN/docs-$(basename "$file")
	mkdir -p "$dir/cwd" "$dir/state" "$dir/bin"
	# msgrd as a person runs it: it stays in the foreground (or, with &, in
	# the background), and the next command is typed once it is ready or
	# has failed; this stand-in returns then, leaving a ready daemon running
	cat >"$dir/bin/msgrd" <<'SH'
#!/bin/bash
log=$(mktemp "$DOCS_STATE/msgrd.XXXXXX")
"$DOCS_MSGRD" "$@" >"$log" 2>&1 &
pid=$!
for _ in $(seq 200); do
	if ! kill -0 "$pid" 2>/dev/null; then wait "$pid"; rc=$?; cat "$log"; exit $rc; fi
	grep -q ' ready: ' "$log" && exit 0
	sleep 0.05
done
echo "msgrd: not ready after 10 s"; cat "$log"; exit 1
SH
	chmod 755 "$dir/bin/msgrd"
	# shellcheck disable=SC2016
	# The run directory, the tree and the build stay visible through the
	# empty /tmp: a clean clone in CI may sit under /tmp itself.
	unshare -m -n -p -f --mount-proc -- bash -ec '
		run=$1 dir=$2 root=$3 build=$4; shift 4
		mount -t tmpfs tmpfs /run
		mkdir /run/keep /run/ns
		i=0; for p in "$run" "$root" "$build"; do
			case $p in /tmp/*) mkdir /run/keep/$i && mount --bind "$p" /run/keep/$i ;; esac
			i=$((i + 1))
		done
		mount -t tmpfs tmpfs /tmp
		i=0; for p in "$run" "$root" "$build"; do
			case $p in /tmp/*) mkdir -p "$p" && mount --bind /run/keep/$i "$p" ;; esac
			i=$((i + 1))
		done
		mount -t tmpfs tmpfs /run/ns
		for d in etc usr var; do
			mkdir -p "/run/ns/$d.up" "/run/ns/$d.work"
			mount -t overlay overlay -o "lowerdir=/$d,upperdir=/run/ns/$d.up,workdir=/run/ns/$d.work" "/$d"
		done
		ip link set lo up
		"$@"
	' - "$RUN" "$dir" "$root" "$BUILD" env BIN="$BIN" BUILD="$BUILD" RUN="$RUN" bash -c "$(declare -f docs_fixture); docs_fixture \"\$@\"" - "$root" "$file" "$dir"
}

# docs_fixture ROOT FILE DIR: inside the namespace, set up what FILE takes
# as given, then run its blocks from DIR/cwd.
docs_fixture() {
	local root=$1 file=$2 dir=$3 bin=$BIN
	export DOCS_STATE=$dir/state DOCS_MSGRD=$BIN/msgrd
	systemd-sysusers "$root/systemd/msgrd.sysusers" >/dev/null 2>&1   # as make install says
	cd "$dir/cwd"
	case $(basename "$file") in
	README.md)
		# the top of the tree, with the build under test in build/
		mkdir -p build/bin
		ln -s "$BIN/msgrctl" build/bin/msgrctl
		ln -s "$dir/bin/msgrd" build/bin/msgrd
		ln -s "$root/conf" conf
		;;
	*)
		# the man pages describe an install with SYSCONFDIR=/etc
		bin=$RUN/docs-root/usr
		export DOCS_MSGRD=$bin/sbin/msgrd DOCS_UNIT=$bin/lib/systemd/system/msgrd.service
		export PATH=$dir/bin:$bin/bin:$bin/sbin:$PATH
		;;
	esac
	case $(basename "$file") in
	msgrd.8)
		printf '#!/bin/sh\nexec %s\n' "$BUILD/bin/msgr-hello" >my-osd; chmod 755 my-osd
		id alice >/dev/null 2>&1 || useradd -M alice
		;;
	msgrctl.8)
		# a daemon at the defaults, with injection on as the page asks,
		# osd.3 attached to it, and a private one in /tmp/m
		msgrctl keygen /etc/msgrd/test.keyring >/dev/null
		printf '[global]\ninject = true\n[auth]\nkeyring = /etc/msgrd/test.keyring\n' >/etc/msgrd/msgrd.conf
		msgrd
		msgrd --set global.socket=/tmp/m/msgrd.sock --set global.ctl_socket=/tmp/m/msgrd.asok \
			--set global.listen=127.0.0.1:6801
		"$BUILD/tests/msgr-itest" wait-lost osd.3 >"$DOCS_STATE/osd3.out" 2>&1 &
		for _ in $(seq 200); do grep -q ready "$DOCS_STATE/osd3.out" && break; sleep 0.05; done
		mkdir -p /var/lib/prometheus/node-exporter   # prometheus-node-exporter's
		;;
	msgrd.conf.5)
		msgrctl keygen /etc/msgrd/keyring >/dev/null
		ip addr add 10.0.0.7/32 dev lo              # the host's cluster address
		id ceph >/dev/null 2>&1 || useradd -M -r ceph
		printf '[global]\npool_size = 64M\npoolsize = 64M\n' >test.conf   # "misspelt on line 3"
		;;
	esac
	python3 "$root/tests/integration/docblocks.py" run "$file"
}

t_readme_commands() {
	local root
	[ "$(id -u)" = 0 ] || { echo "SKIP needs root for private namespaces"; return 0; }
	root=$(cd "$(dirname "$BASH_SOURCE")/../.." && pwd)
	docs_ns "$root/README.md"
}

t_man_examples() {
	local root p bad=0
	[ "$(id -u)" = 0 ] || { echo "SKIP needs root for private namespaces"; return 0; }
	root=$(cd "$(dirname "$BASH_SOURCE")/../.." && pwd)
	install_into "$RUN/docs-root" >/dev/null
	for p in "$root"/man/*.[1-9]; do
		[ -L "$p" ] && continue
		grep -q '^\.Sh EXAMPLES' "$p" || continue
		docs_ns "$p" || bad=1
	done
	return $bad
}

run_plain readme-commands t_readme_commands
run_plain man-examples t_man_examples
