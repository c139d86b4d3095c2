/*
 * report.c - the tables, as text on stdout and as Markdown in results.md:
 * the paths (rates by size, ping-pong latency), their costs, the ratios,
 * the many-channel and mixed workloads, recovery, and the targets.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench/bench.h"

/* ---- a table of strings, printed aligned or as Markdown ---- */

#define TCOLS 16
#define TROWS 48
#define TCELL 64

static struct {
	int ncol, nrow;
	char head[TCOLS][TCELL];
	char cell[TROWS][TCOLS][TCELL];
} tb;

static void tab_start(void)
{
	memset(&tb, 0, sizeof(tb));
}

static void __attribute__((format(printf, 1, 2))) tab_head(const char *fmt, ...)
{
	va_list ap;

	if (tb.ncol == TCOLS)
		return;
	va_start(ap, fmt);
	vsnprintf(tb.head[tb.ncol++], TCELL, fmt, ap);
	va_end(ap);
}

static int tab_row(void)
{
	return tb.nrow < TROWS ? tb.nrow++ : TROWS - 1;
}

static void __attribute__((format(printf, 3, 4))) tab_set(int r, int c, const char *fmt, ...)
{
	va_list ap;

	if (c >= TCOLS)
		return;
	va_start(ap, fmt);
	vsnprintf(tb.cell[r][c], TCELL, fmt, ap);
	va_end(ap);
}

/* Columns are counted in characters, and µ is two bytes. */
static int width_of(const char *s)
{
	int w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xC0) != 0x80;
	return w;
}

void bench_cell(FILE *f, const char *s, int width, int left)
{
	int pad = width - width_of(s);

	if (!left)
		for (int i = 0; i < pad; i++)
			fputc(' ', f);
	fputs(s, f);
	if (left)
		for (int i = 0; i < pad; i++)
			fputc(' ', f);
}

static const char *cell_or_dash(const char *s)
{
	return s[0] ? s : "-";
}

static void tab_print(FILE *f, int md)
{
	int w[TCOLS];

	if (md) {
		fputc('|', f);
		for (int c = 0; c < tb.ncol; c++)
			fprintf(f, " %s |", tb.head[c]);
		fputs("\n|", f);
		for (int c = 0; c < tb.ncol; c++)
			fputs(c ? "---:|" : "---|", f);
		fputc('\n', f);
		for (int r = 0; r < tb.nrow; r++) {
			fputc('|', f);
			for (int c = 0; c < tb.ncol; c++)
				fprintf(f, " %s |", c ? cell_or_dash(tb.cell[r][c]) : tb.cell[r][c]);
			fputc('\n', f);
		}
		return;
	}
	for (int c = 0; c < tb.ncol; c++) {
		w[c] = width_of(tb.head[c]);
		for (int r = 0; r < tb.nrow; r++)
			if (width_of(cell_or_dash(tb.cell[r][c])) > w[c])
				w[c] = width_of(cell_or_dash(tb.cell[r][c]));
	}
	for (int c = 0; c < tb.ncol; c++) {
		if (c)
			fputs("  ", f);
		bench_cell(f, tb.head[c], w[c], c == 0);
	}
	fputc('\n', f);
	for (int r = 0; r < tb.nrow; r++) {
		for (int c = 0; c < tb.ncol; c++) {
			if (c)
				fputs("  ", f);
			bench_cell(f, c ? cell_or_dash(tb.cell[r][c]) : tb.cell[r][c], w[c], c == 0);
		}
		fputc('\n', f);
	}
}

/* ---- values ---- */

static void set_rate(int r, int c, double v)
{
	if (isnan(v))
		return;
	if (v >= 1e6)
		tab_set(r, c, "%.2fM", v / 1e6);
	else if (v >= 1e3)
		tab_set(r, c, "%.1fk", v / 1e3);
	else
		tab_set(r, c, "%.0f", v);
}

