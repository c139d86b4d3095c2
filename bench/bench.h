/*
 * bench.h - msgr-bench's internal interface, shared by its parts (not
 * installed). Every name here is bench_ or BENCH_; everything else in the
 * bench's files is static.
 *
 *   main.c        options, and the order in which the cases run
 *   runner.c      forks, reaping, per-process costs, one path's case
 *   work.c        the data work every path does, and the measuring window
 *   daemons.c     the msgrd daemons the bench starts, their control sockets
 *   path_msgrd.c  msgrd and the msgrd-net variants
 *   path_shm.c    the bare shared-memory ring
 *   path_sock.c   unix-socket, tcp and tcp-batch
 *   path_zmq.c    ZeroMQ PUSH/PULL over tcp and ipc
 *   channels.c    many channels between two daemons (--channels N)
 *   mixed.c       a ping-pong beside a 16 MiB bulk stream on the same session
 *   recovery.c    link kills under a lossless stream
 *   idle.c        one stream beside many idle entities (--idle N)
 *   results.c     the results store, medians, results.json, the gnuplot run
 *   report.c      the tables (text and Markdown) and the Targets table
 *
 * Everything a child measures goes into one MAP_SHARED page (struct
 * bench_shared); the parent only forks, reaps and reports.
 */
#ifndef MSGR_BENCH_H
#define MSGR_BENCH_H

#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "msgr.h"

#define BENCH_END_SEQ 0u          /* msg_type / frame seq of the end marker; data starts at 1 */
#define BENCH_IDLE_MS 5000        /* a receiver that hears nothing this long calls it a loss */
#define BENCH_MAX_REPEAT 15
#define BENCH_MAX_KILLS 1000      /* --kills */
#define BENCH_MAX_SIZES 8         /* --sizes */
#define BENCH_MAX_MSG (1u << 20)  /* the largest --sizes value */
#define BENCH_PP_SIZE 64          /* the ping-pong message */
#define BENCH_BULK_SIZE (16u << 20) /* the mixed workload's bulk messages */
#define BENCH_IDLE_SIZE 64        /* the idle workload's stream */
#define BENCH_NKIDS 4             /* processes of one case at most (mixed) */
#define BENCH_NROWS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- paths: what carries the messages ---- */

enum bench_path {
	BENCH_MSGRD,    /* entity -> msgrd -> entity */
	BENCH_SHM,      /* shm/ring.c rings between two processes, no daemon */
	BENCH_UDS,      /* socketpair, one write per message */
	BENCH_TCP,      /* loopback TCP_NODELAY, one write per message */
	BENCH_TCPB,     /* loopback TCP, messages packed into 64 KiB writes */
	BENCH_ZMQ,      /* ZeroMQ PUSH/PULL over tcp:// */
	BENCH_ZMQIPC,   /* ZeroMQ PUSH/PULL over ipc:// */
	BENCH_NET,      /* entity -> msgrd A -> TCP session -> msgrd B -> entity */
	BENCH_SEC,      /* msgrd-net with both daemons in auth.mode = secure */
	BENCH_NETLOSSY, /* msgrd-net's daemons, the connection MSGR_LOSSY */
	BENCH_NPATH
};

enum bench_kind { BENCH_ONEWAY, BENCH_PINGPONG };

/* ---- the daemons the bench starts ---- */

/* D_MAIN is msgrd's and host A of msgrd-net (and msgrd-net-lossy); with
 * --socket it is someone else's and no other is started. msgrd-net-secure
 * has a pair of its own (auth.mode is per daemon), and so have the recovery
 * case (global.inject = true, which the measured pairs must not pay for),
 * the many-channel workload (fresh daemons, so their memory growth is the
 * channels') and the mixed one (max_message for 16 MiB messages). */
