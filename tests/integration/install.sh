# make install into a DESTDIR: every file lands where it belongs, nothing
# lands outside DESTDIR, and a program built with nothing but
# `pkg-config --cflags --libs msgr` runs against the installed library.

# install_into DEST [VAR=VALUE]...: make install PREFIX=/usr SYSCONFDIR=/etc
# DESTDIR=DEST (the variables given override these), of the build the
# runner tests. make works in a copy of that build, shared by the tests of
# one run (one at a time: they run side by side): another build may be
# under way in the original, and a new SYSCONFDIR rebuilds the objects that
# embed it. A sanitizer tree relinks with its runtime.
install_into() {
	local dest=$1; shift
	install_make install DESTDIR="$dest" PREFIX=/usr SYSCONFDIR=/etc "$@"
}

INSTALL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# install_make ARG...: make -C the tree ARG..., in the copy of the build.
install_make() {
	local root=$INSTALL_ROOT b=$RUN/install-build flags=()
	[ -z "${MSGR_SANITIZED:-}" ] ||
		flags=(CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
		       LDFLAGS="-fsanitize=address,undefined")
	( flock 9
	  [ -d "$b" ] || cp -a "$(dirname "$BIN")" "$b"
	  make --no-print-directory -C "$root" BUILD="$b" "${flags[@]}" "$@" ) 9>"$b.lock"
}

t_install_files() {
	local root dest=$RUN/dest want got p
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	install_into "$dest"

	want="etc/logrotate.d/msgrd
etc/msgrd/msgrd.conf
usr/bin/msgrctl
usr/include/msgr.h
usr/lib/libmsgr.a
usr/lib/libmsgr.so
usr/lib/libmsgr.so.0
usr/lib/libmsgr.so.0.1.0
usr/lib/pkgconfig/msgr.pc
usr/lib/python3/dist-packages/msgr/__init__.py
usr/lib/python3/dist-packages/msgr/_abi.py
usr/lib/systemd/system/msgrd.service
usr/lib/sysusers.d/msgrd.conf
usr/lib/tmpfiles.d/msgrd.conf
usr/sbin/msgrd"
	for p in "$root"/man/*.[358]; do
		[ -e "$p" ] && want="$want
usr/share/man/man${p##*.}/${p##*/}"
	done
	want=$(sort <<<"$want")
	got=$(cd "$dest" && find . ! -type d | sed 's|^\./||' | sort)
	[ "$got" = "$want" ] || { diff -u <(echo "$want") <(echo "$got"); return 1; }

	# The soname chain, and file modes.
	[ "$(readlink "$dest/usr/lib/libmsgr.so")" = libmsgr.so.0 ]
	[ "$(readlink "$dest/usr/lib/libmsgr.so.0")" = libmsgr.so.0.1.0 ]
	[ ! -L "$dest/usr/lib/libmsgr.so.0.1.0" ]
	readelf -d "$dest/usr/lib/libmsgr.so.0.1.0" | grep -q 'SONAME.*\[libmsgr.so.0\]'
	[ "$(stat -c %a "$dest/usr/sbin/msgrd")" = 755 ]
	[ "$(stat -c %a "$dest/usr/lib/libmsgr.so.0.1.0")" = 755 ]
	[ "$(stat -c %a "$dest/usr/include/msgr.h")" = 644 ]
	[ "$(stat -c %a "$dest/etc/msgrd/msgrd.conf")" = 644 ]
	cmp "$root/include/msgr.h" "$dest/usr/include/msgr.h"
	cmp "$root/conf/msgrd.conf" "$dest/etc/msgrd/msgrd.conf"
	# the Python package loads the library installed with it
	grep -qx 'LIBDIR = "/usr/lib"' "$dest/usr/lib/python3/dist-packages/msgr/_abi.py"
	cmp "$root/python/msgr/__init__.py" "$dest/usr/lib/python3/dist-packages/msgr/__init__.py"
	"$dest/usr/sbin/msgrd" --version | grep -q '^msgrd 0\.1\.0$'

	# The unit runs the installed daemon.
	grep -qx 'ExecStart=/usr/sbin/msgrd -f' "$dest/usr/lib/systemd/system/msgrd.service"
	if grep -n '@[A-Z]*@' "$dest/usr/lib/systemd/system/msgrd.service" \
		"$dest/usr/lib/pkgconfig/msgr.pc"; then
		echo "placeholders left"; return 1
	fi

	# A second install keeps an administrator's msgrd.conf.
	echo '; edited' >>"$dest/etc/msgrd/msgrd.conf"
	install_into "$dest" >"$RUN/install2.out"
	grep -q 'keeping' "$RUN/install2.out"
	tail -1 "$dest/etc/msgrd/msgrd.conf" | grep -qx '; edited'
}