static void set_num(int r, int c, double v)
{
	if (isnan(v))
		return;
	if (v == 0)
		tab_set(r, c, "0");
	else if (fabs(v) < 0.01)
		tab_set(r, c, "%.2g", v);
	else if (fabs(v) < 10)
		tab_set(r, c, "%.2f", v);
	else
		tab_set(r, c, "%.1f", v);
}

static void set_int(int r, int c, double v)
{
	if (!isnan(v))
		tab_set(r, c, "%.0f", v);
}

static void set_ratio(int r, int c, double a, double b)
{
	if (!isnan(a) && !isnan(b) && b != 0)
		tab_set(r, c, "%.3g", a / b);
}

static const char *size_label(uint32_t size)
{
	static char b[4][24];
	static int i;

	i = (i + 1) % 4;
	if (size >= 1024 * 1024 && size % (1024 * 1024) == 0)
		snprintf(b[i], sizeof(b[i]), "%u MiB", size / (1024 * 1024));
	else if (size >= 1024 && size % 1024 == 0)
		snprintf(b[i], sizeof(b[i]), "%u KiB", size / 1024);
	else
		snprintf(b[i], sizeof(b[i]), "%u B", size);
	return b[i];
}

static int path_ran(enum bench_path p)
{
	for (unsigned s = 0; s < bench_opt.nsizes; s++)
		if (!isnan(bench_get(p, BENCH_W_ONEWAY, bench_opt.sizes[s], BENCH_F_RATE)))
			return 1;
	return !isnan(bench_get(p, BENCH_W_PINGPONG, BENCH_PP_SIZE, BENCH_F_P50));
}

static double oneway(enum bench_path p, uint32_t size, enum bench_field f)
{
	return bench_get(p, BENCH_W_ONEWAY, size, f);
}

static double pp(enum bench_path p, enum bench_field f)
{
	return bench_get(p, BENCH_W_PINGPONG, BENCH_PP_SIZE, f);
}

/* ---- the tables ---- */

static void main_table(FILE *f, int md)
{
	uint32_t big = bench_opt.nsizes ? bench_opt.sizes[bench_opt.nsizes - 1] : 0;
	int c;

	tab_start();
	tab_head("path");
	for (unsigned s = 0; s < bench_opt.nsizes; s++)
		tab_head("%s msg/s", size_label(bench_opt.sizes[s]));
	if (big)
		tab_head("%s MB/s", size_label(big));
	tab_head("p50 µs");
	tab_head("p99 µs");
	tab_head("mean µs");
	for (int p = 0; p < BENCH_NPATH; p++) {
		int r;
		if (!path_ran((enum bench_path)p))
			continue;
		r = tab_row();
		tab_set(r, 0, "%s", bench_paths[p].name);
		c = 1;
		for (unsigned s = 0; s < bench_opt.nsizes; s++)
			set_rate(r, c++, oneway((enum bench_path)p, bench_opt.sizes[s], BENCH_F_RATE));
		if (big)
			set_num(r, c++, oneway((enum bench_path)p, big, BENCH_F_MBS));
		set_num(r, c++, pp((enum bench_path)p, BENCH_F_P50));
		set_num(r, c++, pp((enum bench_path)p, BENCH_F_P99));
		set_num(r, c++, pp((enum bench_path)p, BENCH_F_MEAN));
	}
	tab_print(f, md);
}

static void cost_table(FILE *f, int md)
{
	uint32_t s0 = bench_opt.nsizes ? bench_opt.sizes[0] : 0;

	tab_start();
	tab_head("cost, all processes");
	for (unsigned s = 0; s < bench_opt.nsizes; s++)
		tab_head("CPU µs/msg %s", size_label(bench_opt.sizes[s]));
	if (s0) {
		tab_head("runq µs/msg %s", size_label(s0));
		tab_head("ctx-sw/msg %s", size_label(s0));
		tab_head("wakes/msg %s", size_label(s0));
	}
	tab_head("CPU µs/RTT");
	tab_head("ctx-sw/RTT");
	tab_head("wakes/RTT");
	for (int p = 0; p < BENCH_NPATH; p++) {
		enum bench_path t = (enum bench_path)p;
		int r, c = 1;
		if (!path_ran(t))
			continue;
		r = tab_row();
		tab_set(r, 0, "%s", bench_paths[p].name);
		for (unsigned s = 0; s < bench_opt.nsizes; s++)
			set_num(r, c++, oneway(t, bench_opt.sizes[s], BENCH_F_CPU));
		if (s0) {
			set_num(r, c++, oneway(t, s0, BENCH_F_RQ));
			set_num(r, c++, oneway(t, s0, BENCH_F_CSW));
			set_num(r, c++, oneway(t, s0, BENCH_F_WAKE));
		}
		set_num(r, c++, pp(t, BENCH_F_CPU));
		set_num(r, c++, pp(t, BENCH_F_CSW));
		set_num(r, c++, pp(t, BENCH_F_WAKE));
	}
	tab_print(f, md);
}

