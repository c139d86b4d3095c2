/*
 * results.c - the results: one row per (path, workload, size), every
 * field's samples over --repeat, medians on the way out; results.json,
 * and the plots gnuplot draws from it (bench/plot.gp).
 *
 * results.json is an array of objects, one per line, with the keys path,
 * workload, size, msgs_per_s, mb_per_s, p50_us, p99_us, cpu_us_per_msg
 * (null where not measured). plot.gp reads it line by line with awk, so
 * keep one object per line and the keys in this order.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"

#ifndef BENCH_SRCDIR
#define BENCH_SRCDIR "bench" /* the Makefile passes the absolute path */
#endif

const char *const bench_work_name[BENCH_NWORK] = {
	[BENCH_W_ONEWAY] = "oneway",
	[BENCH_W_PINGPONG] = "pingpong",
	[BENCH_W_CHANNELS] = "channels",
	[BENCH_W_MIXED_IDLE] = "mixed-idle",
	[BENCH_W_MIXED_BUSY] = "mixed-busy",
	[BENCH_W_MIXED_BULK] = "mixed-bulk",
	[BENCH_W_RECOVERY] = "recovery",
	[BENCH_W_IDLE_ALONE] = "idle-alone",
	[BENCH_W_IDLE_BESIDE] = "idle-beside",
};

struct row {
	enum bench_path p;
	enum bench_work w;
	uint32_t size;
	unsigned n[BENCH_NFIELD];
	double v[BENCH_NFIELD][BENCH_MAX_REPEAT];
};

static struct row *rows;
static unsigned nrows, caprows;

static struct row *find(enum bench_path p, enum bench_work w, uint32_t size, int make)
{
	for (unsigned i = 0; i < nrows; i++)
		if (rows[i].p == p && rows[i].w == w && rows[i].size == size)
			return &rows[i];
	if (!make)
		return NULL;
	if (nrows == caprows) {
		unsigned cap = caprows ? 2 * caprows : 64;
		struct row *r = realloc(rows, cap * sizeof(*r));
		if (!r)
			return NULL;
		rows = r;
		caprows = cap;
	}
	memset(&rows[nrows], 0, sizeof(rows[nrows]));
	rows[nrows].p = p;
	rows[nrows].w = w;
	rows[nrows].size = size;
	return &rows[nrows++];
}

/* An unknown value (NAN) is no sample. */
void bench_put(enum bench_path p, enum bench_work w, uint32_t size, enum bench_field f, double v)
{
	struct row *r = find(p, w, size, 1);

	if (r && !isnan(v) && r->n[f] < BENCH_MAX_REPEAT)
		r->v[f][r->n[f]++] = v;
}

static double median(const struct row *r, enum bench_field f)
{
	double s[BENCH_MAX_REPEAT];
	unsigned n = r->n[f];

	if (!n)
		return NAN;
	memcpy(s, r->v[f], n * sizeof(*s));
	qsort(s, n, sizeof(*s), bench_cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

double bench_get(enum bench_path p, enum bench_work w, uint32_t size, enum bench_field f)
{
	const struct row *r = find(p, w, size, 0);

	return r ? median(r, f) : NAN;
}

int bench_have(enum bench_work w)
{
	for (unsigned i = 0; i < nrows; i++)
		if (rows[i].w == w)
			return 1;
	return 0;
}

static void num(FILE *f, const char *key, double v)
{
	if (isnan(v) || isinf(v))
		fprintf(f, ",\"%s\":null", key);
	else
		fprintf(f, ",\"%s\":%.10g", key, v);
}

int bench_write_json(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -errno;
	fputs("[\n", f);
	for (unsigned i = 0; i < nrows; i++) {
		const struct row *r = &rows[i];
		fprintf(f, "{\"path\":\"%s\",\"workload\":\"%s\",\"size\":%u", bench_paths[r->p].name,
			bench_work_name[r->w], r->size);
		num(f, "msgs_per_s", median(r, BENCH_F_RATE));
		num(f, "mb_per_s", median(r, BENCH_F_MBS));
		num(f, "p50_us", median(r, BENCH_F_P50));
		num(f, "p99_us", median(r, BENCH_F_P99));
		num(f, "cpu_us_per_msg", median(r, BENCH_F_CPU));
		fprintf(f, "}%s\n", i + 1 < nrows ? "," : "");
	}
	fputs("]\n", f);
	return fclose(f) ? -errno : 0;
}

/* Whether gnuplot is on $PATH. */
static int have_gnuplot(void)
{
	const char *path = getenv("PATH");
	char dir[PATH_MAX + 16];

	while (path && *path) {
		size_t n = strcspn(path, ":");
		if (n && n < PATH_MAX) {
			snprintf(dir, sizeof(dir), "%.*s/gnuplot", (int)n, path);
			if (access(dir, X_OK) == 0)
				return 1;
		}
		path += n + (path[n] == ':');
	}
	return 0;
}

/* gnuplot -e "json='...'; outdir='...'; awkfile='...'" bench/plot.gp, if
 * both are there; a line on stdout says what became of the plots. */
void bench_plot(const char *json, const char *dir)
{
	char script[PATH_MAX], awk[PATH_MAX], vars[3 * PATH_MAX + 64];
	int st;
	pid_t p;

	snprintf(script, sizeof(script), "%s/plot.gp", BENCH_SRCDIR);
	snprintf(awk, sizeof(awk), "%s/rows.awk", BENCH_SRCDIR);
	if (!have_gnuplot()) {
		printf("plots skipped: no gnuplot on PATH (make deps installs gnuplot-nox)\n");
		return;
	}
	if (access(script, R_OK) || access(awk, R_OK)) {
		printf("plots skipped: no %s or %s\n", script, awk);
		return;
	}
	if (strchr(json, '\'') || strchr(dir, '\'') || strchr(awk, '\'')) {
		printf("plots skipped: a path with a quote in it\n");
		return;
	}
	snprintf(vars, sizeof(vars), "json='%s'; outdir='%s'; awkfile='%s'", json, dir, awk);
	fflush(NULL);
	p = fork();
	if (p < 0) {
		printf("plots skipped: fork: %s\n", strerror(errno));
		return;
	}
	if (p == 0) {
		execlp("gnuplot", "gnuplot", "-e", vars, script, (char *)NULL);
		_exit(127);
	}
	if (waitpid(p, &st, 0) != p || !WIFEXITED(st) || WEXITSTATUS(st)) {
		printf("plots failed: gnuplot %s\n", script);
		return;
	}
	printf("wrote %s/throughput.svg and %s/latency.svg (gnuplot)\n", dir, dir);
}