t_install_destdir_only() {
	# Every install and ln target of `make -n install` is under DESTDIR,
	# for the default prefix and for /usr (SYSCONFDIR follows PREFIX).
	local root d=/nonexistent/msgr-destdir lines bad
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	for prefix in /usr/local /usr; do
		lines=$(install_make -s -n install DESTDIR=$d PREFIX=$prefix |
			grep -E '^\s*(install|ln) ' | grep -v '^\s*echo') || true
		echo "$lines"
		[ "$(wc -l <<<"$lines")" -ge 10 ]
		bad=$(awk '{ sub(/;.*$/, ""); sub(/ *\|\|.*$/, ""); print $NF }' <<<"$lines" | grep -v "^$d/") || true
		[ -z "$bad" ] || { echo "outside DESTDIR: $bad"; return 1; }
	done
}

t_install_pkgconfig() {
	local root dest=$RUN/dest-pc flags
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	install_into "$dest" >/dev/null
	# Only the staged msgr.pc is visible; the sysroot prefixes its paths.
	export PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_PATH=$dest/usr/lib/pkgconfig
	export PKG_CONFIG_LIBDIR=$dest/usr/lib/pkgconfig
	[ "$(pkg-config --modversion msgr)" = 0.1.0 ]
	[ "$(PKG_CONFIG_SYSROOT_DIR="" pkg-config --variable=prefix msgr)" = /usr ]
	[ "$(PKG_CONFIG_SYSROOT_DIR="" pkg-config --variable=libdir msgr)" = /usr/lib ]
	[ "$(PKG_CONFIG_SYSROOT_DIR="" pkg-config --variable=includedir msgr)" = /usr/include ]
	flags=$(pkg-config --cflags --libs msgr)
	echo "pkg-config: $flags"
	[[ " $flags " == *" -I$dest/usr/include "* ]]
	[[ " $flags " == *" -L$dest/usr/lib "* ]]
	[[ " $flags " == *" -lmsgr "* ]]

	# Build the README's example the way it says, plus an rpath so it runs
	# from the staging tree. A sanitizer build's libmsgr needs its runtime.
	# shellcheck disable=SC2086
	cc -o "$RUN/hello-installed" "$root/examples/hello.c" $flags \
		${MSGR_SANITIZED:+-fsanitize=address,undefined} -Wl,-rpath,"$dest/usr/lib"
	readelf -d "$RUN/hello-installed" | grep -q 'NEEDED.*\[libmsgr.so.0\]'
	ldd "$RUN/hello-installed" | grep -q "libmsgr.so.0 => $dest/usr/lib/libmsgr.so.0 "

	start_daemon installed
	"$RUN/hello-installed" >"$RUN/hello-installed.out"
	cat "$RUN/hello-installed.out"
	grep -q 'got type 42: hello' "$RUN/hello-installed.out"
	stop_daemon
}

