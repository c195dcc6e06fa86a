/* ringlb's control thread: command line, environment and config, io_uring
 * probe, placement, memory, workers, then signals until it is told to stop.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/cli.h"
#include "config/config.h"
#include "config/publish.h"
#include "core/admin/admin.h"
#include "core/alog/alog.h"
#include "core/mem/acct.h"
#include "core/health/health.h"
#include "core/http/http.h"
#include "core/proto/l4.h"
#include "core/lb/lb.h"
#include "core/base/fault.h"
#include "core/base/log.h"
#include "core/loop/lstat.h"
#include "core/loop/ops.h"
#include "core/loop/proxyp.h"
#include "core/mem/pool.h"
#include "core/xprt/raw.h"
#include "core/xprt/tls.h"
#include "tls/tls.h"
#include "core/lb/certs.h"
#include "core/lb/snapshot.h"
#include "core/proto/static.h"
#include "core/notify.h"
#include "core/priv.h"
#include "core/stats.h"
#include "core/disc/disc.h"
#include "core/base/uring.h"
#include "core/loop/worker.h"
#include "numa/cpulist.h"
#include "numa/place.h"
#include "numa/topo.h"

struct ctl {
	struct cli_opts opts;
	struct config *cfg;
	struct topo topo;
	struct placement place;
	struct acct *acct;
	struct pool *pools[TOPO_MAX_NODES]; /* by real node (or slot 0 when unbound) */
	struct pool *pool_list[TOPO_MAX_NODES];
	unsigned npools;
	struct worker_group g;
	struct io_uring ring;
	struct health *health;
	int sfd;
	struct signalfd_siginfo si; /* the signalfd read on the ring */
	char **envp;
	uint64_t reloads_ok, reloads_failed;
	bool started; /* ready was logged: the exit memory line is due */
};

/* Builds the runtime of <cfg>: balancers, then TLS contexts (a certificate
 * that does not load is a config error, printed in the errors' format).
 * Returns 0 or -1. */
static int build(struct config *cfg, struct acct *acct)
{
	char err[512];
	int ret = snapshot_build(cfg);

	if (ret < 0) {
		log_err("%s", strerror(-ret));
		return -1;
	}
	ret = certs_build(cfg, acct, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "%s\n", ret == -EINVAL ? err : strerror(-ret));
		return -1;
	}
	/* Access logs: opened now (a file that cannot be is a config error);
	 * --check (no accountant) only checks they could be. */
	ret = snapshot_alog_build(cfg, !acct, err, sizeof(err));
	if (ret < 0) {
		fprintf(stderr, "%s\n", ret == -EINVAL ? err : strerror(-ret));
		return -1;
	}
	return 0;
}

/* Loads the config; its errors go to stderr, and to <copy> too if set. */
static struct config *load_config(const struct cli_opts *o, char **envp, FILE *copy)
{
	struct cfg_errors errs;
	struct config *cfg;

	config_errors_init(&errs);
	cfg = config_build(o, envp, &errs);
	config_errors_print(&errs, stderr);
	if (copy)
		config_errors_print(&errs, copy);
	config_errors_deinit(&errs);
	return cfg;
}

/* Raises RLIMIT_NOFILE's soft limit to the hard one, and refuses to start
 * if the connection tables cannot fit in it. */
static int check_nofile(const struct ctl *ctl)
{
	const struct config *cfg = ctl->cfg;
	uint64_t need = 64 + (uint64_t)ctl->place.nworkers * (cfg->nlisteners + 2 * 256 + 1);
	struct rlimit rl;
	unsigned i;

	for (i = 0; i < cfg->nlisteners; i++)
		need += (uint64_t)cfg->listeners[i].max_connections *
		        (cfg->listeners[i].mode == LMODE_STATIC ? 1 : 2);
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_max != RLIM_INFINITY && need > rl.rlim_max) {
		log_err(
		    "open files: the connection tables need %llu descriptors but RLIMIT_NOFILE is %llu: lower listeners' max_connections or raise the hard limit (ulimit -Hn)",
		    (unsigned long long)need, (unsigned long long)rl.rlim_max);
		return -EMFILE;
	}
	return 0;
}

