/* Publication of the current config snapshot, with liburcu's QSBR flavour.
 *
 * The control thread publishes; workers are QSBR readers: each registers,
 * reports a quiescent state every loop turn and goes offline while it
 * blocks in its ring, and reads the current snapshot with publish_get()
 * without a lock. A snapshot a worker keeps using across loop turns is
 * pinned by a reference (core/lb/snapshot.h), not by the read side.
 */
#ifndef RINGLB_CONFIG_PUBLISH_H
#define RINGLB_CONFIG_PUBLISH_H

#include "config/config-t.h"

/* Control thread: makes <cfg> the current snapshot and returns the one it
 * replaces (NULL at first). The caller keeps its reference to the old one
 * until publish_wait() has returned. */
struct config *publish_set(struct config *cfg);

/* Readers (registered, online): the current snapshot. */
struct config *publish_get(void);

/* Waits for a grace period: every reader has passed a quiescent state
 * since the last publish_set(). */
void publish_wait(void);

/* Reader thread life cycle and its states. */
void publish_reader_register(void);
void publish_reader_unregister(void);
void publish_reader_quiescent(void);
void publish_reader_offline(void);
void publish_reader_online(void);

#endif
