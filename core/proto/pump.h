/* The byte pump: a connection and its peer copying bytes both ways, for
 * the L4 proxy and HTTP Upgrade tunnels (and HTTP bodies, which use its
 * backpressure). A direction reads socket X and writes its peer P:
 * received buffers are queued on P as they are (no copy), and with
 * max_buffer_size queued on P, X stops being read until P's queue is down
 * to half. Where both transports allow it, a direction may move by
 * splice(2) instead: X -> pooled pipe -> P when the ring says X is readable
 * or P writable. EOF on X becomes a shut write on P once everything read
 * from X is written; the pair closes when both directions are done.
 */
#ifndef RINGLB_CORE_PUMP_H
#define RINGLB_CORE_PUMP_H

#include "core/loop/worker-t.h"

/* Queues the <len> bytes of received buffer <buf> on <x>'s peer and sends
 * them; stops reading <x> when the peer's queue is full. Returns false (the
 * buffer given back) when <x> has no peer or no descriptor was free. */
bool pump_data(struct worker *w, struct conn *x, char *buf, uint32_t len);
/* <p>'s queue went out: reading its peer may go on, its EOF may be
 * forwarded. */
void pump_drained(struct worker *w, struct conn *p);
/* Reading <x> may go on: re-arms its read (or its splice) when nothing
 * holds it back. */
void pump_resume(struct worker *w, struct conn *x);
/* <x> read EOF: forwards it once every byte read from it is written; when
 * both directions are done the pair closes. */
void pump_eof(struct worker *w, struct conn *x);
/* A poll the splice path armed completed. */
void pump_polled(struct worker *w, struct conn *c, uint8_t op, int res);
/* Starts moving <x>'s direction by splice (both sockets' transports must
 * be able to). */
void pump_splice(struct worker *w, struct conn *x);

/* Stops reading <x> while its peer <p>'s queue holds max_buffer_size. */
void pump_pause_if_full(struct worker *w, struct conn *x, struct conn *p);
/* Reads <x> again (its protocol's resume()) once <p>'s queue is down to
 * half. */
void pump_unpause(struct worker *w, struct conn *x, struct conn *p);
/* Tears down <x> and its peer. */
void pump_close_pair(struct worker *w, struct conn *x);
/* Whether <c> splices and bytes read from it wait in its pipe. */
bool pump_pipe_bytes(struct worker *w, const struct conn *c);
/* Gives back <c>'s pipe (release). */
void pump_release(struct worker *w, struct conn *c);

#endif
