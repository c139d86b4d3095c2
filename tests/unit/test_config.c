/* Unit tests for daemon/config.c and common/addr.c. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/log.h"
#include "daemon/config.h"
#include "tests/unit/unit.h"

static char err[512];

static const char *write_tmp(const char *text)
{
	static char path[64];
	FILE *f;

	strcpy(path, "/tmp/msgr-conf-XXXXXX");
	close(mkstemp(path));
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

START_TEST(test_defaults)
{
	struct msgr__conf c;

	msgr__conf_defaults(&c);
	ck_assert_str_eq(c.net.listen, "127.0.0.1:6800");
	ck_assert_str_eq(c.client.socket, "/run/msgrd/msgrd.sock");
	ck_assert_str_eq(c.ctl.socket, "/run/msgrd/msgrd.asok");
	ck_assert_uint_eq(c.client.pool_size, 32u << 20);
	ck_assert_uint_eq(c.net.max_message, 16u << 20);
	ck_assert_int_eq(c.log_level, MSGR__LOG_INFO);
}
END_TEST

START_TEST(test_set)
{
	struct msgr__conf c;

	msgr__conf_defaults(&c);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.poll_us=7", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.client.poll_us, 7);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.pool_size=4M", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.client.pool_size, 4u << 20);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.listen=[::1]:7000", err, sizeof(err)), 0);
	ck_assert_str_eq(c.net.listen, "[::1]:7000");
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.log_level=debug", err, sizeof(err)), 0);
	ck_assert_int_eq(c.log_level, MSGR__LOG_DEBUG);

	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.nope=1", err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "unknown key 'global.nope'");
	ck_assert_int_eq(msgr__conf_set_arg(&c, "nodot=1", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.poll_us", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.poll_us=-1", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.poll_us=5M", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.pool_size=1K", err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "out of range"));
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.pool_size=12Q", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.socket=relative", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.listen=host", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.log_level=loud", err, sizeof(err)), -EINVAL);
	/* a rejected value leaves the old one */
	ck_assert_uint_eq(c.client.poll_us, 7);
	ck_assert_uint_eq(c.client.pool_size, 4u << 20);
}
END_TEST

START_TEST(test_file)
{
	struct msgr__conf c;
	const char *p;

	msgr__conf_defaults(&c);
	p = write_tmp("; comment\n[global]\nlisten = 10.0.0.1:6801\npoll_us = 0\n");
	ck_assert_int_eq(msgr__conf_load(&c, p, err, sizeof(err)), 0);
	ck_assert_str_eq(c.net.listen, "10.0.0.1:6801");
	ck_assert_uint_eq(c.client.poll_us, 0);
	unlink(p);

	p = write_tmp("[global]\npoll_us = 1\n\nmax_clients = 0\n");
	ck_assert_int_eq(msgr__conf_load(&c, p, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":4: global.max_clients: 0 is out of range"));
	unlink(p);

	p = write_tmp("[global]\nthis line is not ini\n");
	ck_assert_int_eq(msgr__conf_load(&c, p, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":2: syntax error"));
	unlink(p);

	p = write_tmp("[other]\nlisten = 1.2.3.4:5\n");
	ck_assert_int_eq(msgr__conf_load(&c, p, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":2: unknown key 'other.listen'"));
	unlink(p);
}
END_TEST

/* conf/msgrd.conf documents every default: uncommented, it must load and
 * change nothing. */
