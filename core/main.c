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
#include "core/mem/acct.h"
#include "core/http/http.h"
#include "core/proto/l4.h"
#include "core/lb/lb.h"
#include "core/base/log.h"
#include "core/loop/ops.h"
#include "core/loop/proxyp.h"
#include "core/mem/pool.h"
#include "core/xprt/raw.h"
#include "core/xprt/tls.h"
#include "tls/tls.h"
#include "core/lb/certs.h"
#include "core/lb/snapshot.h"
#include "core/proto/static.h"
#include "core/stats.h"
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
	int sfd;
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
	return 0;
}

static struct config *load_config(const struct cli_opts *o, char **envp)
{
	struct cfg_errors errs;
	struct config *cfg;

	config_errors_init(&errs);
	cfg = config_build(o, envp, &errs);
	config_errors_print(&errs, stderr);
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
	/* Blocked before any thread starts, so workers inherit the mask and
	 * every signal arrives on the control thread's signalfd. */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	ctl->sfd = signalfd(-1, &set, SFD_CLOEXEC);
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

/* SIGHUP: parse, validate, publish; the old snapshot is freed after a
 * grace period, once the last connection using it is gone. */
static void reload(struct ctl *ctl)
{
	uint64_t gen = ctl->cfg->generation + 1;
	struct config *cfg, *old;

	cfg = load_config(&ctl->opts, ctl->envp);
	if (cfg && build(cfg, ctl->acct) < 0) {
		snapshot_put(cfg);
		cfg = NULL;
	}
	if (!cfg) {
		ctl->reloads_failed++;
		log_err("reload generation=%llu failed: the running config stays",
		        (unsigned long long)gen);
		log_info("reload generation=%llu failed", (unsigned long long)gen);
		return;
	}
	cfg->generation = gen;
	acct_set_limits(ctl->acct, &cfg->memory_limits, &cfg->memory_tuning);
	/* The ticket keys stay (tickets survive the reload); the interval may
	 * change. The ring exists since start: this cannot fail. */
	tls_ticket_init(certs_ticket_rotation(cfg));
	old = publish_set(cfg);
	ctl->cfg = cfg;
	worker_group_msg(&ctl->g, &ctl->ring, WMSG_RELOAD);
	if (!wait_switched(ctl, gen))
		log_warn("reload generation=%llu: a worker has not switched after 10s",
		         (unsigned long long)gen);
	ctl->reloads_ok++;
	log_info("reload generation=%llu ok", (unsigned long long)gen);
	publish_wait();
	snapshot_put(old);
}

static void control_loop(struct ctl *ctl)
{
	uint64_t next_adjust = clock_ms() + ctl->cfg->memory_tuning.pool_check_interval;
	uint64_t next_leak = clock_ms() + ctl->cfg->memory_tuning.leak_check_interval;
	uint64_t next_ticket = clock_ms() + tls_ticket_tick(clock_ms()); /* ticket key rotation */

	for (;;) {
		const struct cfg_memory_tuning *mt = &ctl->cfg->memory_tuning;
		struct stats_src src = {
		    &ctl->g,     ctl->cfg,        ctl->acct,          ctl->pool_list,
		    ctl->npools, ctl->reloads_ok, ctl->reloads_failed};
		struct pollfd pfd = {.fd = ctl->sfd, .events = POLLIN};
		struct signalfd_siginfo si;
		uint64_t now = clock_ms();
		uint64_t next = next_adjust < next_leak ? next_adjust : next_leak;
		unsigned i;

		if (next_ticket < next)
			next = next_ticket;

		if (poll(&pfd, 1, next > now ? (int)(next - now) : 0) > 0 &&
		    read(ctl->sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
				log_info("stopping: draining connections");
				return;
			}
			if (si.ssi_signo == SIGUSR1)
				stats_log_snapshot(&src);
			if (si.ssi_signo == SIGHUP)
				reload(ctl);
		}
		now = clock_ms();
		if (now >= next_adjust) {
			for (i = 0; i < ctl->npools; i++)
				pool_adjust(ctl->pool_list[i], mt->pool_growth_threshold,
				            mt->pool_shrink_threshold);
			next_adjust = now + mt->pool_check_interval;
		}
		if (now >= next_leak) {
			for (i = 0; i < ctl->npools; i++)
				pool_leak_check(ctl->pool_list[i], now, mt->leak_threshold);
			next_leak = now + mt->leak_check_interval;
		}
		next_ticket = now + tls_ticket_tick(now); /* rotates when due */
	}
}

static void teardown(struct ctl *ctl)
{
	unsigned i;

	uint64_t in_use = 0;

	free(ctl->g.w);
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
	if (build(ctl->cfg, ctl->acct) < 0)
		return 1;
	ret = tls_ticket_init(certs_ticket_rotation(ctl->cfg));
	if (ret < 0) {
		log_err("session ticket keys: %s", strerror(-ret));
		return 1;
	}
	ret = io_uring_queue_init(64, &ctl->ring, 0);
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
	if (start_workers(ctl) < 0)
		return 1;
	place_log(&ctl->place, &ctl->topo);
	if (ctl->opts.pidfile && write_pidfile(ctl->opts.pidfile) < 0) {
		worker_group_stop(&ctl->g, &ctl->ring);
		worker_group_join(&ctl->g);
		return 1;
	}
	ctl->started = true;
	log_info("ready pid=%d generation=%llu", getpid(),
	         (unsigned long long)ctl->cfg->generation);
	control_loop(ctl);
	worker_group_stop(&ctl->g, &ctl->ring);
	worker_group_join(&ctl->g);
	{
		struct stats_src src = {
		    &ctl->g,     ctl->cfg,        ctl->acct,          ctl->pool_list,
		    ctl->npools, ctl->reloads_ok, ctl->reloads_failed};

		stats_log_summary(&src);
	}
	if (ctl->opts.pidfile)
		unlink(ctl->opts.pidfile);
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
	    (ret = static_register()) < 0 || (ret = proxyp_register()) < 0)
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
	ctl.cfg = load_config(&ctl.opts, envp);
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
