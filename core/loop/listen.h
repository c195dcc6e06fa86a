/* Listeners: a worker's listen sockets, accept and the accept-time
 * backpressure, and the listener records (struct wlistener) with their
 * lifetime. A listener hands each accepted socket to the protocol
 * registered for its mode (ops.h).
 */
#ifndef RINGLB_CORE_LISTEN_H
#define RINGLB_CORE_LISTEN_H

#include <sys/socket.h>

#include "core/base/timer-t.h"
#include "core/loop/worker-t.h"

/* A listener record for <l> of generation <g> (one more reference on it)
 * in a free slot of w->ls; NULL when no slot or memory is left. */
struct wlistener *listen_new(struct worker *w, struct wgen *g, const struct cfg_listener *l,
                             unsigned nworkers);
/* Frees <ls> (its protocol's unprepare(), its socket, its reference). */
void listen_free(struct worker *w, struct wlistener *ls);
/* Frees a retired listener once nothing refers to it any more. */
void listen_done(struct worker *w, struct wlistener *ls);

/* Binds a new socket for <ls> (reason in w->start_msg on failure). */
int listen_open(struct worker *w, struct wlistener *ls);
/* A socket bound to <l>'s address as listen_open() binds it, but not
 * listening, so it takes no connection and joins no SO_REUSEPORT group: a
 * reload holds one for each listener it adds until the workers have bound
 * theirs, so that a port in use fails the reload before it is published.
 * Returns the descriptor (the caller closes it), or -errno with
 * "listener NAME: bind ADDR: WHY" in <msg>. */
int listen_reserve(const struct cfg_listener *l, char *msg, size_t len);
/* Prepares <ls> around a socket taken over from an older generation. */
int listen_adopt(struct worker *w, struct wlistener *ls);
/* Ends the multishot accept of <ls> (its final completion follows). */
void listen_cancel(struct worker *w, struct wlistener *ls);
/* Arms an accept as the pressure level says (or defers, or nothing at
 * max_connections). */
void listen_arm(struct worker *w, struct wlistener *ls);
/* An accept completion. */
void listen_on_accept(struct worker *w, struct wlistener *ls, int res, uint32_t flags);
/* Stops accepting on <ls> and closes its socket. */
void listen_stop(struct worker *w, struct wlistener *ls);

/* A record for the client socket <fd> just accepted on <ls>, running the
 * listener's protocol on its transport, counted in the listener's
 * connections; NULL (fd closed, table_full counted) when the table is
 * full. Its timer is the protocol's to set (accept()). */
struct conn *listen_conn(struct worker *w, struct wlistener *ls, int fd);
/* A client connection of <ls> ended (release of a CONN_F_COUNTED record). */
void listen_conn_closed(struct worker *w, struct wlistener *ls);

#endif
