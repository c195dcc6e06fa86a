/* Binary upgrade without dropping a connection (HAProxy's `-x` with
 * `expose-fd listeners`, Pingora's graceful upgrade).
 *
 * The running process listens on a Unix socket (upgrade.socket, mode 0600).
 * `ringlb --upgrade` (the new binary) connects there, receives every
 * listening socket with SCM_RIGHTS, starts accepting on them, and only then
 * says "go": the old process stops accepting, drains and exits. A new
 * process that ends before "go" leaves the old one serving.
 *
 * The exchange, on a SOCK_SEQPACKET connection, one message each:
 *   new -> old  hello  (magic, pid)
 *   old -> new  offer  (magic, pid, count, the old's $NOTIFY_SOCKET)
 *   old -> new  count x sock (worker, address) with one fd each
 *   new -> old  go     (the new process accepts on every socket)
 *   old -> new  ack    (the old process stops accepting)
 */
#ifndef RINGLB_CORE_UPGRADE_H
#define RINGLB_CORE_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config/config.h"
#include "core/loop/lsock.h"
#include "core/loop/lsock.h"

/* The upgrade socket of a process: its listening fd and the path's inode,
 * so that only the process whose socket the path still is removes it. */
struct upgrade_srv {
	int fd; /* -1: none */
	dev_t dev;
	ino_t ino;
	char path[108];
};

/* The path of <cfg>'s upgrade socket into <buf>: upgrade.socket, else
 * $RUNTIME_DIRECTORY/upgrade.sock, else beside <pidfile> (ringlb.pid ->
 * ringlb.upgrade.sock); false when there is none (upgrade.socket: off, or
 * no default applies). */
bool upgrade_path(const struct config *cfg, const char *pidfile, char *buf, size_t len);

/* Listens on <path> (bound under a temporary name, made 0600, then renamed
 * over <path>, so the path always names a live socket). A path on which
 * another process answers is left to it. Returns 0 or -errno with the
 * reason in <msg>. */
int upgrade_listen(struct upgrade_srv *s, const char *path, char *msg, size_t len);
/* Closes <s>'s socket, and removes its path when <unlink_path> and the path
 * is still ours (not a newer process's). */
void upgrade_close(struct upgrade_srv *s, bool unlink_path);

/* Old side: answers a connection just accepted on the upgrade socket:
 * checks the peer's uid (ours or root), reads its hello, sends the offer
 * and a copy of every listening socket. Returns the peer's pid or -errno
 * with the reason in <msg>; the caller then waits for go on <conn>. */
int upgrade_offer(int conn, char *msg, size_t len);
/* Old side: reads what came on <conn>: 1 go, 0 the peer closed or said
 * something else, -EAGAIN nothing yet. */
int upgrade_read_go(int conn);
/* Old side: answers go on <conn> once this process stopped offering its
 * upgrade socket (the new one then offers its own on the same path). */
void upgrade_ack(int conn);

/* New side: connects to <path>, says hello, receives the offer and the
 * sockets (the caller owns *socks and the fds, and <*conn>). Sets
 * $NOTIFY_SOCKET from the offer when this process has none. Returns the
 * old process's pid or -errno with the reason in <msg>. */
int upgrade_fetch(const char *path, int *conn, struct listen_sock **socks, unsigned *n, char *msg,
                  size_t len);
/* New side: moves this process into <old_pid>'s cgroup (v2) when it is in
 * another one: systemd takes MAINPID= only from a process of the unit.
 * Returns 1 (moved), 0 (nothing to do) or -errno, with what happened in
 * <msg>. */
int upgrade_join_cgroup(int old_pid, char *msg, size_t len);
/* New side: says go on <conn> and waits (10 s) for the ack. 0 or -errno
 * with the reason in <msg>. Closes <conn>. */
int upgrade_go(int conn, char *msg, size_t len);

#endif