/* a/b: msgrd against each baseline, then each msgrd-net variant against
 * its own. Rates: above 1 is better for a; latencies: below 1. */
static const struct ratio {
	enum bench_path a, b;
} ratios[] = {
	{ BENCH_MSGRD, BENCH_SHM },   { BENCH_MSGRD, BENCH_UDS },  { BENCH_MSGRD, BENCH_TCP },
	{ BENCH_MSGRD, BENCH_ZMQIPC }, { BENCH_MSGRD, BENCH_NET }, { BENCH_NET, BENCH_TCP },
	{ BENCH_NET, BENCH_TCPB },    { BENCH_NET, BENCH_ZMQ },    { BENCH_SEC, BENCH_NET },
	{ BENCH_NET, BENCH_NETLOSSY },
};

static void ratio_table(FILE *f, int md)
{
	tab_start();
	tab_head("ratio a/b");
	for (unsigned s = 0; s < bench_opt.nsizes; s++)
		tab_head("%s msg/s", size_label(bench_opt.sizes[s]));
	tab_head("p50");
	tab_head("p99");
	for (size_t i = 0; i < BENCH_NROWS(ratios); i++) {
		enum bench_path a = ratios[i].a, b = ratios[i].b;
		int r, c = 1;
		if (!path_ran(a) || !path_ran(b))
			continue;
		r = tab_row();
		tab_set(r, 0, "%s/%s", bench_paths[a].shortname, bench_paths[b].shortname);
		for (unsigned s = 0; s < bench_opt.nsizes; s++, c++)
			set_ratio(r, c, oneway(a, bench_opt.sizes[s], BENCH_F_RATE),
				  oneway(b, bench_opt.sizes[s], BENCH_F_RATE));
		set_ratio(r, c++, pp(a, BENCH_F_P50), pp(b, BENCH_F_P50));
		set_ratio(r, c++, pp(a, BENCH_F_P99), pp(b, BENCH_F_P99));
	}
	tab_print(f, md);
}

static double ch(enum bench_field fl)
{
	return bench_get(BENCH_NET, BENCH_W_CHANNELS, 64, fl);
}

