/* ringlb's start and stop: command line, environment and config, io_uring
 * probe, placement, memory, workers, the pidfile, the new side of a binary
 * upgrade; then the control thread's loop (ctl.c) until it is told to
 * stop, and the teardown.
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
#include <sys/socket.h>
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
#include "core/loop/listen.h"
#include "core/loop/lsock.h"
#include "core/loop/lstat.h"
#include "core/loop/ops.h"
#include "core/loop/proxyp.h"
#include "core/mem/pool.h"
#include "core/mem/slab.h"
#include "core/xprt/raw.h"
#include "core/xprt/tls.h"
#include "tls/tls.h"
#include "core/lb/certs.h"
#include "core/lb/snapshot.h"
#include "core/proto/static.h"
#include "core/notify.h"
#include "core/priv.h"
#include "core/stats.h"
#include "core/upgrade.h"
#include "core/disc/disc.h"
#include "core/base/uring.h"
#include "core/loop/worker.h"
#include "numa/cpulist.h"
#include "numa/place.h"
#include "numa/topo.h"

#include "core/ctl.h"

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
static int write_pidfile(const char *path, int pid)
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
		n = snprintf(buf, sizeof(buf), "%d\n", pid);
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

/* Whether <path> still names this process (a process an upgrade started
 * may have written its own pid there since). */
static bool pidfile_ours(const char *path)
{
	char buf[24] = "";
	FILE *f = fopen(path, "re");
	bool ours;

	if (!f)
		return false;
	ours = fgets(buf, sizeof(buf), f) && atoi(buf) == getpid();
	fclose(f);
	return ours;
}

/* Start-up failed after the pidfile was written: it names the process
 * that goes on serving again (the one an upgrade was to replace), or is
 * removed. */
static void pidfile_undo(const struct ctl *ctl)
{
	if (!ctl->opts.pidfile)
		return;
	if (ctl->opts.upgrade)
		write_pidfile(ctl->opts.pidfile, ctl->upg_peer);
	else
		unlink(ctl->opts.pidfile);
}

