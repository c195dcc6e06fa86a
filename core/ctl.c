/* The control thread's loop (ctl.h): the config loaded and built, signals,
 * reloads, discovery answers, health checks and the binary upgrade's
 * exchange, all on the control thread's own ring. main.c starts what it
 * needs and runs ctl_loop() until it is told to stop.
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
#include "core/base/log.h"
#include "core/loop/listen.h"
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

int ctl_build(struct config *cfg, struct acct *acct)
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

struct config *ctl_load_config(const struct cli_opts *o, char **envp, FILE *copy)
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

int ctl_setup_signals(struct ctl *ctl)
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

/* Whether <old> has a listener the workers hand over to <l> (name, mode
 * and address unchanged: wconf.c's find_same()), so <l> binds nothing. */
static bool kept_listener(const struct config *old, const struct cfg_listener *l)
{
	const struct cfg_listener *o;

	for (unsigned i = 0; i <= old->nlisteners; i++) {
		o = i < old->nlisteners ? &old->listeners[i] : &old->admin;
		if (i == old->nlisteners && !old->admin_enabled)
			break;
		if (o->mode == l->mode && !strcmp(o->name, l->name) && o->bind.len == l->bind.len &&
		    !memcmp(&o->bind.ss, &l->bind.ss, l->bind.len))
			return true;
	}
	return false;
}

#define RESERVE_MAX 64 /* listeners a reload adds that are checked (the rest as before) */

/* Binds, without listening, the address of every listener of <cfg> that
 * the running config does not have, so that a port in use fails the reload
 * before it is published (the workers would log it and go on without the
 * listener). The sockets are held in <fds> until the workers have bound
 * theirs. Returns how many, or -1 with "listener NAME: bind ADDR: WHY" in
 * <msg>. */
static int reserve_listeners(const struct config *old, const struct config *cfg, int *fds,
                             char *msg, size_t len)
{
	const struct cfg_listener *l;
	int n = 0, fd;

	for (unsigned i = 0; i <= cfg->nlisteners && n < RESERVE_MAX; i++) {
		l = i < cfg->nlisteners ? &cfg->listeners[i] : &cfg->admin;
		if ((i == cfg->nlisteners && !cfg->admin_enabled) || kept_listener(old, l))
			continue;
		fd = listen_reserve(l, msg, len);
		if (fd < 0) {
			while (n)
				close(fds[--n]);
			return -1;
		}
		fds[n++] = fd;
	}
	return n;
}

/* SIGHUP: parse, validate, reserve the new listeners' ports, publish.
 * Discovery pools keep their last resolved set. */
