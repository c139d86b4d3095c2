# msgrd - top-level Makefile. All output goes under build/ (BUILD=... to move it).
# make V=1 shows the commands. PREFIX and DESTDIR work as usual.

PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
SBINDIR   ?= $(PREFIX)/sbin
LIBDIR    ?= $(PREFIX)/lib
INCDIR    ?= $(PREFIX)/include
MANDIR    ?= $(PREFIX)/share/man
# GNU convention: $(PREFIX)/etc, so an install under a prefix stays there;
# packages pass SYSCONFDIR=/etc. msgrd and msgrctl are built with it
# (MSGR_SYSCONFDIR), so they find the msgrd.conf that install writes.
SYSCONFDIR ?= $(PREFIX)/etc
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
# The msgr Python package (python/msgr, pure Python over ctypes): under /usr
# in Debian's version-independent dist-packages; under another prefix in
# the folder Debian's python3 searches for /usr/local, by its version.
PYTHON3   ?= $(firstword $(wildcard /usr/bin/python3) python3)
PYTHONDIR ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(shell \
             $(PYTHON3) -c 'import sys; print("%d.%d" % sys.version_info[:2])')/dist-packages)
INSTALL   ?= install
BUILD     ?= build

CC        ?= cc
PKG_CONFIG ?= pkg-config
SOVERSION := 0
LIBVERSION := 0.1.0

# Debian packages we need, by the pkg-config module each provides.
DEPS_PC   := libuv:libuv1-dev check:check inih:libinih-dev libsystemd:libsystemd-dev json-c:libjson-c-dev \
             libcrypto:libssl-dev libsodium:libsodium-dev libzmq:libzmq3-dev \
             libmicrohttpd:libmicrohttpd-dev libibverbs:libibverbs-dev librdmacm:librdmacm-dev
DEPS_BIN  := clang:clang python3:python3 ss:iproute2 mandoc:mandoc systemd-analyze:systemd ceph:ceph-common \
             iptables:iptables gnuplot:gnuplot-nox \
             curl:curl logrotate:logrotate

# CFLAGS/LDFLAGS are the user's (and the sanitizer builds'); the flags the
# code needs live in MSGR_CFLAGS/MSGR_LDFLAGS so a command-line CFLAGS=
# cannot drop them.
CFLAGS    ?= -O2 -g
MSGR_CFLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter \
             -fno-strict-aliasing -pthread -MMD -MP -Iinclude -I.
ifdef CI
MSGR_CFLAGS += -Werror
endif
MSGR_LDFLAGS := -pthread

ifeq ($(V),1)
Q :=
else
Q := @
endif

PC_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
PC_LIBS   = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null)

SHM_SRC    := shm/ring.c shm/pool.c shm/segment.c
COMMON_SRC := common/log.c common/addr.c common/crc32c.c common/vec.c
LIB_SRC    := libclient/client.c libclient/conn.c libclient/strerror.c $(SHM_SRC) common/addr.c
# The RDMA transport: rdma.c and its state machine, the engine, and the two
# verbs shims (the fake is built in; msgrd refuses it without global.inject).
RDMA_SRC   := transports/rdma.c transports/rdma_state.c transports/rdma_engine.c transports/rdma_fake.c \
              transports/rdma_verbs.c
NET_SRC    := transports/transport.c transports/tcp.c transports/fault.c $(RDMA_SRC) daemon/frame.c daemon/seal.c daemon/auth.c daemon/rxacct.c daemon/link_state.c daemon/link.c daemon/link_in.c daemon/links.c daemon/handshake.c daemon/session_state.c daemon/session.c daemon/handover.c daemon/net.c
# Everything of msgrd but main(): the fuzzers link it with a fake transport.
CORE_SRC   := daemon/config.c daemon/policy.c daemon/client.c daemon/conntab.c daemon/outbox.c daemon/registry.c \
              daemon/cmd.c daemon/channel_state.c daemon/channel.c daemon/chans.c daemon/attach.c daemon/ctl.c daemon/ctl_cmds.c daemon/metrics.c \
              $(NET_SRC) $(SHM_SRC) $(COMMON_SRC)