static int place(struct ctl *ctl)
{
	cpu_set_t cpus, nodes;
	char err[256];
	int ret;

	ret = topo_discover(&ctl->topo, err, sizeof(err));
	if (ret < 0) {
		log_err("%s", err);
		return ret;
	}
	if (ctl->cfg->cpus && cpulist_parse(ctl->cfg->cpus, &cpus, err, sizeof(err)) < 0) {
		log_err("--cpus: %s", err);
		return -EINVAL;
	}
	if (ctl->cfg->nodes && cpulist_parse(ctl->cfg->nodes, &nodes, err, sizeof(err)) < 0) {
		log_err("--nodes: %s", err);
		return -EINVAL;
	}
	ret = place_workers(&ctl->topo, ctl->cfg->cpus ? &cpus : NULL,
	                    ctl->cfg->nodes ? &nodes : NULL, ctl->cfg->workers, &ctl->place, err,
	                    sizeof(err));
	if (ret < 0)
		log_err("placement: %s", err);
	return ret;
}

static struct pool *node_pool(struct ctl *ctl, int real_node)
{
	unsigned slot = real_node < 0 ? 0 : (unsigned)real_node % TOPO_MAX_NODES;

	if (!ctl->pools[slot]) {
		ctl->pools[slot] = pool_new(real_node, ctl->cfg->buffer_pools, ctl->acct);
		if (!ctl->pools[slot]) {
			log_err(
			    "buffer pools on node %d: %s (buffer_pools or memory_limits too small?)",
			    real_node, strerror(errno));
			return NULL;
		}
		ctl->pool_list[ctl->npools++] = ctl->pools[slot];
	}
	return ctl->pools[slot];
}

static uint64_t seed_of(const struct config *cfg)
{
	uint64_t s = cfg->seed;

	if (!s && getrandom(&s, sizeof(s), 0) != sizeof(s))
		s = (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
	return s ? s : 1;
}

static int start_workers(struct ctl *ctl)
{
	uint64_t seed = seed_of(ctl->cfg);
	unsigned i;
	int ret;

	ctl->g.n = ctl->place.nworkers;
	ctl->g.w = calloc(ctl->g.n, sizeof(*ctl->g.w));
	if (!ctl->g.w)
		return -ENOMEM;
	for (i = 0; i < ctl->g.n; i++) {
		struct worker *w = &ctl->g.w[i];

		w->id = i;
		w->cpu = ctl->place.w[i].cpu;
		w->node = ctl->place.w[i].node;
		w->real_node = ctl->place.w[i].real_node;
		w->cfg = ctl->cfg;
		w->acct = ctl->acct;
		w->alog = alog_ring(i, &w->st.log_dropped, &w->st.log_unwritten);
		w->pool = node_pool(ctl, w->real_node);
		/* splitmix64: distinct, reproducible streams per worker */
		w->rng = seed + 0x9e3779b97f4a7c15ull * (i + 1);
		w->rng ^= w->rng >> 31;
		w->rng = w->rng ? w->rng : 1;
		if (!w->pool)
			return -ENOMEM;
	}
	ret = worker_group_start(&ctl->g);
	if (ret < 0) {
		for (i = 0; i < ctl->g.n; i++)
			if (ctl->g.w[i].start_err < 0) {
				log_err("%s", ctl->g.w[i].start_msg);
				break;
			}
		worker_group_stop(&ctl->g, &ctl->ring);
		worker_group_join(&ctl->g);
	}
	return ret;
}

/* Writes our pid to <path> as daemons do: never through a symbolic link
 * (O_NOFOLLOW: run as root, following one let whoever can write the pidfile's
 * directory overwrite any file), and only into a regular file with no other
 * name, created 0644 or replacing a stale pidfile in place. Anything else
 * there is refused with one line and left as it is. */
static int write_pidfile(const char *path)
{
	int fd =
	    open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644);
	const char *why = NULL;
	char buf[24];
	struct stat st;
	ssize_t w;
	int n, ret = 0;

	if (fd < 0) {
		ret = -errno;
		why = ret == -ELOOP ? "is a symbolic link, not followed" : strerror(-ret);
	} else if (fstat(fd, &st) < 0) {
		ret = -errno;
		why = strerror(-ret);
	} else if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		ret = -EEXIST;
		why = S_ISREG(st.st_mode) ? "has other hard links, not written"
		                          : "is not a regular file, not written";
	} else {
		n = snprintf(buf, sizeof(buf), "%d\n", getpid());
		if (ftruncate(fd, 0) < 0)
			ret = -errno;
		else if ((w = write(fd, buf, n)) != n)
			ret = w < 0 ? -errno : -EIO;
		why = ret ? strerror(-ret) : NULL;
	}
	if (fd >= 0 && close(fd) < 0 && !ret) {
		ret = -errno;
		why = strerror(-ret);
	}
	if (ret)
		log_err("pidfile %s: %s", path, why);
	return ret;
}