static void reload(struct ctl *ctl)
{
	uint64_t gen = ctl->cfg->generation + 1;
	struct config *cfg;
	char *errs = NULL, why[300] = "";
	size_t errs_len = 0;
	FILE *copy = open_memstream(&errs, &errs_len); /* for POST /reload's answer */
	int held[RESERVE_MAX], nheld = 0;

	admin_reload_begin();
	cfg = ctl_load_config(&ctl->opts, ctl->envp, copy);
	if (cfg && priv_reload_check(ctl->cfg, cfg) < 0) {
		config_unref(cfg);
		cfg = NULL;
		if (copy)
			fprintf(
			    copy,
			    "the new config needs privileges this process dropped: see the log\n");
	}
	if (cfg && (disc_fill(cfg) < 0 || ctl_build(cfg, ctl->acct) < 0)) {
		snapshot_put(cfg);
		cfg = NULL;
		if (copy)
			fprintf(copy,
			        "the config could not be built (its certificates?): see the log\n");
	}
	if (cfg && (nheld = reserve_listeners(ctl->cfg, cfg, held, why, sizeof(why))) < 0) {
		snapshot_put(cfg);
		cfg = NULL;
		if (copy)
			fprintf(copy, "%s\n", why);
	}
	if (copy)
		fclose(copy);
	if (!cfg) {
		ctl->reloads_failed++;
		log_err("reload generation=%llu failed: %s%sthe running config stays",
		        (unsigned long long)gen, why, why[0] ? ": " : "");
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
	while (nheld) /* every worker has bound its own sockets */
		close(held[--nheld]);
	admin_reload_end(gen, true, NULL); /* every worker uses it now */
	health_sync(ctl->health, cfg, clock_ms());
	disc_sync(cfg);
}

/* user_data of the signalfd read on the control ring (health checks tag
 * theirs with HEALTH_UD_TAG; MSG_RING and linked timeouts carry 0). */
#define CTL_UD_SIGNAL     0x1ull
#define CTL_UD_DISC       0x3ull /* the poll of discovery's fd (not HEALTH_UD_TAG) */
#define CTL_UD_UPG_ACCEPT 0x4ull /* the poll of the upgrade socket */
#define CTL_UD_UPG_CONN   0x5ull /* the poll of an upgrade's connection, for its go */
#define CTL_HANDOVER      (-1)   /* ctl_wait_ring(): the new process said go */

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

/* A one-shot poll for input on <fd>, tagged <ud>. */
static void arm_poll(struct ctl *ctl, int fd, uint64_t ud)
{
	struct io_uring_sqe *sqe = ctl_sqe(ctl);

	io_uring_prep_poll_add(sqe, fd, POLLIN);
	io_uring_sqe_set_data64(sqe, ud);
}

void ctl_upg_open(struct ctl *ctl)
{
	char path[sizeof(ctl->upg.path)], msg[300];

	if (!upgrade_path(ctl->cfg, ctl->opts.pidfile, path, sizeof(path)))
		return;
	if (upgrade_listen(&ctl->upg, path, msg, sizeof(msg)) < 0)
		log_warn("upgrade: %s: no binary upgrade of this process", msg);
}

/* Old side: a new process connected to the upgrade socket: it gets the
 * sockets, then this process serves on until it says go. */
static void upg_accept(struct ctl *ctl)
{
	char msg[300];
	int fd, pid;

	if (ctl->upg.fd < 0)
		return; /* closed: the poll's last completion */
	fd = accept4(ctl->upg.fd, NULL, NULL, SOCK_CLOEXEC);
	arm_poll(ctl, ctl->upg.fd, CTL_UD_UPG_ACCEPT);
	if (fd < 0)
		return;
	if (ctl->upg_conn >= 0) {
		log_warn("upgrade: refused a second request while pid=%d's is in progress",
		         ctl->upg_peer);
		close(fd);
		return;
	}
	pid = upgrade_offer(fd, msg, sizeof(msg));
	if (pid < 0) {
		log_warn("upgrade: %s", msg);
		close(fd);
		return;
	}
	log_info("upgrade: pid=%d took the listening sockets; serving until it is ready", pid);
	ctl->upg_conn = fd;
	ctl->upg_peer = pid;
	arm_poll(ctl, fd, CTL_UD_UPG_CONN);
}

/* Old side: input on the upgrade's connection. Returns true on go. */
static bool upg_input(struct ctl *ctl)
{
	int r = upgrade_read_go(ctl->upg_conn);

	if (r == -EAGAIN) {
		arm_poll(ctl, ctl->upg_conn, CTL_UD_UPG_CONN);
		return false;
	}
	if (r == 1) {
		upgrade_close(&ctl->upg, false); /* the path becomes the new process's */
		upgrade_ack(ctl->upg_conn);
	}
	close(ctl->upg_conn);
	ctl->upg_conn = -1;
	if (r == 1)
		return true;
	log_warn("upgrade: pid=%d ended before it was ready (its output says why): still serving",
	         ctl->upg_peer);
	return false;
}

static void arm_signal_read(struct ctl *ctl)
{
	struct io_uring_sqe *sqe = ctl_sqe(ctl);

	io_uring_prep_read(sqe, ctl->sfd, &ctl->si, sizeof(ctl->si), 0);
	io_uring_sqe_set_data64(sqe, CTL_UD_SIGNAL);
}

int ctl_wait_ring(struct ctl *ctl, uint64_t next)
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
		} else if (cqe->user_data == CTL_UD_UPG_ACCEPT) {
			upg_accept(ctl);
		} else if (cqe->user_data == CTL_UD_UPG_CONN) {
			if (upg_input(ctl))
				sig = CTL_HANDOVER;
		} else if ((cqe->user_data & HEALTH_UD_MASK) == HEALTH_UD_TAG) {
			health_cqe(ctl->health, cqe);
		}
		io_uring_cqe_seen(&ctl->ring, cqe);
		if (sig)
			break; /* handled before the next completion */
	}
	return sig;
}

void ctl_loop(struct ctl *ctl)
{
	uint64_t next_adjust = clock_ms() + ctl->cfg->memory_tuning.pool_check_interval;
	uint64_t next_leak = clock_ms() + ctl->cfg->memory_tuning.leak_check_interval;
	uint64_t next_ticket = clock_ms() + tls_ticket_tick(clock_ms()); /* ticket key rotation */
	uint64_t next_health = health_run(ctl->health, clock_ms());

	arm_signal_read(ctl);
	arm_disc_poll(ctl);
	if (ctl->upg.fd >= 0)
		arm_poll(ctl, ctl->upg.fd, CTL_UD_UPG_ACCEPT);
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
		sig = ctl_wait_ring(ctl, next);
		if (sig == CTL_HANDOVER) {
			/* No STOPPING=1: the unit goes on, with the new MAINPID. */
			log_info(
			    "upgrade: pid=%d accepts on every socket: this process stops accepting and drains",
			    ctl->upg_peer);
			ctl->handed_over = true;
			worker_group_msg(&ctl->g, &ctl->ring, WMSG_HANDOVER);
			return;
		}
		if (sig == SIGTERM || sig == SIGINT) {
			log_info("stopping: draining connections");
			upgrade_close(&ctl->upg, true); /* no upgrade of a process that stops */
			notify_stopping(ctl->cfg);
			/* A new process holds copies of our sockets: stop as in a
			 * handover, without shutdown(), which would end its
			 * listening too. */
			if (ctl->upg_conn >= 0)
				worker_group_msg(&ctl->g, &ctl->ring, WMSG_HANDOVER);
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
			admin_note_leaks(slab_leak_check_all(now, mt->leak_threshold));
			next_leak = now + mt->leak_check_interval;
		}
		next_ticket = now + tls_ticket_tick(now); /* rotates when due */
		next_health = health_run(ctl->health, now);
	}
}