# metrics_http.c alone links libmicrohttpd, so the fuzzers do not
DAEMON_SRC := daemon/main.c daemon/metrics_http.c $(CORE_SRC)
CTL_SRC    := ctl/msgrctl.c common/log.c
BENCH_SRC  := $(wildcard bench/*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
pic = $(patsubst %.c,$(BUILD)/pic/%.o,$(1))

LIBMSGR_SO := $(BUILD)/lib/libmsgr.so.$(LIBVERSION)
LIBMSGR_A  := $(BUILD)/lib/libmsgr.a
MSGRD      := $(BUILD)/bin/msgrd
MSGRCTL    := $(BUILD)/bin/msgrctl
BENCH      := $(BUILD)/bin/msgr-bench

UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
ITEST_SRC  := $(wildcard tests/integration/*.c)
ITEST_BIN  := $(patsubst tests/integration/%.c,$(BUILD)/tests/%,$(ITEST_SRC))

.PHONY: all deps check check-unit check-integration check-asan check-tsan check-fuzz fuzz-long soak demo bench \
        clean install uninstall
DEMO       := $(BUILD)/bin/msgr-demo
EXAMPLE    := $(BUILD)/bin/msgr-hello

all: $(MSGRD) $(MSGRCTL) $(LIBMSGR_SO) $(LIBMSGR_A) $(BENCH) $(DEMO) $(EXAMPLE)

# deps: install whatever pkg-config or PATH cannot find (Debian, as root).
deps:
	@missing=""; \
	for d in $(DEPS_PC); do $(PKG_CONFIG) --exists $${d%%:*} 2>/dev/null || missing="$$missing $${d#*:}"; done; \
	for d in $(DEPS_BIN); do command -v $${d%%:*} >/dev/null 2>&1 || [ -x /usr/sbin/$${d%%:*} ] || missing="$$missing $${d#*:}"; done; \
	command -v $(PKG_CONFIG) >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	python3 -c 'import cryptography.hazmat.primitives.ciphers.aead' 2>/dev/null || \
		missing="$$missing python3-cryptography"; \
	/usr/bin/python3 -c 'import prometheus_client.parser' 2>/dev/null || \
		missing="$$missing python3-prometheus-client"; \
	ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1 || \
		missing="$$missing libclang-rt-14-dev"; \
	if [ -n "$$missing" ]; then \
		echo "deps: installing$$missing"; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@# promtool, for the /metrics test: unpacked from Debian's prometheus
	@# package, not installed (that would add a server and start it)
	@# (a sanitizer build, $(BUILD)/asan, uses its parent's)
	@command -v promtool >/dev/null 2>&1 || [ -x $(BUILD)/tools/promtool ] || \
	[ -x $(BUILD)/../tools/promtool ] || { \
		echo "deps: unpacking promtool from Debian's prometheus package into $(BUILD)/tools"; \
		t=$$(mktemp -d) && chmod 755 $$t && cd $$t && \
		{ apt-get download prometheus >/dev/null 2>&1 || \
		  { apt-get update -qq && apt-get download prometheus >/dev/null 2>&1; }; } && \
		dpkg-deb -x prometheus_*.deb x && mkdir -p $(abspath $(BUILD))/tools && \
		cp x/usr/bin/promtool $(abspath $(BUILD))/tools/; \
		cd / && rm -rf $$t; \
		[ -x $(abspath $(BUILD))/tools/promtool ] || echo "deps: no promtool: the /metrics test checks with python3-prometheus-client only"; \
	}

$(BUILD)/.deps-ok: Makefile
	$(Q)$(MAKE) --no-print-directory deps
	$(Q)mkdir -p $(@D) && touch $@

DEP_CFLAGS = $(call PC_CFLAGS,libuv inih libsystemd json-c libcrypto libsodium)
DEP_LIBS   = $(call PC_LIBS,libuv inih libsystemd json-c libcrypto libsodium)

$(BUILD)/obj/%.o: %.c | $(BUILD)/.deps-ok
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(CC) $(MSGR_CFLAGS) $(CFLAGS) $(DEP_CFLAGS) -c -o $@ $<

$(BUILD)/pic/%.o: %.c | $(BUILD)/.deps-ok
	@mkdir -p $(@D)
	$(if $(Q),@echo "  CC [pic] $<")
	$(Q)$(CC) $(MSGR_CFLAGS) $(CFLAGS) -fPIC -c -o $@ $<

$(LIBMSGR_SO): $(call pic,$(LIB_SRC)) libclient/libmsgr.map
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,libmsgr.so.$(SOVERSION) -Wl,--version-script=libclient/libmsgr.map \
		$(MSGR_LDFLAGS) $(LDFLAGS) -o $@ $(call pic,$(LIB_SRC))
	$(Q)ln -sf libmsgr.so.$(LIBVERSION) $(BUILD)/lib/libmsgr.so.$(SOVERSION)
	$(Q)ln -sf libmsgr.so.$(SOVERSION) $(BUILD)/lib/libmsgr.so

$(LIBMSGR_A): $(call pic,$(LIB_SRC))
	@mkdir -p $(@D)
	$(Q)rm -f $@ && ar rcs $@ $^

$(MSGRD): $(call obj,$(DAEMON_SRC))
	@mkdir -p $(@D)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(MSGR_LDFLAGS) $(LDFLAGS) -o $@ $^ $(DEP_LIBS) $(call PC_LIBS,libmicrohttpd) \
		$(call PC_LIBS,libibverbs librdmacm)

$(call obj,daemon/metrics_http.c): DEP_CFLAGS += $(call PC_CFLAGS,libmicrohttpd)
# The verbs shim (and its test) alone include the verbs and rdma_cm headers.
$(call obj,transports/rdma_verbs.c tests/unit/test_rdma_verbs.c): DEP_CFLAGS += $(call PC_CFLAGS,libibverbs librdmacm)

$(MSGRCTL): $(call obj,$(CTL_SRC))
	@mkdir -p $(@D)
	$(Q)$(CC) $(MSGR_LDFLAGS) $(LDFLAGS) -o $@ $^ $(call PC_LIBS,json-c inih)

# The built-in msgrd.conf and keyring paths follow SYSCONFDIR; a new one
# rebuilds just these (install-paths changes only when a path does).
SYSCONF_OBJ := $(call obj,daemon/config.c daemon/main.c ctl/msgrctl.c)
$(SYSCONF_OBJ): MSGR_CFLAGS += -DMSGR_SYSCONFDIR='"$(SYSCONFDIR)"'
$(SYSCONF_OBJ): $(BUILD)/install-paths

# msgr-bench alone links libzmq (its zmq baselines); it finds bench/plot.gp by the source path.
$(call obj,$(BENCH_SRC)): DEP_CFLAGS += $(call PC_CFLAGS,libzmq) -DBENCH_SRCDIR='"$(CURDIR)/bench"'

$(BENCH): $(call obj,$(BENCH_SRC)) $(LIBMSGR_SO)
	@mkdir -p $(@D)
	$(Q)$(CC) $(MSGR_LDFLAGS) $(LDFLAGS) -o $@ $(call obj,$(BENCH_SRC)) $(call obj,$(SHM_SRC)) -L$(BUILD)/lib -lmsgr \
		$(call PC_LIBS,libzmq) -Wl,-rpath,'$$ORIGIN/../lib'

$(BENCH): $(call obj,$(SHM_SRC))

# Unit tests link the internal objects they test directly.
$(BUILD)/tests/test_%: $(BUILD)/obj/tests/unit/test_%.o $(call obj,$(SHM_SRC) $(COMMON_SRC) daemon/config.c daemon/policy.c daemon/frame.c daemon/seal.c daemon/auth.c daemon/handshake.c daemon/link_state.c daemon/session_state.c daemon/channel_state.c transports/transport.c transports/tcp.c transports/fault.c $(RDMA_SRC))
	@mkdir -p $(@D)
	$(Q)$(CC) $(MSGR_LDFLAGS) $(LDFLAGS) -o $@ $^ $(call PC_LIBS,check inih libuv libcrypto libsodium libibverbs librdmacm)

# Integration test programs link libmsgr like an application would.
$(ITEST_BIN): $(BUILD)/tests/%: $(BUILD)/obj/tests/integration/%.o $(LIBMSGR_SO)
	@mkdir -p $(@D)
	$(Q)$(CC) $(MSGR_LDFLAGS) $(LDFLAGS) -o $@ $< $(call obj,$(SHM_SRC)) -L$(BUILD)/lib -lmsgr -Wl,-rpath,'$$ORIGIN/../lib'

$(ITEST_BIN): $(call obj,$(SHM_SRC))

$(DEMO): $(BUILD)/obj/examples/msgr-demo.o $(LIBMSGR_SO)
	@mkdir -p $(@D)
	$(Q)$(CC) $(MSGR_LDFLAGS) $(LDFLAGS) -o $@ $< -L$(BUILD)/lib -lmsgr -Wl,-rpath,'$$ORIGIN/../lib'

$(EXAMPLE): $(BUILD)/obj/examples/hello.o $(LIBMSGR_SO)
	@mkdir -p $(@D)
	$(Q)$(CC) $(MSGR_LDFLAGS) $(LDFLAGS) -o $@ $< -L$(BUILD)/lib -lmsgr -Wl,-rpath,'$$ORIGIN/../lib'

check: check-build check-layers check-unit check-integration check-tsan check-fuzz check-asan

# What make check runs, built first on every core: the test steps then run
# one after another (within one, integration tests run two at a time:
# tests/run-integration.sh), but compiling need not wait for them. Both
# trees, the plain one and ASan's.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
ASAN_MAKE = $(MAKE) --no-print-directory BUILD=$(BUILD)/asan CC=$(CC) \
	CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	LDFLAGS="-fsanitize=address,undefined" MSGR_QUICK=1 MSGR_SANITIZED=1
.PHONY: check-build check-bins
check-bins: $(UNIT_BIN) $(ITEST_BIN) $(MSGRD) $(MSGRCTL) $(LIBMSGR_SO) $(LIBMSGR_A) $(DEMO) $(EXAMPLE)
check-build: | $(BUILD)/.deps-ok
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) check-bins $(FUZZERS) $(BENCH)
	$(Q)$(ASAN_MAKE) -j$(JOBS) check-bins

# Calls and includes inside the daemon go down only (tests/layers.txt): first, as it is fast.
.PHONY: check-layers
check-layers: $(call obj,$(sort $(shell find daemon transports common shm -name '*.c' 2>/dev/null)))
	@CC='$(CC)' bash tests/check-layers.sh --self-test
	@BUILD='$(BUILD)' bash tests/check-layers.sh

check-unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; CK_DEFAULT_TIMEOUT=600 $$t; done

# msgr-bench for bench-idle-smoke, which runs in the plain build only
check-integration: $(MSGRD) $(MSGRCTL) $(LIBMSGR_SO) $(LIBMSGR_A) $(ITEST_BIN) $(DEMO) $(EXAMPLE) \
		   $(if $(MSGR_SANITIZED),,$(BENCH))
	@BUILD=$(abspath $(BUILD)) bash tests/run-integration.sh

# The same tests, built with AddressSanitizer and UBSan in their own tree.
check-asan:
	$(Q)$(ASAN_MAKE) check-unit check-integration

# The lock-free ring tests under ThreadSanitizer.
export MSGR_QUICK MSGR_SANITIZED

check-tsan:
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/tsan CC=clang \
		CFLAGS="-O1 -g -fsanitize=thread" LDFLAGS="-fsanitize=thread" \
		$(BUILD)/tsan/tests/test_ring
	$(Q)MSGR_QUICK=1 $(BUILD)/tsan/tests/test_ring

# libFuzzer: fuzz_frame over the wire decoder alone, fuzz_session over the
# daemon's core behind a fake transport (handshake, channel frames, delivery
# into a client), fuzz_rdma over the RDMA engine's hello, header and
# credits. A short pass of each in make check, a long one on request
# (FUZZ_SECONDS=N is per fuzzer, for any).
FUZZ_SECONDS ?= 10
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Werror -g -O1 -I. -Iinclude \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZERS := $(BUILD)/fuzz/fuzz_frame $(BUILD)/fuzz/fuzz_session $(BUILD)/fuzz/fuzz_rdma
$(BUILD)/fuzz/fuzz_frame: tests/fuzz/fuzz_frame.c $(wildcard tests/fuzz/*.h) daemon/frame.c daemon/seal.c common/crc32c.c daemon/frame.h daemon/seal.h common/crc32c.h | $(BUILD)/.deps-ok
	@mkdir -p $(@D)
	$(if $(Q),@echo "  FUZZ    $@")
	$(Q)clang $(FUZZ_FLAGS) $(call PC_CFLAGS,libcrypto) -o $@ tests/fuzz/fuzz_frame.c daemon/frame.c daemon/seal.c \
		common/crc32c.c $(call PC_LIBS,libcrypto) -pthread

# fuzz_rdma: the RDMA engine's hello, header and credits, all a peer controls.
$(BUILD)/fuzz/fuzz_rdma: tests/fuzz/fuzz_rdma.c transports/rdma_engine.c transports/rdma_engine.h transports/rdma_shim.h | $(BUILD)/.deps-ok
	@mkdir -p $(@D)
	$(if $(Q),@echo "  FUZZ    $@")
	$(Q)clang $(FUZZ_FLAGS) -o $@ tests/fuzz/fuzz_rdma.c transports/rdma_engine.c

$(BUILD)/fuzz/fuzz_session: tests/fuzz/fuzz_session.c $(wildcard tests/fuzz/*.h) $(CORE_SRC) $(wildcard daemon/*.h shm/*.h common/*.h transports/*.h) | $(BUILD)/.deps-ok
	@mkdir -p $(@D)
	$(if $(Q),@echo "  FUZZ    $@")
	$(Q)clang $(FUZZ_FLAGS) $(call PC_CFLAGS,libuv inih json-c libcrypto libsodium libibverbs librdmacm) -o $@ tests/fuzz/fuzz_session.c \
		$(CORE_SRC) $(call PC_LIBS,libuv inih json-c libcrypto libsodium libibverbs librdmacm) -pthread

check-fuzz: $(FUZZERS)
	@set -e; for f in $(FUZZERS); do \
		n=$${f##*/}; mkdir -p $(BUILD)/fuzz/corpus-$$n; \
		echo "== $$n for $(FUZZ_SECONDS) s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(BUILD)/fuzz/corpus-$$n \
			2>$(BUILD)/fuzz/$$n.log || { tail -50 $(BUILD)/fuzz/$$n.log; exit 1; }; \
		grep -E 'stat::number_of_executed_units|stat::peak_rss' $(BUILD)/fuzz/$$n.log; \
	done