static int setup_signals(struct ctl *ctl)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	/* Blocked before any thread starts, so workers inherit the mask and
	 * every signal arrives on the control thread's signalfd. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	ctl->sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK); /* read on the ring */
	return ctl->sfd < 0 ? -errno : 0;
}

/* Waits until every worker uses generation <gen> (they switch at the top
 * of their next loop turn, woken by WMSG_RELOAD). */
static bool wait_switched(struct ctl *ctl, uint64_t gen)
{
	uint64_t deadline = clock_ms() + 10000;
	unsigned i;

	for (i = 0; i < ctl->g.n; i++) {
		while (atomic_load(&ctl->g.w[i].seen_gen) < gen) {
			if (clock_ms() > deadline)
				return false;
			usleep(1000);
		}
	}
	return true;
}

/* Publishes <cfg>, built, as the next generation, waits until every worker
 * uses it ("<what> generation=G ok"), then drops the old snapshot after a
 * grace period (freed once the last connection using it is gone). */
static void commit(struct ctl *ctl, struct config *cfg, const char *what)
{
	uint64_t gen = ctl->cfg->generation + 1;
	struct config *old;

	cfg->generation = gen;
	old = publish_set(cfg);
	ctl->cfg = cfg;
	worker_group_msg(&ctl->g, &ctl->ring, WMSG_RELOAD);
	if (!wait_switched(ctl, gen))
		log_warn("%s generation=%llu: a worker has not switched after 10s", what,
		         (unsigned long long)gen);
	log_info("%s generation=%llu ok", what, (unsigned long long)gen);
	publish_wait();
	snapshot_put(old);
}

/* A discovery answer changed a pool's set: the published snapshot with
 * that pool's backends replaced, published like a reload. */
static void discovered(struct ctl *ctl)
{
	struct config *cfg = disc_derive(ctl->cfg);
	char err[512];
	int ret;

	if (!cfg)
		return;
	ret = snapshot_build_derived(cfg);
	if (ret == 0) /* the same access logs, opened again, as a reload does */
		ret = snapshot_alog_build(cfg, false, err, sizeof(err));
	if (ret < 0) {
		log_err("discovery: %s: the running config stays",
		        ret == -EINVAL ? err : strerror(-ret));
		snapshot_put(cfg);
		return;
	}
	commit(ctl, cfg, "discovery");
	health_sync(ctl->health, cfg, clock_ms());
}

/* SIGHUP: parse, validate, publish. Discovery pools keep their last
 * resolved set. */
static void reload(struct ctl *ctl)
{
	uint64_t gen = ctl->cfg->generation + 1;
	struct config *cfg;
	char *errs = NULL;
	size_t errs_len = 0;
	FILE *copy = open_memstream(&errs, &errs_len); /* for POST /reload's answer */

	admin_reload_begin();
	cfg = load_config(&ctl->opts, ctl->envp, copy);
	if (cfg && priv_reload_check(ctl->cfg, cfg) < 0) {
		config_unref(cfg);
		cfg = NULL;
		if (copy)
			fprintf(
			    copy,
			    "the new config needs privileges this process dropped: see the log\n");
	}
	if (cfg && (disc_fill(cfg) < 0 || build(cfg, ctl->acct) < 0)) {
		snapshot_put(cfg);
		cfg = NULL;
		if (copy)
			fprintf(copy,
			        "the config could not be built (its certificates?): see the log\n");
	}
	if (copy)
		fclose(copy);
	if (!cfg) {
		ctl->reloads_failed++;
		log_err("reload generation=%llu failed: the running config stays",
		        (unsigned long long)gen);
		log_info("reload generation=%llu failed", (unsigned long long)gen);
		admin_reload_end(gen, false, errs);
		free(errs);
		return;
	}
	free(errs);
	acct_set_limits(ctl->acct, &cfg->memory_limits, &cfg->memory_tuning);
	/* The ticket keys stay (tickets survive the reload); the interval may
	 * change. The ring exists since start: this cannot fail. */
	tls_ticket_init(certs_ticket_rotation(cfg));
	ctl->reloads_ok++;
	commit(ctl, cfg, "reload");
	admin_reload_end(gen, true, NULL); /* every worker uses it now */
	health_sync(ctl->health, cfg, clock_ms());
	disc_sync(cfg);
}

/* user_data of the signalfd read on the control ring (health checks tag
 * theirs with HEALTH_UD_TAG; MSG_RING and linked timeouts carry 0). */