static void channels_table(FILE *f, int md)
{
	double n = ch(BENCH_F_NCHAN), one = oneway(BENCH_NET, 64, BENCH_F_RATE);
	int r;

	tab_start();
	tab_head("channels (msgrd-net pair of its own)");
	tab_head("value");
	r = tab_row();
	tab_set(r, 0, "lossless channels");
	set_int(r, 1, n);
	r = tab_row();
	tab_set(r, 0, "attach every entity (ms)");
	set_num(r, 1, ch(BENCH_F_ATTACH_MS));
	r = tab_row();
	tab_set(r, 0, "open all channels (ms)");
	set_num(r, 1, ch(BENCH_F_OPEN_MS));
	r = tab_row();
	tab_set(r, 0, "64 B stream, round-robin (msg/s)");
	set_rate(r, 1, ch(BENCH_F_RATE));
	r = tab_row();
	tab_set(r, 0, "one channel: msgrd-net one-way 64 B (msg/s)");
	set_rate(r, 1, one);
	r = tab_row();
	tab_set(r, 0, "N channels / one channel");
	set_ratio(r, 1, ch(BENCH_F_RATE), one);
	r = tab_row();
	tab_set(r, 0, "daemon A VmRSS growth per open channel (B)");
	set_num(r, 1, ch(BENCH_F_BPC_A));
	r = tab_row();
	tab_set(r, 0, "daemon B VmRSS growth per open channel (B)");
	set_num(r, 1, ch(BENCH_F_BPC_B));
	r = tab_row();
	tab_set(r, 0, "daemon A RssAnon growth per open channel (B)");
	set_num(r, 1, ch(BENCH_F_ANONO_A));
	r = tab_row();
	tab_set(r, 0, "daemon B RssAnon growth per open channel (B)");
	set_num(r, 1, ch(BENCH_F_ANONO_B));
	r = tab_row();
	tab_set(r, 0, "daemon A session backlog peak (KiB)");
	set_num(r, 1, ch(BENCH_F_BACKLOG_KB));
	r = tab_row();
	tab_set(r, 0, "daemon A VmRSS growth per channel, streamed (B)");
	set_num(r, 1, ch(BENCH_F_BPCS_A));
	r = tab_row();
	tab_set(r, 0, "daemon B VmRSS growth per channel, streamed (B)");
	set_num(r, 1, ch(BENCH_F_BPCS_B));
	r = tab_row();
	tab_set(r, 0, "daemon A RssAnon growth per channel, streamed (B)");
	set_num(r, 1, ch(BENCH_F_ANON_A));
	r = tab_row();
	tab_set(r, 0, "daemon B RssAnon growth per channel, streamed (B)");
	set_num(r, 1, ch(BENCH_F_ANON_B));
	tab_print(f, md);
}

static double idl(enum bench_work w, enum bench_field fl)
{
	return bench_get(BENCH_MSGRD, w, BENCH_IDLE_SIZE, fl);
}

static void idle_table(FILE *f, int md)
{
	static const struct {
		enum bench_work w;
		enum bench_field f;
		const char *label;
	} rw[] = {
		{ BENCH_W_IDLE_ALONE, BENCH_F_RATE, "alone (msg/s, median)" },
		{ BENCH_W_IDLE_BESIDE, BENCH_F_RATE, "beside the idle entities (msg/s, median)" },
		{ BENCH_W_IDLE_BESIDE, BENCH_NFIELD, "beside / alone" }, /* the ratio */
		{ BENCH_W_IDLE_ALONE, BENCH_F_CPU, "CPU µs per message, alone" },
		{ BENCH_W_IDLE_BESIDE, BENCH_F_CPU, "CPU µs per message, beside" },
		{ BENCH_W_IDLE_BESIDE, BENCH_F_ATTACH_N_MS, "attach them all (ms)" },
		{ BENCH_W_IDLE_ALONE, BENCH_F_RSS_MB, "daemon VmRSS without them (MB)" },
		{ BENCH_W_IDLE_BESIDE, BENCH_F_RSS_MB, "daemon VmRSS with them (MB)" },
	};
	int r;

	tab_start();
	tab_head("idle: msgrd one-way 64 B beside %.0f idle entities",
		 idl(BENCH_W_IDLE_BESIDE, BENCH_F_NCHAN));
	tab_head("value");
	for (size_t i = 0; i < BENCH_NROWS(rw); i++) {
		r = tab_row();
		tab_set(r, 0, "%s", rw[i].label);
		if (rw[i].f == BENCH_NFIELD)
			set_ratio(r, 1, idl(BENCH_W_IDLE_BESIDE, BENCH_F_RATE),
				  idl(BENCH_W_IDLE_ALONE, BENCH_F_RATE));
		else if (rw[i].f == BENCH_F_RATE)
			set_rate(r, 1, idl(rw[i].w, rw[i].f));
		else
			set_num(r, 1, idl(rw[i].w, rw[i].f));
	}
	tab_print(f, md);
}