START_TEST(test_shipped_file)
{
	struct msgr__conf def, c;
	char line[512], path[] = "/tmp/msgr-conf-XXXXXX";
	FILE *in = fopen("conf/msgrd.conf", "r"), *out;
	int keys = 0, sysconf_len;

	ck_assert_ptr_nonnull(in);
	/* The file says /etc/msgrd, where packages (SYSCONFDIR=/etc) put it;
	 * `make install` writes SYSCONFDIR's folder instead, the one the
	 * built-in keyring path names, and so does this test. */
	msgr__conf_defaults(&def);
	ck_assert_ptr_nonnull(strstr(def.net.keyring, "/msgrd/keyring"));
	sysconf_len = (int)(strstr(def.net.keyring, "/msgrd/keyring") - def.net.keyring);
	close(mkstemp(path));
	out = fopen(path, "w");
	while (fgets(line, sizeof(line), in)) {
		if (line[0] == ';' && line[1] >= 'a' && line[1] <= 'z' && strchr(line, '=')) {
			char *etc = strstr(line, "/etc/msgrd/");
			if (etc)
				fprintf(out, "%.*s%.*s%s", (int)(etc - line - 1), line + 1, sysconf_len,
					def.net.keyring, etc + 4);
			else
				fputs(line + 1, out);
			keys++;
		} else {
			fputs(line, out);
		}
	}
	fclose(in);
	fclose(out);
	msgr__conf_defaults(&c);
	c.client.poll_us = 12345; /* must be overwritten by the file */
	ck_assert_int_eq(msgr__conf_load(&c, path, err, sizeof(err)), 0);
	ck_assert_int_eq(keys, (int)msgr__conf_nkeys());
	ck_assert_int_eq(memcmp(&c, &def, sizeof(c)), 0);
	unlink(path);
}
END_TEST

/* Durations and the auth mode: what is accepted, what is refused, and the
 * rule between the two keepalive keys. */
START_TEST(test_net_keys)
{
	struct msgr__conf c;
	char val[64];
	int i;

	msgr__conf_defaults(&c);
	ck_assert_uint_eq(c.net.connect_timeout_ms, 5000);
	ck_assert_uint_eq(c.net.keepalive_interval_ms, 1000);
	ck_assert_uint_eq(c.net.keepalive_timeout_ms, 10000);
	ck_assert_int_eq(c.net.auth_mode, MSGR__AUTH_HMAC);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.connect_timeout=250ms", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.net.connect_timeout_ms, 250);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.connect_timeout=2m", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.net.connect_timeout_ms, 120000);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.connect_timeout=1500", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.net.connect_timeout_ms, 1500);
	i = msgr__conf_find("net.connect_timeout");
	msgr__conf_key_value(&c, (size_t)i, val, sizeof(val));
	ck_assert_str_eq(val, "1500ms");
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.connect_timeout=3s", err, sizeof(err)), 0);
	msgr__conf_key_value(&c, (size_t)i, val, sizeof(val));
	ck_assert_str_eq(val, "3s");
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.connect_timeout=5y", err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "is not a duration"));
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.connect_timeout=-1s", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.connect_timeout=99ms", err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "out of range"));
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.keepalive_interval=99999999999999999999s", err,
					    sizeof(err)), -EINVAL);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.links_per_session=2", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "auth.mode=none", err, sizeof(err)), 0);
	ck_assert_int_eq(c.net.auth_mode, MSGR__AUTH_NONE);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "auth.mode=kerberos", err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "is not hmac, secure or none"));
	ck_assert_int_eq(msgr__conf_set_arg(&c, "auth.mode=secure", err, sizeof(err)), 0);
	ck_assert_int_eq(c.net.auth_mode, MSGR__AUTH_SECURE);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.session_buffer=512K", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.handshake_timeout=1s", err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__conf_check(&c, err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.keepalive_timeout=1s", err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__conf_check(&c, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "must be longer than net.keepalive_interval"));
}
END_TEST

/* The control socket's keys, and global.inject: set at start-up only, so
 * the control socket cannot switch injection on. */