static void teardown(struct ctl *ctl)
{
	unsigned i;

	uint64_t in_use = 0;

	alog_stop(); /* if run() returned early; nothing when already stopped */
	upgrade_close(&ctl->upg, !ctl->handed_over);
	if (ctl->upg_conn >= 0)
		close(ctl->upg_conn); /* the other process learns we are gone */
	lsock_inherit_close();
	free(ctl->g.w);
	disc_stop();
	lstat_free_all();
	/* Every worker has flushed its cache and given its buffers back:
	 * whatever is still handed out now was leaked. */
	for (i = 0; i < ctl->npools; i++) {
		struct pool_stats ps;

		pool_stats(ctl->pool_list[i], &ps);
		for (unsigned k = 0; k < BUF_NCLASS; k++)
			in_use += ps.cls[k].in_use + ps.cls[k].over_in_use;
		pool_free(ctl->pool_list[i]);
	}
	in_use += slab_leaked(); /* objects the workers' slabs had out at their end */
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

/* New side: connects to the running process's upgrade socket and takes
 * its listening sockets for the workers about to start, which open them
 * without accepting until upg_arm(). 0, or -1 with the reason logged (the
 * running process is left as it was). */
static int upg_fetch(struct ctl *ctl)
{
	char path[sizeof(ctl->upg.path)], msg[400];
	struct listen_sock *socks;
	unsigned n;
	int pid, ret;

	if (!upgrade_path(ctl->cfg, ctl->opts.pidfile, path, sizeof(path))) {
		log_err(
		    "upgrade: no upgrade socket: set upgrade.socket (or --pidfile, or run under "
		    "systemd's RuntimeDirectory=) as the running process has it");
		return -1;
	}
	pid = upgrade_fetch(path, &ctl->upg_conn, &socks, &n, msg, sizeof(msg));
	if (pid < 0) {
		log_err("upgrade: %s; the running process goes on serving", msg);
		return -1;
	}
	ctl->upg_peer = pid;
	lsock_inherit(socks, n);
	ctl->g.hold = true;
	log_info("upgrade: received %u listening sockets from pid=%d", n, pid);
	/* Started from a shell for a process systemd runs: into the unit, so
	 * that it takes our MAINPID= (before the workers: they follow). */
	ret = upgrade_join_cgroup(pid, msg, sizeof(msg));
	if (ret > 0)
		log_info("upgrade: %s (the cgroup of pid=%d)", msg, pid);
	else if (ret < 0)
		log_warn("upgrade: %s: systemd may not take this process as the unit's main one",
		         msg);
	return 0;
}

/* New side: every worker accepts now; closes the sockets none took. */
static int upg_arm(struct ctl *ctl)
{
	uint64_t deadline = clock_ms() + 10000;
	unsigned i, closed;

	worker_group_msg(&ctl->g, &ctl->ring, WMSG_ARM);
	for (i = 0; i < ctl->g.n; i++)
		while (!atomic_load(&ctl->g.w[i].accepting)) {
			if (clock_ms() > deadline) {
				log_err(
				    "upgrade: worker %u does not accept after 10s; the running process goes on serving",
				    i);
				return -1;
			}
			usleep(1000);
		}
	closed = lsock_inherit_close();
	if (closed)
		log_info(
		    "upgrade: closed %u received sockets that no listener or worker of this config uses",
		    closed);
	return 0;
}

/* New side: tells the old process to stop accepting and drain, then offers
 * the upgrade socket itself. */
static void upg_go(struct ctl *ctl)
{
	char msg[300];

	if (upgrade_go(ctl->upg_conn, msg, sizeof(msg)) < 0)
		log_warn("upgrade: pid=%d: %s", ctl->upg_peer, msg);
	else
		log_info("upgrade: pid=%d stops accepting and drains; this process serves",
		         ctl->upg_peer);
	ctl->upg_conn = -1;
	ctl_upg_open(ctl);
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
	if (disc_fill(ctl->cfg) < 0 || ctl_build(ctl->cfg, ctl->acct) < 0)
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
	if (ctl_setup_signals(ctl) < 0) {
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
	if (ctl->opts.upgrade && upg_fetch(ctl) < 0)
		return 1;
	if (start_workers(ctl) < 0)
		return 1;
	if (!ctl->opts.upgrade)
		ctl_upg_open(ctl); /* before the drop: its directory may be root's */
	place_log(&ctl->place, &ctl->topo);
	/* The pidfile is written before the drop (its directory may be root's);
	 * the listeners are bound: the user: and group: run the rest. */
	ret = ctl->opts.pidfile ? write_pidfile(ctl->opts.pidfile, getpid()) : 0;
	if (ret == 0 && priv_drop(ctl->cfg) < 0) {
		pidfile_undo(ctl);
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
		pidfile_undo(ctl);
		health_free(ctl->health);
		ctl->health = NULL;
		worker_group_stop(&ctl->g, &ctl->ring);
		worker_group_join(&ctl->g);
		return 1;
	}
	if (ctl->opts.upgrade && upg_arm(ctl) < 0) {
		pidfile_undo(ctl);
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
	if (ctl->opts.upgrade) {
		notify_mainpid(ctl->cfg, ctl->g.n); /* before the old one exits */
		upg_go(ctl);
	} else {
		notify_ready(ctl->cfg, ctl->g.n, false);
	}
	ctl_loop(ctl);
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
	if (ctl->opts.pidfile && !ctl->handed_over && pidfile_ours(ctl->opts.pidfile) &&
	    unlink(ctl->opts.pidfile) < 0 && errno != ENOENT)
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
	ctl.upg.fd = -1;
	ctl.upg_conn = -1;
	ctl.cfg = ctl_load_config(&ctl.opts, envp, NULL);
	if (!ctl.cfg)
		return 1;
	log_set_level(ctl.cfg->log_level);
	if (ctl.opts.check) {
		if (ctl_build(ctl.cfg, NULL) < 0) { /* certificates and keys load */
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