# Long runs that do not belong in make check.
soak: $(MSGRD) $(MSGRCTL) $(ITEST_BIN)
	@BUILD=$(abspath $(BUILD)) bash tests/soak.sh
	@# the lossless streams at their long length (PROTOCOL.md 5a)
	@BUILD=$(abspath $(BUILD)) LOSSLESS_N=200000 LOSSLESS_MAX=1048576 LOSSLESS_TIMEOUT=900 \
		LOSSLESS_ROUNDS=500 LOSSLESS_RESTARTS=200 ONLY='lossless-*' bash tests/run-integration.sh

fuzz-long:
	$(Q)$(MAKE) --no-print-directory check-fuzz FUZZ_SECONDS=$${FUZZ_SECONDS:-1800}

demo: $(MSGRD) $(MSGRCTL) $(DEMO)
	@bash examples/demo.sh $(abspath $(BUILD))

bench: all
	@$(BENCH)

# install: PREFIX=/usr SYSCONFDIR=/etc DESTDIR=/tmp/stage etc. Without
# DESTDIR, run systemd-sysusers, systemd-tmpfiles --create and systemctl
# daemon-reload afterwards (a package does that in its scripts). An
# existing msgrd.conf is kept. uninstall removes what install wrote, but
# keeps an msgrd.conf that differs from the shipped one, and the keyring.
PC_FILE    := $(BUILD)/msgr.pc
UNIT_FILE  := $(BUILD)/systemd/msgrd.service
TMPFILES_FILE := $(BUILD)/systemd/msgrd.tmpfiles
LOGROTATE_FILE := $(BUILD)/msgrd.logrotate
LOGROTATEDIR ?= $(SYSCONFDIR)/logrotate.d
MAN_PAGES  := $(wildcard man/*.3 man/*.5 man/*.8)
MAN_OUT    := $(patsubst man/%,$(BUILD)/man/%,$(MAN_PAGES))
CONF_DEST  := $(DESTDIR)$(SYSCONFDIR)/msgrd/msgrd.conf
CONF_OUT   := $(BUILD)/msgrd.conf
PY_SRC     := $(wildcard python/msgr/*.py)
PY_OUT     := $(patsubst python/%,$(BUILD)/python/%,$(PY_SRC))

install: $(MSGRD) $(MSGRCTL) $(LIBMSGR_SO) $(LIBMSGR_A) $(PC_FILE) $(UNIT_FILE) $(TMPFILES_FILE) $(LOGROTATE_FILE) $(MAN_OUT) $(CONF_OUT) $(PY_OUT)
	$(INSTALL) -D -m 0755 $(MSGRD) $(DESTDIR)$(SBINDIR)/msgrd
	$(INSTALL) -D -m 0755 $(MSGRCTL) $(DESTDIR)$(BINDIR)/msgrctl
	$(INSTALL) -D -m 0755 $(LIBMSGR_SO) $(DESTDIR)$(LIBDIR)/libmsgr.so.$(LIBVERSION)
	ln -sf libmsgr.so.$(LIBVERSION) $(DESTDIR)$(LIBDIR)/libmsgr.so.$(SOVERSION)
	ln -sf libmsgr.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libmsgr.so
	$(INSTALL) -D -m 0644 $(LIBMSGR_A) $(DESTDIR)$(LIBDIR)/libmsgr.a
	$(INSTALL) -D -m 0644 include/msgr.h $(DESTDIR)$(INCDIR)/msgr.h
	$(INSTALL) -D -m 0644 $(PC_FILE) $(DESTDIR)$(PKGCONFIGDIR)/msgr.pc
	for p in $(MAN_OUT); do \
		$(INSTALL) -D -m 0644 $$p $(DESTDIR)$(MANDIR)/man$${p##*.}/$${p##*/} || exit 1; \
	done
	for f in $(PY_OUT); do \
		$(INSTALL) -D -m 0644 $$f $(DESTDIR)$(PYTHONDIR)/msgr/$${f##*/} || exit 1; \
	done
	$(INSTALL) -D -m 0644 $(UNIT_FILE) $(DESTDIR)$(SYSTEMDUNITDIR)/msgrd.service
	$(INSTALL) -D -m 0644 systemd/msgrd.sysusers $(DESTDIR)$(SYSUSERSDIR)/msgrd.conf
	$(INSTALL) -D -m 0644 $(TMPFILES_FILE) $(DESTDIR)$(TMPFILESDIR)/msgrd.conf
	$(INSTALL) -D -m 0644 $(LOGROTATE_FILE) $(DESTDIR)$(LOGROTATEDIR)/msgrd
	@if [ -e $(CONF_DEST) ]; then \
		echo "keeping $(CONF_DEST)"; \
	else \
		echo "$(INSTALL) -D -m 0644 $(CONF_OUT) $(CONF_DEST)"; \
		$(INSTALL) -D -m 0644 $(CONF_OUT) $(CONF_DEST); \
	fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/msgrd $(DESTDIR)$(BINDIR)/msgrctl
	rm -f $(DESTDIR)$(LIBDIR)/libmsgr.so.$(LIBVERSION) $(DESTDIR)$(LIBDIR)/libmsgr.so.$(SOVERSION) \
		$(DESTDIR)$(LIBDIR)/libmsgr.so $(DESTDIR)$(LIBDIR)/libmsgr.a
	rm -f $(DESTDIR)$(INCDIR)/msgr.h $(DESTDIR)$(PKGCONFIGDIR)/msgr.pc
	rm -f $(foreach p,$(MAN_PAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(p)))/$(notdir $(p)))
	@# and what python3 compiled from the package when root imported it
	rm -f $(foreach f,$(PY_SRC),$(DESTDIR)$(PYTHONDIR)/msgr/$(notdir $(f)))
	rm -rf $(DESTDIR)$(PYTHONDIR)/msgr/__pycache__
	rmdir $(DESTDIR)$(PYTHONDIR)/msgr 2>/dev/null || true
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/msgrd.service $(DESTDIR)$(SYSUSERSDIR)/msgrd.conf \
		$(DESTDIR)$(TMPFILESDIR)/msgrd.conf $(DESTDIR)$(LOGROTATEDIR)/msgrd
	-@rmdir $(DESTDIR)$(LOGROTATEDIR) 2>/dev/null || true
	@# an administrator's edits are theirs to remove; so is the cluster key
	@if [ -e $(CONF_DEST) ] && ! cmp -s $(CONF_OUT) $(CONF_DEST); then \
		echo "keeping $(CONF_DEST): it differs from the shipped one"; \
	else \
		echo "rm -f $(CONF_DEST)"; rm -f $(CONF_DEST); \
		rmdir $(DESTDIR)$(SYSCONFDIR)/msgrd 2>/dev/null || true; \
	fi