#define CTL_UD_SIGNAL 0x1ull
#define CTL_UD_DISC   0x3ull /* the poll of discovery's fd (not HEALTH_UD_TAG) */

/* An SQE of the control ring, submitting what is queued first when the
 * ring is full. */
static struct io_uring_sqe *ctl_sqe(struct ctl *ctl)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ctl->ring);

	if (!sqe) {
		io_uring_submit(&ctl->ring);
		sqe = io_uring_get_sqe(&ctl->ring);
	}
	return sqe;
}

/* Arms a one-shot poll of discovery's fd on the control ring, if it has one. */
static void arm_disc_poll(struct ctl *ctl)
{
	struct io_uring_sqe *sqe;

	if (disc_fd() < 0)
		return;
	sqe = ctl_sqe(ctl);
	io_uring_prep_poll_add(sqe, disc_fd(), POLLIN);
	io_uring_sqe_set_data64(sqe, CTL_UD_DISC);
}

static void arm_signal_read(struct ctl *ctl)
{
	struct io_uring_sqe *sqe = ctl_sqe(ctl);

	io_uring_prep_read(sqe, ctl->sfd, &ctl->si, sizeof(ctl->si), 0);
	io_uring_sqe_set_data64(sqe, CTL_UD_SIGNAL);
}

/* Waits on the control ring until <next> (clock_ms()) for completions,
 * hands health checks theirs, and returns the signal that arrived (0 for
 * none). */
static int wait_ring(struct ctl *ctl, uint64_t next)
{
	uint64_t now = clock_ms(), left = next > now ? next - now : 0;
	struct __kernel_timespec ts = {.tv_sec = (long long)(left / 1000),
	                               .tv_nsec = (long long)(left % 1000) * 1000000};
	struct io_uring_cqe *cqe;
	int sig = 0;

	io_uring_submit_and_wait_timeout(&ctl->ring, &cqe, 1, &ts, NULL);
	while (io_uring_peek_cqe(&ctl->ring, &cqe) == 0) {
		if (cqe->user_data == CTL_UD_SIGNAL) {
			if (cqe->res == sizeof(ctl->si))
				sig = (int)ctl->si.ssi_signo;
			arm_signal_read(ctl);
		} else if (cqe->user_data == CTL_UD_DISC) {
			arm_disc_poll(ctl); /* disc_process() runs every turn */
		} else if ((cqe->user_data & HEALTH_UD_MASK) == HEALTH_UD_TAG) {
			health_cqe(ctl->health, cqe);
		}
		io_uring_cqe_seen(&ctl->ring, cqe);
		if (sig)
			break; /* handled before the next completion */
	}
	return sig;
}

/* The control thread's loop, on its own ring: the signalfd read, health
 * checks, and the periodic work (pool sizes, leak checks, ticket keys). */
static void control_loop(struct ctl *ctl)
{
	uint64_t next_adjust = clock_ms() + ctl->cfg->memory_tuning.pool_check_interval;
	uint64_t next_leak = clock_ms() + ctl->cfg->memory_tuning.leak_check_interval;
	uint64_t next_ticket = clock_ms() + tls_ticket_tick(clock_ms()); /* ticket key rotation */
	uint64_t next_health = health_run(ctl->health, clock_ms());

	arm_signal_read(ctl);
	arm_disc_poll(ctl);
	for (;;) {
		const struct cfg_memory_tuning *mt = &ctl->cfg->memory_tuning;
		struct stats_src src = {
		    &ctl->g,     ctl->cfg,        ctl->acct,          ctl->pool_list,
		    ctl->npools, ctl->reloads_ok, ctl->reloads_failed};
		uint64_t now, next = next_adjust < next_leak ? next_adjust : next_leak;
		unsigned i;
		int sig;

		if (next_ticket < next)
			next = next_ticket;
		if (next_health < next)
			next = next_health;
		if (disc_next() < next)
			next = disc_next();
		sig = wait_ring(ctl, next);
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("stopping: draining connections");
			notify_stopping(ctl->cfg);
			return;
		}
		if (sig == SIGUSR1)
			stats_log_snapshot(&src);
		if (sig == SIGUSR2)
			alog_reopen(); /* logrotate's postrotate */
		if (sig == SIGHUP) {
			uint64_t failed = ctl->reloads_failed;

			notify_reloading(ctl->cfg->generation + 1);
			reload(ctl);
			notify_ready(ctl->cfg, ctl->g.n, ctl->reloads_failed != failed);
		}
		if (disc_process())
			discovered(ctl);
		now = clock_ms();
		if (now >= next_adjust) {
			for (i = 0; i < ctl->npools; i++)
				pool_adjust(ctl->pool_list[i], mt->pool_growth_threshold,
				            mt->pool_shrink_threshold);
			next_adjust = now + mt->pool_check_interval;
		}
		if (now >= next_leak) {
			for (i = 0; i < ctl->npools; i++)
				admin_note_leaks(
				    pool_leak_check(ctl->pool_list[i], now, mt->leak_threshold));
			next_leak = now + mt->leak_check_interval;
		}
		next_ticket = now + tls_ticket_tick(now); /* rotates when due */
		next_health = health_run(ctl->health, now);
	}
}