static void mixed_table(FILE *f, int md)
{
	static const enum bench_path mp[] = { BENCH_NET, BENCH_TCP };
	static const struct {
		enum bench_work w;
		enum bench_field f;
		const char *label;
	} rw[] = {
		{ BENCH_W_MIXED_IDLE, BENCH_F_P50, "ping-pong 64 B p50, idle (µs)" },
		{ BENCH_W_MIXED_IDLE, BENCH_F_P99, "ping-pong 64 B p99, idle (µs)" },
		{ BENCH_W_MIXED_BUSY, BENCH_F_P50, "ping-pong 64 B p50, beside the bulk (µs)" },
		{ BENCH_W_MIXED_BUSY, BENCH_F_P99, "ping-pong 64 B p99, beside the bulk (µs)" },
		{ BENCH_W_MIXED_BUSY, BENCH_F_NCHAN, "round trips beside the bulk" },
	};
	int r;

	tab_start();
	tab_head("mixed: 64 B ping-pong beside 16 MiB messages");
	tab_head("msgrd-net");
	tab_head("tcp");
	for (size_t i = 0; i < BENCH_NROWS(rw); i++) {
		r = tab_row();
		tab_set(r, 0, "%s", rw[i].label);
		for (int c = 0; c < 2; c++) {
			double v = bench_get(mp[c], rw[i].w, BENCH_PP_SIZE, rw[i].f);
			if (rw[i].f == BENCH_F_NCHAN)
				set_int(r, c + 1, v);
			else
				set_num(r, c + 1, v);
		}
	}
	r = tab_row();
	tab_set(r, 0, "p99 beside the bulk / p99 idle");
	for (int c = 0; c < 2; c++)
		set_ratio(r, c + 1, bench_get(mp[c], BENCH_W_MIXED_BUSY, BENCH_PP_SIZE, BENCH_F_P99),
			  bench_get(mp[c], BENCH_W_MIXED_IDLE, BENCH_PP_SIZE, BENCH_F_P99));
	r = tab_row();
	tab_set(r, 0, "bulk stream (MB/s)");
	for (int c = 0; c < 2; c++)
		set_num(r, c + 1, bench_get(mp[c], BENCH_W_MIXED_BULK, BENCH_BULK_SIZE, BENCH_F_MBS));
	tab_print(f, md);
}

/* ---- the targets ---- */

enum cmp { GE, LE, LT };

static void target(const char *what, double v, double sec, enum cmp cmp, double goal, int as_ratio)
{
	static const char *const op[] = { "≥", "≤", "<" };
	int r = tab_row(), met;

	tab_set(r, 0, "%s", what);
	tab_set(r, 1, "%s %g", op[cmp], goal);
	if (!isnan(v))
		tab_set(r, 2, as_ratio ? "%.3g" : "%.0f", v);
	if (!isnan(sec))
		tab_set(r, 3, as_ratio ? "%.3g" : "%.0f", sec);
	if (isnan(v)) {
		tab_set(r, 4, "not run");
		return;
	}
	met = cmp == GE ? v >= goal : cmp == LE ? v <= goal : v < goal;
	tab_set(r, 4, "%s", met ? "met" : "MISSED");
}

static double div_(double a, double b)
{
	return isnan(a) || isnan(b) || b == 0 ? NAN : a / b;
}

/* A target's label with its workload's count, or N when it did not run:
 * fmt has one %s for it. */
static void label_n(char *b, size_t n, const char *fmt, unsigned nn)
{
	char num[16] = "N";

	if (nn)
		snprintf(num, sizeof(num), "%u", nn);
	snprintf(b, n, fmt, num);
}