# make install PREFIX=DIR, with no DESTDIR and no SYSCONFDIR, as a user
# trying msgrd out would run it: nothing lands outside DIR (the real /etc,
# /usr and /var are overlays in a private mount namespace, whose upper
# layers must stay empty), msgrd and msgrctl read DIR/etc/msgrd/msgrd.conf
# by default, and make uninstall removes every file install wrote.
t_install_prefix() {
	[ "$(id -u)" = 0 ] || { echo "SKIP needs root for a private mount namespace"; return 0; }
	command -v unshare >/dev/null || { echo "SKIP unshare (util-linux) missing"; return 0; }
	local p=$RUN/prefix ns=$RUN/install-ns got
	mkdir -p "$p" "$ns"
	# shellcheck disable=SC2016
	unshare -m -- bash -ec '
		ns=$1; shift
		mount -t tmpfs tmpfs "$ns"
		for d in etc usr var; do
			mkdir -p "$ns/$d.up" "$ns/$d.work"
			mount -t overlay overlay -o "lowerdir=/$d,upperdir=$ns/$d.up,workdir=$ns/$d.work" "/$d"
		done
		"$@" >"$ns/make.out" 2>&1 || { cat "$ns/make.out"; exit 1; }
		cat "$ns/make.out"
		left=$(cd "$ns" && find etc.up usr.up var.up -mindepth 1 | head)
		[ -z "$left" ] || { echo "written outside the prefix: $left"; exit 1; }
	' - "$ns" bash -c "$(declare -f install_make); INSTALL_ROOT='$INSTALL_ROOT' RUN='$RUN' BIN='$BIN' MSGR_SANITIZED='${MSGR_SANITIZED:-}'; install_make install PREFIX='$p'"
	[ -f "$p/etc/msgrd/msgrd.conf" ]
	[ -x "$p/sbin/msgrd" ] && [ -x "$p/bin/msgrctl" ]
	grep -qx "d $p/etc/msgrd 0750 root msgr -" "$p/lib/tmpfiles.d/msgrd.conf"
	grep -q "$p/etc/msgrd/keyring" "$p/share/man/man8/msgrd.8"
	# the installed msgrd reads the installed msgrd.conf: a bad key there
	# stops it, named by file and line
	"$p/sbin/msgrd" --help | grep -q "default $p/etc/msgrd/msgrd.conf"
	printf '[global]\npoll_us = fast\n' >>"$p/etc/msgrd/msgrd.conf"
	expect_exit 2 "$p/sbin/msgrd" >"$RUN/prefix-msgrd.out" 2>&1
	cat "$RUN/prefix-msgrd.out"
	grep -q "^msgrd: $p/etc/msgrd/msgrd.conf:[0-9]*: global.poll_us: 'fast' is not a number" "$RUN/prefix-msgrd.out"
	# and msgrctl finds the control socket it names
	printf '[global]\nctl_socket = %s\n' "$RUN/prefix-nothing.asok" >"$p/etc/msgrd/msgrd.conf"
	expect_exit 3 env -u MSGR_CTL_SOCKET "$p/bin/msgrctl" status 2>"$RUN/prefix-ctl.err"
	grep -q "cannot reach msgrd at $RUN/prefix-nothing.asok (global.ctl_socket in $p/etc/msgrd/msgrd.conf)" "$RUN/prefix-ctl.err"

	# uninstall keeps the edited msgrd.conf, and removes every other file
	install_make uninstall PREFIX="$p" >"$RUN/uninstall.out"
	grep -q "keeping $p/etc/msgrd/msgrd.conf" "$RUN/uninstall.out"
	got=$(cd "$p" && find . ! -type d)
	[ "$got" = ./etc/msgrd/msgrd.conf ] || { echo "left after uninstall: $got"; return 1; }
	rm "$p/etc/msgrd/msgrd.conf"
	# an unedited one goes, with its folder
	install_make install PREFIX="$p" >/dev/null
	install_make uninstall PREFIX="$p" >/dev/null
	got=$(cd "$p" && find . ! -type d)
	[ -z "$got" ] || { echo "left after uninstall: $got"; return 1; }
	[ ! -e "$p/etc/msgrd" ]
}

run install-files t_install_files
run install-destdir-only t_install_destdir_only
run install-pkgconfig t_install_pkgconfig
run install-prefix-uninstall t_install_prefix