enum bench_daemon_id {
	BENCH_D_MAIN, BENCH_D_NET_B, BENCH_D_SEC_A, BENCH_D_SEC_B, BENCH_D_REC_A, BENCH_D_REC_B,
	BENCH_D_CH_A, BENCH_D_CH_B, BENCH_D_MIX_A, BENCH_D_MIX_B, BENCH_ND
};

struct bench_daemon {
	const char *tag;   /* its socket, control socket and log in the tmpdir */
	const char *mode;  /* auth.mode, set explicitly */
	int inject;        /* global.inject = true */
	const char *extra; /* one more --set, or NULL */
	int port;          /* its global.listen port on 127.0.0.1 */
	char sock[PATH_MAX], ctl[PATH_MAX], log[PATH_MAX];
	volatile pid_t pid; /* ours to stop, or 0 */
};

extern struct bench_daemon bench_dmn[BENCH_ND];
extern pid_t bench_obs_daemon; /* D_MAIN's pid, to read its /proc, or 0 */
extern char bench_tmpdir[64];

struct bench_dstats {
	uint64_t pid, wake_sent, wake_recv, poll_us;
	int ok;
};

int bench_start_daemons(void);
void bench_stop_daemons(void);
void bench_show_logs(void);
void bench_kill_daemons_now(void); /* from a signal handler */
int bench_daemon_needed(enum bench_daemon_id d);
enum bench_daemon_id bench_daemon_with_pid(pid_t p);
int bench_exe_dir(char *buf, size_t n);
int bench_ctl_request(const char *path, const char *req, char **body);
int bench_ctl_status_at(const char *path, struct bench_dstats *ds);
int bench_ctl_status(struct bench_dstats *ds);
int bench_json_u64(const char *j, const char *key, uint64_t *v);

/* ---- options ---- */

struct bench_opts {
	double seconds;     /* one-way window per case */
	uint64_t count;     /* fixed one-way message count instead of a duration */
	unsigned rtt_count;
	unsigned repeat;
	const char *socket; /* an already running msgrd */
	const char *ctl_socket;
	int poll_set;
	int dpoll_set;      /* --daemon-poll-us: msgrd's own, apart from the clients' */
	const char *dset[8]; /* --daemon-set S.K=V: given to every daemon started */
	unsigned ndset;
	unsigned dpoll_us;
	unsigned poll_us;
	unsigned paths;     /* bit per enum bench_path */
	unsigned cases;     /* bit per enum bench_kind */
	unsigned sizes[BENCH_MAX_SIZES], nsizes; /* one-way sizes */
	int recovery;       /* run the recovery case */
	unsigned kills;     /* link kills in it */
	unsigned kill_ms;   /* between kills */
	unsigned channels;  /* the many-channel workload's N, 0: off */
	unsigned idle;      /* the idle-entities workload's N, 0: off */
	int mixed;          /* run the mixed workload */
	int pin;            /* --pin: each simulated host on a CPU of its own */
	int quick;
	const char *out;
};

extern struct bench_opts bench_opt;

/* --pin: the calling process to host side's CPU (0: host A, the sender's
 * and the connecting side's; 1: host B), the first two CPUs it may use.
 * 0, or -errno. */
int bench_pin(int side);
extern unsigned bench_wait_poll_us; /* what libmsgr clients and shm-ring spin */

/* ---- paths' properties ---- */

struct bench_run;
typedef void (*bench_role_fn)(struct bench_run *);

struct bench_path_info {
	const char *name;  /* in tables, JSON and plots */
	const char *shortname; /* in --only and in ratio names */
	int ndaemons;      /* daemons whose costs count with the path's */
	enum bench_daemon_id via[2]; /* the daemon role 0 / role 1 attach to */
	enum msgr_mode mode; /* how role 0 connects (msgrd paths) */
	bench_role_fn role[2][2]; /* [kind][role]; NULL: the path does not run the kind */
};

extern const struct bench_path_info bench_paths[BENCH_NPATH];

/* ---- what children hand back ---- */