START_TEST(test_ctl_keys)
{
	struct msgr__conf c;

	msgr__conf_defaults(&c);
	ck_assert_uint_eq(c.ctl.timeout_ms, 5000);
	ck_assert_uint_eq(c.ctl.max_conns, 16);
	ck_assert_int_eq(c.inject, 0);
	ck_assert_int_eq(msgr__conf_key_live((size_t)msgr__conf_find("global.inject")), 0);
	ck_assert_int_eq(msgr__conf_key_live((size_t)msgr__conf_find("global.ctl_timeout")), 1);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.ctl_timeout=50ms", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.ctl_max_conns=0", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.ctl_max_conns=2", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.ctl.max_conns, 2);
}
END_TEST

/* net.transport takes registered names only; the injection keys are live,
 * and any nonzero value is refused unless global.inject is on, in whatever
 * order the keys were set. */
START_TEST(test_transport_keys)
{
	struct msgr__conf c;

	msgr__conf_defaults(&c);
	ck_assert_str_eq(c.net.transport, "tcp");
	ck_assert_uint_eq(c.net.fault.socket_failures, 0);
	ck_assert_uint_eq(c.net.fault.delay_ms, 0);
	ck_assert_int_eq(msgr__conf_check(&c, err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__conf_key_live((size_t)msgr__conf_find("net.transport")), 0);
	ck_assert_int_eq(msgr__conf_key_live((size_t)msgr__conf_find("net.inject_socket_failures")), 1);
	ck_assert_int_eq(msgr__conf_key_live((size_t)msgr__conf_find("net.inject_delay")), 1);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.transport=verbs", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "net.transport: 'verbs' is not a transport built into msgrd (known: tcp, rdma, rdma-fake)");
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.transport=rdma", err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__conf_check(&c, err, sizeof(err)), 0);
	/* the fake device only with fault injection on */
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.transport=rdma-fake", err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__conf_check(&c, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "net.transport = rdma-fake is for tests and needs global.inject = true"));
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.transport=tcp", err, sizeof(err)), 0);
	/* the [rdma] keys: defaults and ranges */
	ck_assert_uint_eq(c.net.tconf.rdma_recv_depth, 32);
	ck_assert_uint_eq(c.net.tconf.rdma_recv_size, 65536);
	ck_assert_uint_eq(c.net.tconf.rdma_send_slots, 32);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "rdma.recv_depth=1025", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "rdma.recv_depth: 1025 is out of range 1..1024");
	ck_assert_int_eq(msgr__conf_set_arg(&c, "rdma.recv_size=1k", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "rdma.recv_size=16K", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.net.tconf.rdma_recv_size, 16384);

	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.inject_socket_failures=20", err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__conf_check(&c, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "net.inject_socket_failures: fault injection needs global.inject = true (set at start-up)");
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.inject_socket_failures=0", err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.inject_delay=250ms", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.net.fault.delay_ms, 250);
	ck_assert_int_eq(msgr__conf_check(&c, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "net.inject_delay: "));
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.inject=true", err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__conf_check(&c, err, sizeof(err)), 0);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.inject_delay=2m", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.inject_socket_failures=-1", err, sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(test_addr)
{
	char hp[MSGR__HOSTPORT_MAX], ent[MSGR__ENTITY_MAX];

	ck_assert_int_eq(msgr__entity_check("osd.3"), 0);
	ck_assert_int_eq(msgr__entity_check("client.admin-1_x"), 0);
	ck_assert_int_eq(msgr__entity_check("osd"), -EINVAL);
	ck_assert_int_eq(msgr__entity_check(".3"), -EINVAL);
	ck_assert_int_eq(msgr__entity_check("osd."), -EINVAL);
	ck_assert_int_eq(msgr__entity_check("OSD.3"), -EINVAL);
	ck_assert_int_eq(msgr__entity_check("osd.3/x"), -EINVAL);
	ck_assert_int_eq(msgr__entity_check("osd.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), -EINVAL);
	ck_assert_int_eq(msgr__hostport_check("127.0.0.1:6800"), 0);
	ck_assert_int_eq(msgr__hostport_check("[::1]:1"), 0);
	ck_assert_int_eq(msgr__hostport_check("::1:6800"), -EINVAL);
	ck_assert_int_eq(msgr__hostport_check("h:0"), -EINVAL);
	ck_assert_int_eq(msgr__hostport_check("h:06800"), -EINVAL); /* one spelling per port */
	{
		char k1[MSGR__HOSTPORT_MAX], k2[MSGR__HOSTPORT_MAX];
		msgr__source_key("10.0.0.1:5000", k1);
		ck_assert_str_eq(k1, "10.0.0.1");
		msgr__source_key("10.0.0.1:5001", k2);
		ck_assert_str_eq(k1, k2);
		msgr__source_key("10.0.0.2:5000", k2);
		ck_assert_str_ne(k1, k2);
		/* one IPv6 host holds a /64: any address in it is one source */
		msgr__source_key("[2001:db8:1:2::1]:6800", k1);
		msgr__source_key("[2001:db8:1:2:ffff:1:2:3]:9", k2);
		ck_assert_str_eq(k1, k2);
		ck_assert_str_eq(k1, "2001:0db8:0001:0002::/64");
		msgr__source_key("[2001:db8:1:3::1]:6800", k2);
		ck_assert_str_ne(k1, k2);
		msgr__source_key("[::ffff:10.0.0.1]:1", k2);
		ck_assert_str_eq(k2, "10.0.0.1");
		msgr__source_key("[not-v6]:1", k2);
		ck_assert_str_eq(k2, "[not-v6]");
	}
	ck_assert_int_eq(msgr__hostport_check("h:65536"), -EINVAL);
	ck_assert_int_eq(msgr__hostport_check("h:12x"), -EINVAL);
	ck_assert_int_eq(msgr__hostport_check(":12"), -EINVAL);
	ck_assert_int_eq(msgr__addr_split("10.1.2.3:6800/osd.12", hp, ent), 0);
	ck_assert_str_eq(hp, "10.1.2.3:6800");
	ck_assert_str_eq(ent, "osd.12");
	ck_assert_int_eq(msgr__addr_split("10.1.2.3:6800", hp, ent), -EINVAL);
	ck_assert_int_eq(msgr__addr_split("10.1.2.3/osd.1", hp, ent), -EINVAL);
}
END_TEST

/* Issue 13: sizes and durations with and without units; a bare number is
 * in the key's own unit, so no value written before changes meaning. */
START_TEST(test_units)
{
	struct msgr__conf c;
	char val[256];

	msgr__conf_defaults(&c);
	/* sizes: bare bytes, K M G T, KB, KiB, any case, a blank allowed */
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.pool_size=131072", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.client.pool_size, 128u << 10);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.pool_size=64KiB", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.client.pool_size, 64u << 10);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.pool_size=2 MB", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.client.pool_size, 2u << 20);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.pool_size=1g", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.client.pool_size, 1u << 30);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.session_buffer=1T", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.chan.session_buffer, 1ull << 40);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.pool_size=12Q", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "global.pool_size: '12Q' is not a size (bytes, or with a unit: 64K, 16M, 1G; powers of 1024)");
	/* ranges are printed in units */
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.pool_size=1K", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "global.pool_size: 1K is out of range 64K..1G");
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.keepalive_timeout=2h", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "net.keepalive_timeout: 2h is out of range 200ms..1h");
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.max_clients=0", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "global.max_clients: 0 is out of range 1..65536");

	/* durations in milliseconds: bare, ms, s, sec, m, min, h */
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.resume_timeout=1500", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.chan.resume_timeout_ms, 1500);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.resume_timeout=30 sec", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.chan.resume_timeout_ms, 30000);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.resume_timeout=2min", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.chan.resume_timeout_ms, 120000);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.resume_timeout=1h", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.chan.resume_timeout_ms, 3600000);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.resume_timeout=1d", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.chan.resume_timeout_ms, 86400000);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.resume_timeout=2000us", err, sizeof(err)), -EINVAL);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.connect_timeout=1500us", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "net.connect_timeout: '1500us' is not a whole number of milliseconds");
	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.connect_timeout=5M", err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "is not a duration (milliseconds, or with a unit"));

	/* poll_us stays a plain number of microseconds, as its name says */
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.poll_us=50", err, sizeof(err)), 0);
	ck_assert_uint_eq(c.client.poll_us, 50);
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.poll_us=2000000", err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "global.poll_us: 2000000 is out of range 0..1000000");

	/* help names the range in units */
	msgr__conf_key_help((size_t)msgr__conf_find("global.pool_size"), val, sizeof(val));
	ck_assert_ptr_nonnull(strstr(val, "64K..1G; default 32M; run time"));
}
END_TEST