static void targets_table(FILE *f, int md)
{
	char what[96];
	double n = ch(BENCH_F_NCHAN), a = ch(BENCH_F_BPC_A), b = ch(BENCH_F_BPC_B);
	unsigned nn = isnan(n) ? bench_opt.channels : (unsigned)n;

	tab_start();
	tab_head("target (issue 11, ratios from this run)");
	tab_head("goal");
	tab_head("hmac");
	tab_head("secure");
	tab_head("result");
	target("msgrd-net / tcp-batch, one-way 4 KiB msg/s",
	       div_(oneway(BENCH_NET, 4096, BENCH_F_RATE), oneway(BENCH_TCPB, 4096, BENCH_F_RATE)),
	       div_(oneway(BENCH_SEC, 4096, BENCH_F_RATE), oneway(BENCH_TCPB, 4096, BENCH_F_RATE)),
	       GE, 0.9, 1);
	target("msgrd-net / zmq-tcp, one-way 64 B msg/s",
	       div_(oneway(BENCH_NET, 64, BENCH_F_RATE), oneway(BENCH_ZMQ, 64, BENCH_F_RATE)),
	       div_(oneway(BENCH_SEC, 64, BENCH_F_RATE), oneway(BENCH_ZMQ, 64, BENCH_F_RATE)), GE, 2.5,
	       1);
	target("msgrd / shm-ring, one-way 64 B msg/s",
	       div_(oneway(BENCH_MSGRD, 64, BENCH_F_RATE), oneway(BENCH_SHM, 64, BENCH_F_RATE)), NAN,
	       GE, 0.35, 1);
	target("ping-pong 64 B p50, msgrd-net / tcp",
	       div_(pp(BENCH_NET, BENCH_F_P50), pp(BENCH_TCP, BENCH_F_P50)),
	       div_(pp(BENCH_SEC, BENCH_F_P50), pp(BENCH_TCP, BENCH_F_P50)), LE, 2, 1);
	label_n(what, sizeof(what), "%s channels / one channel, 64 B msg/s", nn);
	target(what, div_(ch(BENCH_F_RATE), oneway(BENCH_NET, 64, BENCH_F_RATE)), NAN, GE, 0.8, 1);
	target("daemon bytes per open channel (VmRSS, larger of A, B)",
	       isnan(a) ? b : isnan(b) ? a : a > b ? a : b, NAN, LE, 2048, 0);
	label_n(what, sizeof(what), "open %s channels (s)", nn);
	target(what, ch(BENCH_F_OPEN_MS) / 1e3, NAN, LT, 1, 1);
	/* a link takes messages while under net.send_backlog (256 KiB by
	 * default); the last may take it over by one turn (docs/PROTOCOL.md) */
	label_n(what, sizeof(what), "session backlog peak at %s channels (KiB)", nn);
	target(what, ch(BENCH_F_BACKLOG_KB), NAN, LE, 512, 0);
	n = idl(BENCH_W_IDLE_BESIDE, BENCH_F_NCHAN);
	nn = isnan(n) ? bench_opt.idle : (unsigned)n;
	label_n(what, sizeof(what), "msgrd 64 B beside %s idle entities / alone", nn);
	target(what, div_(idl(BENCH_W_IDLE_BESIDE, BENCH_F_RATE), idl(BENCH_W_IDLE_ALONE, BENCH_F_RATE)),
	       NAN, GE, 0.95, 1);
	label_n(what, sizeof(what), "daemon VmRSS with %s idle entities (MB)", nn);
	target(what, idl(BENCH_W_IDLE_BESIDE, BENCH_F_RSS_MB), NAN, LT, 100, 0);
	target("mixed: ping-pong p99 beside 16 MiB / idle",
	       div_(bench_get(BENCH_NET, BENCH_W_MIXED_BUSY, BENCH_PP_SIZE, BENCH_F_P99),
		    bench_get(BENCH_NET, BENCH_W_MIXED_IDLE, BENCH_PP_SIZE, BENCH_F_P99)),
	       NAN, LE, 2, 1);
	tab_print(f, md);
}

/* ---- settings and notes ---- */

char bench_settings[512];