struct bench_psample {
	uint64_t cpu_ns;  /* on-CPU time, every thread */
	uint64_t wait_ns; /* runnable but waiting for a CPU */
	uint64_t csw;     /* voluntary + involuntary context switches */
	int ok;
};

struct bench_side {
	struct bench_psample w0, w1; /* this process over its measuring window */
	uint64_t wakeups;            /* eventfd writes it made (shm-ring) */
	uint64_t eagain;             /* sends refused for a full pool, ring or window */
};

struct bench_shared {
	_Atomic int ready;  /* role 1 is listening (addr is set) */
	_Atomic int ready0; /* role 0 is listening (addr0 is set: zmq ping-pong) */
	_Atomic int done;   /* role 1 has seen the end marker */
	char addr[256], addr0[256];
	uint64_t t_start, t_end;
	uint64_t sent, recvd, bytes;
	uint64_t rounds;     /* ping-pong round trips inside the windows, warm-up included */
	double p50, p99, mean;
	struct bench_side side[2];
	/* the daemons (msgrd's one; msgrd-net's A and B), at role 0's start
	 * and role 1's end */
	struct bench_psample d0[2], d1[2];

	/* recovery: the parent kills links and writes kill_ns (then nkills)
	 * before it sets stop; the receiver publishes the send time of the
	 * last message it got, and at the end the receive time of the first
	 * message sent after each kill */
	_Atomic int stop;
	_Atomic uint64_t last_stamp;
	unsigned nkills;
	uint64_t kill_ns[BENCH_MAX_KILLS], first_ns[BENCH_MAX_KILLS];
	double lat_p50, lat_p99; /* the stream's one-way latency, µs */

	/* channels: role 1 counts what it accepted; role 0 publishes its
	 * total once it stops sending */
	_Atomic uint64_t accepted;
	_Atomic int sent_all;
	uint64_t total;    /* every message role 0 sent, warm-up included */
	uint64_t attach_ns, open_ns;
	long rss[3][2], anon[3][2]; /* KiB, daemons A and B: attached, open, streamed */

	/* mixed: the ping starts and stops the bulk stream */
	_Atomic int bulk_ready, bulk_go, bulk_stop, bulk_done;
	_Atomic uint64_t bulk_recvd;
	/* mixed, msgrd-net: the echo stamps when it got each ping (echo_on),
	 * so a slow round trip splits into its way there and its way back */
	_Atomic int echo_on;
	_Atomic uint64_t echo_seq, echo_ns;
	uint64_t slow_rounds, slow_there_ns, slow_back_ns;
	char bulk_addr[256];
	double idle_p50, idle_p99, idle_mean, busy_p50, busy_p99, busy_mean;
	uint64_t idle_rounds, busy_rounds;
	uint64_t bulk_t0, bulk_t1, bulk_msgs;
};

extern struct bench_shared *bench_sh;

/* ---- one measurement: what the children of a path's case need ---- */

struct bench_shm_flag {
	_Alignas(64) _Atomic uint32_t sleeping;
};

/* ring[i] carries role i's messages to role 1 - i; flag[i] and efd[i] wake role i. */
struct bench_run {
	enum bench_path path;
	enum bench_kind kind;
	size_t size;
	int fd[2];   /* sockets: role 0's end, role 1's end */
	int bfd[2];  /* mixed over tcp: the bulk stream's connection */
	void *shm;
	size_t shm_len;
	struct bench_shm_flag *flag;
	void *ring_mem[2];
	uint32_t nslots, payload;
	int efd[2];
};

/* A socket path's frame header, and shm-ring's slot header. */
struct bench_frame {
	uint32_t len;
	uint32_t seq;
};

/* ---- runner.c ---- */

extern const char *bench_label;       /* the running case, for a child's error message */
extern const char *bench_attach_sock; /* the daemon this child attaches to */
extern enum msgr_mode bench_conn_mode; /* how this child connects */
extern pid_t bench_sampled[2];        /* daemons whose costs this child samples, or 0 */

