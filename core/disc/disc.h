/* Service discovery: the backends of pools with `discovery:` asked for in
 * DNS with c-ares, in the background, in the control thread.
 *
 * One c-ares channel per discovery pool (its resolvers), whose sockets sit
 * in one epoll set: the control loop polls disc_fd() beside its other
 * descriptors, wakes at disc_next() at the latest, and calls
 * disc_process(). A pool is asked again after min(discovery.interval, the
 * answer's smallest TTL), never sooner than DISC_FLOOR_MS; a failing one
 * (timeout, SERVFAIL, NXDOMAIN, an empty answer) keeps its last good set
 * and is asked again after 1s, 2s, 4s... up to its interval, logged once
 * per streak of failures and once when it recovers.
 *
 * A pool's last good set is what the control thread publishes: disc_fill()
 * puts it into a snapshot being loaded (start, reload), disc_derive() makes
 * a new snapshot from the published one when an answer changed a set,
 * which the control thread builds and publishes like a reload.
 *
 * Control thread only; nothing here is reached by a worker.
 */
#ifndef RINGLB_CORE_DISC_DISC_H
#define RINGLB_CORE_DISC_DISC_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config-t.h"

#define DISC_FLOOR_MS      1000ull /* two queries of one pool, at least this apart */
#define DISC_TIMEOUT_MS    2000    /* c-ares: per try; two tries, resolvers in turn */
#define DISC_START_WAIT_MS 2000ull /* at start, first answers are waited for this long */

/* Makes the pools watched follow <cfg>'s discovery pools, by name: a new
 * pool, or one whose dns, type, port or resolvers changed, starts with no
 * set and is asked at once; a pool gone is forgotten; the others keep
 * their set and schedule. Call it once <cfg> is published. Returns 0 or
 * -ENOMEM (logged; the pools that could be set up are watched). */
int disc_sync(const struct config *cfg);

/* Copies into each discovery pool of <cfg> (loaded, not published) the
 * last good set of the watched pool of its name, if that pool asks the
 * same question; others keep no backends. Returns 0 or -ENOMEM. */
int disc_fill(struct config *cfg);

/* Start-up: waits up to <ms> until every watched pool has its first answer
 * or failure. */
void disc_wait(uint64_t ms);

/* The descriptor to poll for reading (an epoll set of c-ares' sockets),
 * -1 while no pool is watched. */
int disc_fd(void);

/* When disc_process() is due at the latest (clock_ms()), UINT64_MAX for
 * never. */
uint64_t disc_next(void);

/* Reads what the sockets have, handles c-ares' timeouts and sends the
 * queries that are due. Returns true when some pool's set changed since the
 * last disc_derive(). */
bool disc_process(void);

/* A snapshot derived from <cur> (config_derive()) in which every discovery
 * pool whose backends differ from its last good set has that set, each
 * change logged as "ringlb: discovery pool=P name=N backends=K added=A
 * removed=R reweighted=W"; NULL when none differs, or on ENOMEM (logged,
 * tried again at the next change). Not built. */
struct config *disc_derive(const struct config *cur);

/* Forgets every pool (exit). */
void disc_stop(void);

#endif
