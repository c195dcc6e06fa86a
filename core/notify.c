/* sd_notify(3) messages to systemd. sd_notify() does nothing (returns 0)
 * when $NOTIFY_SOCKET is unset, so ringlb run by hand or by another
 * supervisor behaves as before. The variable is left in the environment
 * (ringlb runs no children), so every message of the process can reach it.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "core/base/log.h"
#include "core/notify.h"

/* Sends <msg>; a failure is logged once (systemd then kills or times out
 * the unit, which says more than we can). */
static void notify_send(const char *msg)
{
	static bool warned;
	int ret = sd_notify(0, msg);

	if (ret < 0 && !warned) {
		warned = true;
		log_warn("sd_notify: %s", strerror(-ret));
	}
}

static void notify_status(const struct config *cfg, unsigned nworkers, char *buf, size_t len)
{
	snprintf(buf, len, "STATUS=running generation=%llu: %u %s, %u %s",
	         (unsigned long long)cfg->generation, cfg->nlisteners,
	         cfg->nlisteners == 1 ? "listener" : "listeners", nworkers,
	         nworkers == 1 ? "worker" : "workers");
}

void notify_ready(const struct config *cfg, unsigned nworkers, bool reload_failed)
{
	char status[200], msg[320];

	notify_status(cfg, nworkers, status, sizeof(status));
	if (reload_failed)
		snprintf(msg, sizeof(msg),
		         "READY=1\n%s; reload generation=%llu failed, the running config stays",
		         status, (unsigned long long)cfg->generation + 1);
	else
		snprintf(msg, sizeof(msg), "READY=1\n%s", status);
	notify_send(msg);
}

void notify_reloading(uint64_t gen)
{
	struct timespec ts;
	char msg[160];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(msg, sizeof(msg),
	         "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading generation=%llu",
	         (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000,
	         (unsigned long long)gen);
	notify_send(msg);
}

void notify_stopping(const struct config *cfg)
{
	uint64_t drain = 0;
	char msg[160];

	for (unsigned i = 0; i < cfg->nlisteners; i++) {
		if (cfg->listeners[i].timeouts.drain > drain)
			drain = cfg->listeners[i].timeouts.drain;
	}
	/* the drain, and 10 s to stop the workers and free the memory */
	snprintf(msg, sizeof(msg),
	         "STOPPING=1\nSTATUS=stopping: draining connections for up to %llums\n"
	         "EXTEND_TIMEOUT_USEC=%llu",
	         (unsigned long long)drain, (unsigned long long)(drain + 10000) * 1000);
	notify_send(msg);
}

void notify_mainpid(const struct config *cfg, unsigned nworkers)
{
	char status[200], msg[320];

	notify_status(cfg, nworkers, status, sizeof(status));
	snprintf(msg, sizeof(msg), "MAINPID=%d\nREADY=1\n%s", (int)getpid(), status);
	notify_send(msg);
}