typedef void (*bench_child_fn)(void *arg, int role);
int bench_spawn(const char *name, int nkids, const char *const *roles, bench_child_fn fn, void *arg);
int bench_reap(const char *name, unsigned timeout_s);
int bench_child_gone(void);
void bench_kill_kids(void);
int bench_run_path(enum bench_path p, enum bench_kind k, size_t size);
/* (bench_run_path_as, below the results' enums) */
void bench_raise_nofile(void); /* soft RLIMIT_NOFILE up to the hard one */
int bench_proc_sample(pid_t pid, struct bench_psample *s);
int bench_proc_rss(pid_t pid, long *vmrss_kb, long *anon_kb);
int bench_tcp_pair(int fd[2]);

/* ---- work.c ---- */

extern uint64_t bench_oneway_warm; /* one-way messages sent before the window opens */

void bench_errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t bench_now_ns(void);
void bench_sleep_us(unsigned us);
int bench_wait_flag(_Atomic int *f, int ms);
void bench_wait_peer(void);
void bench_fill(unsigned char *p, size_t len);
uint64_t bench_touch(const unsigned char *p, size_t len);
void bench_stamp(unsigned char *p, uint32_t seq);
void bench_check(uint32_t seq, uint32_t want, const unsigned char *p, size_t len, size_t size);
uint64_t bench_warmup_rounds(void);
uint64_t bench_warm_for(size_t size);
int bench_sending(uint64_t n, uint64_t *t0);
void bench_received(uint64_t n, size_t len, uint64_t *bytes);
void bench_receiver_done(uint64_t n, uint64_t bytes);
void bench_window_start(int role);
void bench_window_end(int role);
void bench_lat_stats(uint64_t *lat, uint64_t n, double *p50, double *p99, double *mean);
void bench_rtt_stats(uint64_t *lat, uint64_t n);
int bench_cmp_u64(const void *a, const void *b);
int bench_cmp_double(const void *a, const void *b);

/* ---- path_msgrd.c ---- */

msgr_client *bench_mc_attach(const char *what, size_t pool_size, int blocking);
msgr_client *bench_mc_listen(const char *what, char *addr, size_t addrlen, _Atomic int *ready,
			     size_t pool_size);
msgr_conn *bench_mc_connect(msgr_client *c, const char *addr, _Atomic int *ready);
void bench_mc_next(msgr_client *c, struct msgr_event *ev);
int bench_mc_next_data(msgr_client *c, struct msgr_event *ev);
void bench_mc_send(msgr_conn *k, uint32_t type, const void *p, size_t len, struct bench_side *s);
void bench_msgrd_sender(struct bench_run *ru);
void bench_msgrd_receiver(struct bench_run *ru);
void bench_msgrd_pinger(struct bench_run *ru);
void bench_msgrd_ponger(struct bench_run *ru);

/* ---- path_shm.c ---- */

int bench_shm_prepare(struct bench_run *ru);
void bench_shm_sender(struct bench_run *ru);
void bench_shm_receiver(struct bench_run *ru);
void bench_shm_pinger(struct bench_run *ru);
void bench_shm_ponger(struct bench_run *ru);

/* ---- path_sock.c ---- */

struct bench_rbuf {
	int fd;
	unsigned char *buf;
	size_t cap, head, tail, max; /* max: the largest frame payload it takes */
};

void bench_rb_init(struct bench_rbuf *rb, int fd, size_t max);
unsigned char *bench_rb_frame(struct bench_rbuf *rb, struct bench_frame *h);
void bench_write_all(int fd, const void *p, size_t len);
unsigned char *bench_sock_frame_buf(size_t size);
void bench_set_seq(unsigned char *f, uint32_t seq);
void bench_sock_sender(struct bench_run *ru);
void bench_tcpb_sender(struct bench_run *ru);
void bench_sock_receiver(struct bench_run *ru);
void bench_sock_pinger(struct bench_run *ru);
void bench_sock_ponger(struct bench_run *ru);

