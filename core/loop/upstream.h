/* Upstream connections: picking a backend for a client, opening and
 * connecting a socket to it, the connect's outcome in the counters, and
 * the worker's pool of idle keep-alive connections per backend.
 *
 * A client record carries what it tried (ntried, tried[]); an upstream
 * record its pool and backend, CONN_F_LBACTIVE while its balancer counts
 * it active, CONN_F_IDLE while it is in the idle pool (linked by
 * idle_next, one list per generation, pool and backend).
 */
#ifndef RINGLB_CORE_UPSTREAM_H
#define RINGLB_CORE_UPSTREAM_H

#include "core/loop/worker-t.h"

/* Picks a backend of pool <pi> of <ls>'s snapshot that client <c> has not
 * tried yet (at most LB_MAX_TRIES), and records it in c->tried. <key> is
 * the maglev hash key. Returns its index, or -1 when none is left. */
int upstream_pick(struct worker *w, struct wlistener *ls, int pi, struct conn *c, uint64_t key);
/* Whether pool <pi> of <ls>'s snapshot hashes a key (maglev). */
bool upstream_hashed(const struct wlistener *ls, int pi);
/* Opens a socket to backend <b> of pool <pi>, takes a record running
 * protocol <proto> for it, linked to client <c>, counts it active in the
 * balancer and starts the connect (timeouts.connect as a linked timeout;
 * the protocol's connected() gets 0, an error, or -ECANCELED). Its timer
 * is the idle pool's (armed only while it is idle). Returns the
 * record, or NULL with *err -EAGAIN (no socket: counted connect_fail,
 * another backend may do) or -ENOSPC (table full: counted table_full). */
struct conn *upstream_open(struct worker *w, struct wlistener *ls, int pi, struct conn *c, int b,
                           uint8_t proto, int *err);
/* Counts the outcome <res> of <u>'s connect for the worker and the
 * backend (a failure is logged, rate-limited); on success marks it
 * connected. Returns true on success. */
bool upstream_connected(struct worker *w, struct conn *u, int res);
/* Passive checks (pools[].health.passive; nothing when it is off): <u>'s
 * backend failed (connect refused or timed out, a reset, an http 5xx),
 * or answered well (tcp: connected; http: a status below 500), which ends
 * its failure streak. upstream_connected() counts the connect itself. */
void upstream_passive_fail(struct worker *w, struct conn *u);
void upstream_passive_ok(struct worker *w, struct conn *u);
/* <u> no longer counts as active for its balancer. */
void upstream_lb_end(struct worker *w, struct conn *u);
/* Counts the answer <status> <u>'s backend gave (this worker's counters). */
void upstream_count_status(struct worker *w, struct conn *u, int status);

/* Puts <u> (its exchange complete, its listener <ls>) in the idle pool
 * when the pool has room (pools[].keepalive.max_idle per backend, a cap
 * per worker) and arms its keepalive.timeout: true if it was kept, false
 * (nothing done) otherwise. <retired_ok>: a retired
 * listener may keep it. */
bool upstream_idle_put(struct worker *w, struct conn *u, bool retired_ok);
/* An idle upstream of listener <lsi> to backend <b> of pool <pi>, taken
 * out of the pool and linked to <c> (and counted active again); NULL
 * when there is none. */
struct conn *upstream_idle_take(struct worker *w, struct conn *c, int pi, int b);
/* Closes the idle upstreams of <ls> (it stopped accepting). */
void upstream_idle_retire(struct worker *w, struct wlistener *ls);
/* Whether <u>'s keep-alive time in the pool is over. */
bool upstream_idle_expired(struct worker *w, const struct conn *u);
/* The keep-alive time of <u>'s pool. */
uint64_t upstream_keepalive(struct worker *w, const struct conn *u);
/* Release of an upstream record: out of the idle pool, not active. */
void upstream_release(struct worker *w, struct conn *u);

/* The idle pool's lists for generation <g> (wgen_new()). 0 or -ENOMEM. */
int upstream_gen_init(struct wgen *g, unsigned worker);
void upstream_gen_deinit(struct wgen *g);

#endif
