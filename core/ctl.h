/* The control thread: its state, shared by main.c (start, stop) and ctl.c
 * (the loop on its ring). */
#ifndef RINGLB_CORE_CTL_H
#define RINGLB_CORE_CTL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/signalfd.h>

#include "config/cli.h"
#include "config/config.h"
#include "core/health/health.h"
#include "core/loop/worker.h"
#include "core/mem/acct.h"
#include "core/mem/pool.h"
#include "core/upgrade.h"
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
	/* Binary upgrade (core/upgrade.h). */
	struct upgrade_srv upg; /* the upgrade socket this process offers (fd -1: none) */
	int upg_conn;           /* the exchange in progress with the other process, or -1 */
	int upg_peer;           /* that process's pid */
	bool handed_over;       /* the new process said go: it serves, this one drains */
};

/* Builds the runtime of <cfg>: balancers, then TLS contexts (a certificate
 * that does not load is a config error, printed in the errors' format).
 * Returns 0 or -1. */
int ctl_build(struct config *cfg, struct acct *acct);
/* Loads the config of <o> with the environment <envp>; its errors go to
 * stderr, and to <copy> too if set. NULL on errors. */
struct config *ctl_load_config(const struct cli_opts *o, char **envp, FILE *copy);
/* The signals the control thread takes on its ring (signalfd). 0 or -1. */
int ctl_setup_signals(struct ctl *ctl);
/* Offers this process's listening sockets on its upgrade socket, if it
 * has one (a failure costs the upgrade only: logged, and ringlb runs). */
void ctl_upg_open(struct ctl *ctl);
/* Waits on the control ring until <next> (clock_ms()) for completions,
 * hands health checks theirs, and returns the signal that arrived (0 for
 * none). */
int ctl_wait_ring(struct ctl *ctl, uint64_t next);
/* The control thread's loop, on its own ring: the signalfd read, health
 * checks, discovery, the upgrade exchange, and the periodic work (pool
 * sizes, leak checks, ticket keys), until it is told to stop. */
void ctl_loop(struct ctl *ctl);

#endif