static void teardown(struct ctl *ctl)
{
	unsigned i;

	uint64_t in_use = 0;

	alog_stop(); /* if run() returned early; nothing when already stopped */
	free(ctl->g.w);
	disc_stop();
	lstat_free_all();
	/* Every worker has flushed its cache and given its buffers back:
	 * whatever is still handed out now was leaked. */
	for (i = 0; i < ctl->npools; i++) {
		struct pool_stats ps;

		pool_stats(ctl->pool_list[i], &ps);
		for (unsigned k = 0; k < BUF_NCLASS; k++)
			in_use += ps.cls[k].in_use;
		pool_free(ctl->pool_list[i]);
	}
	if (ctl->cfg)
		snapshot_put(publish_set(NULL));
	if (ctl->acct) {
		struct acct_stats a;

		acct_snapshot(ctl->acct, &a);
		if (ctl->started)
			log_info(
			    "exit memory current=%llu connection=%llu buffer=%llu ssl=%llu cache=%llu buffers_in_use=%llu",
			    (unsigned long long)a.total.current,
			    (unsigned long long)a.comp[ACCT_CONN].current,
			    (unsigned long long)a.comp[ACCT_BUF].current,
			    (unsigned long long)a.comp[ACCT_SSL].current,
			    (unsigned long long)a.comp[ACCT_CACHE].current,
			    (unsigned long long)in_use);
		if (!acct_idle(ctl->acct) || in_use)
			log_warn("memory: not back at zero at exit (a leak)");
		acct_free(ctl->acct);
	}
	if (ctl->ring.ring_fd > 0)
		io_uring_queue_exit(&ctl->ring);
	if (ctl->sfd > 0)
		close(ctl->sfd);
}

