# make install into a DESTDIR: every file lands where it belongs, nothing
# lands outside DESTDIR, and a program built with nothing but
# `pkg-config --cflags --libs msgr` runs against the installed library.

# install_into DEST: make install PREFIX=/usr DESTDIR=DEST, of the build the
# runner tests. -o keeps make from rebuilding those artefacts (another build
# may be under way, or this may be a sanitizer tree with its own flags);
# one that is missing (check-integration does not build libmsgr.a) is built.
install_into() {
	local root b f keep=()
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	b=$(dirname "$BIN")
	for f in "$b/bin/msgrd" "$b/bin/msgrctl" "$b/lib/libmsgr.so.0.1.0" "$b/lib/libmsgr.a"; do
		[ -e "$f" ] && keep+=(-o "$f")
	done
	make --no-print-directory -C "$root" install DESTDIR="$1" PREFIX=/usr BUILD="$b" "${keep[@]}"
}

t_install_files() {
	local root dest=$RUN/dest want got p
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	install_into "$dest"

	want="etc/msgrd/msgrd.conf
usr/bin/msgrctl
usr/include/msgr.h
usr/lib/libmsgr.a
usr/lib/libmsgr.so
usr/lib/libmsgr.so.0
usr/lib/libmsgr.so.0.1.0
usr/lib/pkgconfig/msgr.pc
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
	# for the default prefix and for /usr.
	local root d=/nonexistent/msgr-destdir lines bad
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	for prefix in /usr/local /usr; do
		lines=$(make --no-print-directory -s -n -C "$root" install DESTDIR=$d PREFIX=$prefix \
			BUILD="$(dirname "$BIN")" | grep -E '^\s*(install|ln) ' | grep -v '^\s*echo') || true
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

run install-files t_install_files
run install-destdir-only t_install_destdir_only
run install-pkgconfig t_install_pkgconfig
