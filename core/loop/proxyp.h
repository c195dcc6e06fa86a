/* The PROXY protocol on the loop (core/parse/proxy.h reads and writes the
 * headers):
 *
 * - accepting: a connection of a listener with proxy_protocol: accept runs
 *   the header phase first, a protocol of its own (registered by main.c),
 *   before its transport (the TLS handshake) or its protocol sees a byte.
 *   Its source must be in proxy_protocol_trusted. The header is peeked and
 *   only its own bytes are taken from the socket, so what follows it in the
 *   same segment (an HTTP request, a ClientHello) stays in the kernel for
 *   the transport. An untrusted source, a malformed, oversized or truncated
 *   header, or one not complete within the listener's header time, closes
 *   the connection and is counted (proxy_* worker counters).
 * - the addresses it carries are the client's from then on: proxyp_client()
 *   is what every user of the client's address asks (X-Forwarded-For,
 *   X-Real-IP, maglev's client_ip, logs).
 * - sending: proxyp_upstream() queues a header with the client's addresses
 *   as the first bytes of a new upstream connection of a pool with
 *   proxy_protocol: v1|v2.
 *
 * The addresses live beside the connection table, one entry per slot,
 * allocated (and charged to connection memory) on first use by a worker:
 * struct conn does not grow.
 */
#ifndef RINGLB_CORE_LOOP_PROXYP_H
#define RINGLB_CORE_LOOP_PROXYP_H

#include <stdbool.h>
#include <sys/socket.h>

#include "core/loop/worker-t.h"
#include "core/parse/proxy-t.h"

/* Registers the header phase's protocol; 0 or -ENOSPC. Before any worker. */
int proxyp_register(void);

/* Whether connections of <ls> start with a PROXY header. */
bool proxyp_accepts(const struct wlistener *ls);

/* Starts the header phase of client <c>, just accepted on its listener; the
 * transport's accept() follows once the header is read, else <c> is closed. */
void proxyp_start(struct worker *w, struct conn *c);

/* The client's address (its port included) of client record <c>: the PROXY
 * header's, else the socket's peer. 0 or -errno. */
int proxyp_client(struct worker *w, const struct conn *c, struct sockaddr_storage *ss);

/* Both addresses of client <c> as a header carries them (source: the
 * client, destination: the address it connected to). 0 or -errno. */
int proxyp_addrs(struct worker *w, const struct conn *c, struct proxy_addr *a);

/* Queues a v<version> header for client <c>'s addresses on its new
 * upstream <u>, before anything else, and remembers them for reuse. 0 or
 * -errno. */
int proxyp_upstream(struct worker *w, struct conn *c, struct conn *u, int version);

/* Whether upstream <u>, which was sent a header, may carry a request of a
 * client of addresses <a> (proxyp_addrs()): the same source and
 * destination IP, ports aside. */
bool proxyp_reusable(struct worker *w, const struct proxy_addr *a, const struct conn *u);

#endif