void bench_describe_settings(const struct bench_dstats *ds)
{
	char sizes[96] = "", dpoll[48];
	struct utsname u;
	size_t o = 0;

	if (uname(&u))
		strcpy(u.release, "?");
	if (ds->ok)
		snprintf(dpoll, sizeof(dpoll), "%llu µs", (unsigned long long)ds->poll_us);
	else
		snprintf(dpoll, sizeof(dpoll), "unknown");
	for (unsigned s = 0; s < bench_opt.nsizes && o < sizeof(sizes); s++)
		o += (size_t)snprintf(sizes + o, sizeof(sizes) - o, "%s%s", s ? ", " : "",
				      size_label(bench_opt.sizes[s]));
	snprintf(bench_settings, sizeof(bench_settings),
		 "%ld CPUs, Linux %s; one-way %s (%s) per case and size (%s) after a warm-up; "
		 "ping-pong %u round trips after %llu; median of %u run%s; poll_us: msgrd %s, "
		 "libmsgr clients and shm-ring %u µs%s",
		 sysconf(_SC_NPROCESSORS_ONLN), u.release, bench_opt.count ? "a fixed count" : "a fixed time",
		 bench_opt.count ? "--count" : "--seconds", sizes, bench_opt.rtt_count,
		 (unsigned long long)bench_warmup_rounds(), bench_opt.repeat,
		 bench_opt.repeat == 1 ? "" : "s", dpoll, bench_wait_poll_us,
		 bench_opt.pin ? "; pinned: host A (senders, same-host daemon) on one CPU, host B on another"
			       : "");
}

static void notes(FILE *f, int md)
{
	const char *li = md ? "- " : "  ";

	fprintf(f, "%sRatios a/b are from this run: above 1 is better for a in rates, worse in "
		   "latencies.\n", li);
	fprintf(f, "%sshm-ring waits exactly as libmsgr does (spin %u µs, then the needs-wakeup "
		   "flag and an eventfd), so msgrd/shm is the price of the daemon hop.\n", li,
		bench_wait_poll_us);
	fprintf(f, "%stcp-batch packs frames into 64 KiB writes; zmq-* are ZeroMQ PUSH/PULL with "
		   "libzmq's defaults. Every path stamps, checks and reads every message.\n", li);
	fprintf(f, "%sCosts add up every process involved (msgrd: sender, receiver and the "
		   "daemon%s; msgrd-net variants: both daemons; every thread), from "
		   "/proc/PID/task/*/schedstat and status; eventfd wakes: msgrd's counters, "
		   "shm-ring's own.\n", li,
		bench_obs_daemon ? "" : " (not readable here, so msgrd's are unknown)");
	if (bench_have(BENCH_W_CHANNELS))
		fprintf(f, "%sChannels: per-channel memory is the daemons' VmRSS growth from all "
			   "entities attached to all channels open (\"open\"), and to the end of the "
			   "stream (\"streamed\", which includes pool pages the daemon touched), "
			   "from the first run (later ones reuse the daemons).\n",
			li);
}

/* Everything, in order: stdout gets it as text, results.md as Markdown. */
void bench_report(FILE *f, int md)
{
	int any = 0;

	for (int p = 0; p < BENCH_NPATH; p++)
		any |= path_ran((enum bench_path)p);
	if (any) {
		main_table(f, md);
		fputc('\n', f);
		cost_table(f, md);
		fputc('\n', f);
		ratio_table(f, md);
		fputc('\n', f);
	}
	if (bench_have(BENCH_W_CHANNELS)) {
		channels_table(f, md);
		fputc('\n', f);
	}
	if (bench_have(BENCH_W_MIXED_IDLE)) {
		mixed_table(f, md);
		fputc('\n', f);
	}
	if (bench_have(BENCH_W_IDLE_BESIDE)) {
		idle_table(f, md);
		fputc('\n', f);
	}
	if (bench_rec_ran()) {
		bench_rec_table(f, md);
		fputc('\n', f);
	}
	fprintf(f, "%s\n\n", bench_settings);
	notes(f, md);
	bench_rec_notes(f, md);
	fputc('\n', f);
	targets_table(f, md);
}

int bench_write_markdown(const char *path, int argc, char **argv)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fprintf(f, "# msgr-bench results\n\n`");
	for (int i = 0; i < argc; i++)
		fprintf(f, "%s%s", i ? " " : "", argv[i]);
	fprintf(f, "`\n\n");
	bench_report(f, 1);
	return fclose(f) ? -errno : 0;
}