# msgr.pc, msgrd.service, msgrd.tmpfiles, the man pages and the objects
# that know SYSCONFDIR carry install paths. The stamp changes only when
# those do, so they are rewritten for a new PREFIX and not otherwise.
INSTALL_PATHS := $(PREFIX) $(BINDIR) $(SBINDIR) $(LIBDIR) $(INCDIR) $(SYSCONFDIR) $(LIBVERSION)

$(BUILD)/install-paths: FORCE
	@mkdir -p $(@D)
	@[ "$$(cat $@ 2>/dev/null)" = '$(INSTALL_PATHS)' ] || echo '$(INSTALL_PATHS)' >$@

$(PC_FILE): libclient/msgr.pc.in $(BUILD)/install-paths
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' \
		-e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
		-e 's|@INCDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCDIR))|' \
		-e 's|@VERSION@|$(LIBVERSION)|' $< >$@.tmp && mv $@.tmp $@

$(UNIT_FILE): systemd/msgrd.service.in $(BUILD)/install-paths
	@mkdir -p $(@D)
	$(Q)sed -e 's|@SBINDIR@|$(SBINDIR)|' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $< >$@.tmp && mv $@.tmp $@

$(TMPFILES_FILE): systemd/msgrd.tmpfiles.in $(BUILD)/install-paths
	@mkdir -p $(@D)
	$(Q)sed -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $< >$@.tmp && mv $@.tmp $@