/* ---- path_zmq.c ---- */

extern const int bench_zmq_built; /* libzmq was found at build time */
void bench_zmq_sender(struct bench_run *ru);
void bench_zmq_receiver(struct bench_run *ru);
void bench_zmq_pinger(struct bench_run *ru);
void bench_zmq_ponger(struct bench_run *ru);

/* ---- channels.c, mixed.c, recovery.c, idle.c ---- */

int bench_run_channels(unsigned n);
int bench_run_idle(unsigned n);
int bench_run_mixed(enum bench_path p); /* BENCH_NET or BENCH_TCP */
int bench_run_recovery(void);
void bench_rec_table(FILE *f, int md);
void bench_rec_notes(FILE *f, int md);
int bench_rec_ran(void);

/* ---- results.c: one row per (path, workload, size), medians over --repeat ---- */

enum bench_work {
	BENCH_W_ONEWAY, BENCH_W_PINGPONG, BENCH_W_CHANNELS, BENCH_W_MIXED_IDLE, BENCH_W_MIXED_BUSY,
	BENCH_W_MIXED_BULK, BENCH_W_RECOVERY, BENCH_W_IDLE_ALONE, BENCH_W_IDLE_BESIDE, BENCH_NWORK
};

enum bench_field {
	BENCH_F_RATE,  /* msg/s */
	BENCH_F_MBS,   /* payload MB/s (10^6 bytes) */
	BENCH_F_P50, BENCH_F_P99, BENCH_F_MEAN, /* µs */
	BENCH_F_CPU,   /* CPU µs per message (per round trip for ping-pong), all processes */
	BENCH_F_RQ,    /* runqueue wait µs per message */
	BENCH_F_CSW,   /* context switches per message */
	BENCH_F_WAKE,  /* eventfd wakeups per message */
	BENCH_F_OPEN_MS,   /* channels: opening all N */
	BENCH_F_ATTACH_MS, /* channels: attaching every entity */
	BENCH_F_BPC_A, BENCH_F_BPC_B,   /* channels: daemon A's, B's VmRSS growth per open channel */
	BENCH_F_BPCS_A, BENCH_F_BPCS_B, /* the same after the stream (pool pages included) */
	BENCH_F_ANON_A, BENCH_F_ANON_B, /* RssAnon growth per channel after the stream */
	BENCH_F_ANONO_A, BENCH_F_ANONO_B, /* RssAnon growth per open channel: the daemon's
					     own state, without the pool pages VmRSS counts */
	BENCH_F_NCHAN,
	BENCH_F_BACKLOG_KB, /* channels: daemon A's session backlog peak, KiB */
	BENCH_F_RSS_MB,     /* idle: the daemon's VmRSS, MB (10^6 bytes) */
	BENCH_F_ATTACH_N_MS, /* idle: attaching the N idle entities */
	BENCH_NFIELD
};

extern const char *const bench_work_name[BENCH_NWORK];

/* runner.c: bench_run_path, its results filed under workload w (idle.c
 * runs the msgrd one-way case alone and beside idle entities). */
int bench_run_path_as(enum bench_path p, enum bench_kind k, size_t size, enum bench_work w);

void bench_put(enum bench_path p, enum bench_work w, uint32_t size, enum bench_field f, double v);
double bench_get(enum bench_path p, enum bench_work w, uint32_t size, enum bench_field f);
int bench_have(enum bench_work w);
int bench_write_json(const char *path);
void bench_plot(const char *json, const char *dir);

/* ---- report.c ---- */

void bench_describe_settings(const struct bench_dstats *ds);
extern char bench_settings[512];
void bench_report(FILE *f, int md);
void bench_cell(FILE *f, const char *s, int width, int left);
int bench_write_markdown(const char *path, int argc, char **argv);

#endif