/* Issue 13: a file as a Ceph admin writes it: comments after values, a key
 * before any section, a typo. */
START_TEST(test_admin_file)
{
	struct msgr__conf c;
	const char *p;

	msgr__conf_defaults(&c);
	p = write_tmp("# msgrd on host a\n[global]   # the daemon\n"
		      "listen = 10.0.0.1:6801   # public network\n"
		      "pool_size = 64M ; more for big writes\n"
		      "log_level = debug\t# while we look\n"
		      "[net]\nconnect_timeout = 2s # lan\n"
		      "[policy]\nosd.* = root  # only root runs OSDs here\n");
	ck_assert_int_eq(msgr__conf_load(&c, p, err, sizeof(err)), 0);
	ck_assert_str_eq(c.net.listen, "10.0.0.1:6801");
	ck_assert_uint_eq(c.client.pool_size, 64u << 20);
	ck_assert_int_eq(c.log_level, MSGR__LOG_DEBUG);
	ck_assert_uint_eq(c.net.connect_timeout_ms, 2000);
	ck_assert_uint_eq(c.policy.n, 1);
	unlink(p);

	p = write_tmp("listen = 10.0.0.1:6801\n[global]\n");
	ck_assert_int_eq(msgr__conf_load(&c, p, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err + strlen(p), ":1: key 'listen' is outside any section (it belongs in [global])");
	unlink(p);

	p = write_tmp("\nfoo = 1\n");
	ck_assert_int_eq(msgr__conf_load(&c, p, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, ":2: key 'foo' is outside any section"));
	unlink(p);

	p = write_tmp("[global]\nmax_pool_sise = 1G\n");
	ck_assert_int_eq(msgr__conf_load(&c, p, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err + strlen(p), ":2: unknown key 'global.max_pool_sise' (did you mean global.max_pool_size?)");
	unlink(p);

	/* the right key in the wrong section */
	p = write_tmp("[global]\nkeepalive_interval = 1s\n");
	ck_assert_int_eq(msgr__conf_load(&c, p, err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err + strlen(p), ":2: unknown key 'global.keepalive_interval' (did you mean net.keepalive_interval?)");
	unlink(p);

	ck_assert_int_eq(msgr__conf_set_arg(&c, "net.conect_timeout=1s", err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "unknown key 'net.conect_timeout' (did you mean net.connect_timeout?)");
	/* nothing near: no guess */
	ck_assert_int_eq(msgr__conf_set_arg(&c, "global.frobnicate=1", err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "unknown key 'global.frobnicate'");
}
END_TEST

int main(void)
{
	TCase *tc;
	Suite *s = unit_suite("config", &tc);

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_set);
	tcase_add_test(tc, test_file);
	tcase_add_test(tc, test_addr);
	tcase_add_test(tc, test_shipped_file);
	tcase_add_test(tc, test_net_keys);
	tcase_add_test(tc, test_ctl_keys);
	tcase_add_test(tc, test_transport_keys);
	tcase_add_test(tc, test_units);
	tcase_add_test(tc, test_admin_file);
	return unit_run(s);
}