# The package loads the libmsgr installed beside it: _abi.py gets LIBDIR.
$(BUILD)/python/msgr/%.py: python/msgr/%.py $(BUILD)/install-paths
	@mkdir -p $(@D)
	$(Q)sed -e 's|^LIBDIR = "@LIBDIR@"$$|LIBDIR = "$(LIBDIR)"|' $< >$@.tmp && mv $@.tmp $@

$(LOGROTATE_FILE): conf/msgrd.logrotate.in $(BUILD)/install-paths
	@mkdir -p $(@D)
	$(Q)sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' $< >$@.tmp && mv $@.tmp $@

# The shipped msgrd.conf and the pages say /etc/msgrd, where packages
# (SYSCONFDIR=/etc) put it.
$(CONF_OUT): conf/msgrd.conf $(BUILD)/install-paths
	@mkdir -p $(@D)
	$(Q)sed -e 's|/etc/msgrd|$(SYSCONFDIR)/msgrd|g' $< >$@.tmp && mv $@.tmp $@

$(BUILD)/man/%: man/% $(BUILD)/install-paths
	@mkdir -p $(@D)
	$(Q)sed -e 's|/etc/msgrd|$(SYSCONFDIR)/msgrd|g' $< >$@.tmp && mv $@.tmp $@

FORCE:
.PHONY: FORCE

clean:
	rm -rf $(BUILD)

.SECONDARY:

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
