/* The process's listening sockets, for a binary upgrade: the registry of
 * every listening socket the workers hold, copied to the process replacing
 * this one, and the sockets received from the process this one replaces.
 */
#ifndef RINGLB_CORE_LOOP_LSOCK_H
#define RINGLB_CORE_LOOP_LSOCK_H

#include <stdint.h>
#include <sys/socket.h>

#include "config/config-t.h"

/* A listening socket as a binary upgrade hands it over (core/upgrade.c):
 * the worker that accepts on it (its place in the address's SO_REUSEPORT
 * group) and the address it is bound to. */
struct listen_sock {
	int fd;
	uint32_t worker;
	struct sockaddr_storage ss;
	socklen_t len;
};

/* Copies (dup) of every listening socket of the process, worker by worker,
 * into a new array the caller frees, closing each fd. Returns how many, or
 * -errno. Safe from any thread. */
int lsock_export(struct listen_sock **out);
/* Hands the sockets <s>[0..n) received from the process being replaced to
 * the workers about to start: the worker of rank i among this process's
 * takes the i-th socket bound to a listener's address, in the old
 * process's worker order, instead of binding one (the same socket: what
 * waits in its accept queue is ours). Takes ownership of the fds. */
void lsock_inherit(struct listen_sock *s, unsigned n);
/* Closes what lsock_inherit() gave that no worker took (listeners the new
 * config lacks, workers beyond this process's count); returns how many. */
unsigned lsock_inherit_close(void);

/* A worker's listener (of rank <worker>) bound or inherited socket <fd> for
 * address <a> (a missed entry only costs a later upgrade its handover). */
void lsock_add(uint32_t worker, int fd, const struct cfg_addr *a);
/* <fd> is about to be closed. */
void lsock_del(int fd);
/* The socket for the worker of rank <rank> bound to <a>, if the old
 * process gave one; -1 if not. */
int lsock_take(unsigned rank, const struct cfg_addr *a);

#endif