static int run(struct ctl *ctl)
{
	char msg[256];
	int ret;

	ret = uring_probe(msg, sizeof(msg));
	if (ret < 0) {
		log_err("%s", msg);
		return 1;
	}
	if (place(ctl) < 0 || check_nofile(ctl) < 0)
		return 1;
	ctl->acct = acct_new(&ctl->cfg->memory_limits, &ctl->cfg->memory_tuning);
	if (!ctl->acct) {
		log_err("start: %s", strerror(ENOMEM));
		return 1;
	}
	/* Discovery pools: their first answers, waited for DISC_START_WAIT_MS at
	 * most, are in the first snapshot; a pool without one starts empty. */
	if (disc_sync(ctl->cfg) == 0)
		disc_wait(DISC_START_WAIT_MS);
	if (disc_fill(ctl->cfg) < 0 || build(ctl->cfg, ctl->acct) < 0)
		return 1;
	ret = tls_ticket_init(certs_ticket_rotation(ctl->cfg));
	if (ret < 0) {
		log_err("session ticket keys: %s", strerror(-ret));
		return 1;
	}
	ret = io_uring_queue_init(256, &ctl->ring, 0);
	if (ret < 0) {
		log_err("control ring: %s", strerror(-ret));
		return 1;
	}
	if (setup_signals(ctl) < 0) {
		log_err("signalfd: %s", strerror(errno));
		return 1;
	}
	ctl->cfg->generation = 1;
	publish_set(ctl->cfg); /* the control thread's reference is the publication's */
	lstat_init(ctl->place.nworkers);
	ret = alog_start(ctl->place.nworkers, ctl->cfg->access_log_buffer);
	if (ret < 0) {
		log_err("access log: %s", strerror(-ret));
		return 1;
	}
	if (start_workers(ctl) < 0)
		return 1;
	place_log(&ctl->place, &ctl->topo);
	/* The pidfile is written before the drop (its directory may be root's);
	 * the listeners are bound: the user: and group: run the rest. */
	ret = ctl->opts.pidfile ? write_pidfile(ctl->opts.pidfile) : 0;
	if (ret == 0 && priv_drop(ctl->cfg) < 0) {
		if (ctl->opts.pidfile)
			unlink(ctl->opts.pidfile);
		ret = -EPERM;
	}
	if (ret < 0) {
		worker_group_stop(&ctl->g, &ctl->ring);
		worker_group_join(&ctl->g);
		return 1;
	}
	ctl->health = health_new(&ctl->ring, seed_of(ctl->cfg) ^ 0x6865616c7468ull);
	if (!ctl->health || health_sync(ctl->health, ctl->cfg, clock_ms()) < 0) {
		log_err("health checks: %s", strerror(ENOMEM));
		health_free(ctl->health);
		ctl->health = NULL;
		worker_group_stop(&ctl->g, &ctl->ring);
		worker_group_join(&ctl->g);
		return 1;
	}
	ctl->started = true;
	fault_arm(); /* start-up is done: from here on faults may be injected */
	admin_set_source(&(struct admin_src){&ctl->g, ctl->acct, ctl->pool_list, ctl->npools});
	log_info("ready pid=%d generation=%llu", getpid(),
	         (unsigned long long)ctl->cfg->generation);
	notify_ready(ctl->cfg, ctl->g.n, false);
	control_loop(ctl);
	health_free(ctl->health); /* no check runs while connections drain */
	ctl->health = NULL;
	worker_group_stop(&ctl->g, &ctl->ring);
	worker_group_join(&ctl->g);
	alog_stop(); /* every line the workers made is written: the summary counts */
	{
		struct stats_src src = {
		    &ctl->g,     ctl->cfg,        ctl->acct,          ctl->pool_list,
		    ctl->npools, ctl->reloads_ok, ctl->reloads_failed};

		stats_log_summary(&src);
	}
	fault_log("fault"); /* what was injected, to tell it from real failures */
	/* After a drop to user:, the pidfile's directory must be writable by
	 * that user for this to work (systemd's RuntimeDirectory=). */
	if (ctl->opts.pidfile && unlink(ctl->opts.pidfile) < 0 && errno != ENOENT)
		log_warn("pidfile %s: not removed: %s", ctl->opts.pidfile, strerror(errno));
	return 0;
}

/* The transports and protocols this program runs (ops.h), once, before
 * any worker starts. */
static int register_ops(void)
{
	int ret = ops_xprt_add(&raw_xprt);

	if (ret < 0)
		return ret;
	ops_default_xprt_set(ret);
	ret = ops_xprt_add(&tls_xprt);
	if (ret < 0)
		return ret;
	ops_tls_xprt_set(ret);
	if ((ret = l4_register()) < 0 || (ret = http_register()) < 0 ||
	    (ret = static_register()) < 0 || (ret = admin_register()) < 0 ||
	    (ret = proxyp_register()) < 0)
		return ret;
	return 0;
}

int main(int argc, char **argv, char **envp)
{
	static struct ctl ctl;
	int ret;

	/* The loader asks the TLS code whether each key is its certificate's. */
	config_tls_key_match = tls_pair_check;
	ret = cli_parse(argc, argv, &ctl.opts);
	if (ret)
		return ret < 0 ? 2 : 0; /* usage error, or --help/--version done */
	ctl.envp = envp;
	ctl.cfg = load_config(&ctl.opts, envp, NULL);
	if (!ctl.cfg)
		return 1;
	log_set_level(ctl.cfg->log_level);
	if (ctl.opts.check) {
		if (build(ctl.cfg, NULL) < 0) { /* certificates and keys load */
			config_unref(ctl.cfg);
			return 1;
		}
		config_print_summary(ctl.cfg, stderr);
		config_unref(ctl.cfg);
		return 0;
	}
	if (ctl.opts.print_config) {
		config_print(ctl.cfg, stdout);
		config_free(ctl.cfg);
		return 0;
	}
	{
		char err[256];

		if (fault_init(getenv("RINGLB_FAULT"), getenv("RINGLB_FAULT_SEED"), err,
		               sizeof(err)) < 0) {
			log_err("%s", err);
			config_unref(ctl.cfg);
			return 1;
		}
	}
	ret = register_ops();
	if (ret < 0) {
		log_err("protocols: %s", strerror(-ret));
		return 1;
	}
	ret = run(&ctl);
	if (!publish_get())
		publish_set(ctl.cfg); /* never published: teardown drops it */
	teardown(&ctl);
	return ret;
}
