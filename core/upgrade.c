/* Binary upgrade: the Unix socket the running process offers its listening
 * sockets on, and both ends of the exchange (upgrade.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/upgrade.h"

#define UPG_MAGIC      "RLBUPG1"
#define UPG_TIMEOUT_MS 10000

/* A call on a socket with SO_RCVTIMEO/SO_SNDTIMEO that task work of the
 * process's rings (or a signal) interrupts fails with EINTR rather than
 * restarting: try again. */
#define UPG_RETRY(call)                                                                            \
	({                                                                                         \
		ssize_t r_;                                                                        \
		do                                                                                 \
			r_ = (call);                                                               \
		while (r_ < 0 && errno == EINTR);                                                  \
		r_;                                                                                \
	})

struct upg_hello {
	char magic[8];
	int32_t pid;
};

struct upg_offer {
	char magic[8];
	int32_t pid;
	uint32_t nsocks;
	char notify[108]; /* the old process's $NOTIFY_SOCKET, "" if none */
};

struct upg_sock {
	uint32_t worker;
	uint32_t len;
	struct sockaddr_storage ss;
};

struct upg_word {
	char magic[8];
	char word[8]; /* "go", "ack" */
};

bool upgrade_path(const struct config *cfg, const char *pidfile, char *buf, size_t len)
{
	const char *rt = getenv("RUNTIME_DIRECTORY");
	size_t n;

	if (cfg->upgrade_socket) {
		if (!strcmp(cfg->upgrade_socket, "off"))
			return false;
		return (size_t)snprintf(buf, len, "%s", cfg->upgrade_socket) < len;
	}
	if (rt && *rt) { /* systemd's RuntimeDirectory=; the first of several */
		n = strcspn(rt, ":");
		return (size_t)snprintf(buf, len, "%.*s/upgrade.sock", (int)n, rt) < len;
	}
	if (!pidfile)
		return false;
	n = strlen(pidfile);
	if (n > 4 && !strcmp(pidfile + n - 4, ".pid"))
		n -= 4;
	return (size_t)snprintf(buf, len, "%.*s.upgrade.sock", (int)n, pidfile) < len;
}

static int set_timeouts(int fd, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	return 0;
}

static int sun_of(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	memcpy(sun->sun_path, path, strlen(path));
	return 0;
}

/* Whether a process accepts connections on <path>. */
static bool answers(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	bool yes = fd >= 0 && connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;

	if (fd >= 0)
		close(fd);
	return yes;
}

int upgrade_listen(struct upgrade_srv *s, const char *path, char *msg, size_t len)
{
	struct sockaddr_un sun, tmp;
	char tpath[sizeof(sun.sun_path) + 32];
	struct stat st;
	int fd, ret;

	s->fd = -1;
	snprintf(s->path, sizeof(s->path), "%s", path);
	snprintf(tpath, sizeof(tpath), "%s.%d.tmp", path, (int)getpid());
	if (sun_of(path, &sun) < 0 || sun_of(tpath, &tmp) < 0) {
		snprintf(msg, len, "socket %s: the path is too long (at most %zu bytes)", path,
		         sizeof(sun.sun_path) - 24);
		return -ENAMETOOLONG;
	}
	if (answers(&sun)) {
		snprintf(msg, len, "socket %s: another process answers on it (another ringlb?)",
		         path);
		return -EADDRINUSE;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto err;
	unlink(tpath);
	if (bind(fd, (const struct sockaddr *)&tmp, sizeof(tmp)) < 0)
		goto err;
	/* Not listening yet: nobody can connect before it is 0600. */
	if (chmod(tpath, 0600) < 0 || listen(fd, 4) < 0 || stat(tpath, &st) < 0 ||
	    rename(tpath, path) < 0)
		goto err_unlink;
	s->fd = fd;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	return 0;
err_unlink:
	ret = -errno;
	unlink(tpath);
	errno = -ret;
err:
	ret = -errno;
	snprintf(msg, len, "socket %s: %s", path, strerror(-ret));
	if (fd >= 0)
		close(fd);
	return ret;
}

void upgrade_close(struct upgrade_srv *s, bool unlink_path)
{
	struct stat st;

	if (s->fd < 0)
		return;
	/* Refuses connections at once: a poll armed on the ring holds the
	 * file, so close() alone would leave it listening. */
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	s->fd = -1;
	if (unlink_path && stat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
}

/* Sends <sock> with its fd in one message. */
static int send_sock(int conn, const struct listen_sock *ls)
{
	struct upg_sock m = {.worker = ls->worker, .len = ls->len};
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {&m, sizeof(m)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm;

	memset(cbuf, 0, sizeof(cbuf));
	memcpy(&m.ss, &ls->ss, ls->len);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &ls->fd, sizeof(int));
	return UPG_RETRY(sendmsg(conn, &mh, MSG_NOSIGNAL)) == (ssize_t)sizeof(m) ? 0 : -errno;
}

int upgrade_offer(int conn, char *msg, size_t len)
{
	struct upg_offer o = {.magic = UPG_MAGIC, .pid = getpid()};
	const char *ns = getenv("NOTIFY_SOCKET");
	struct listen_sock *socks = NULL;
	struct upg_hello h;
	struct ucred cr;
	socklen_t crlen = sizeof(cr);
	ssize_t r;
	int n, i, ret = 0;

	if (set_timeouts(conn, UPG_TIMEOUT_MS) < 0 ||
	    getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) < 0) {
		snprintf(msg, len, "%s", strerror(errno));
		return -errno;
	}
	if (cr.uid != 0 && cr.uid != geteuid()) {
		snprintf(msg, len, "pid=%d runs as uid %u: refused (root or uid %u only)",
		         (int)cr.pid, (unsigned)cr.uid, (unsigned)geteuid());
		return -EPERM;
	}
	r = UPG_RETRY(recv(conn, &h, sizeof(h), 0));
	if (r != (ssize_t)sizeof(h) || memcmp(h.magic, UPG_MAGIC, sizeof(h.magic))) {
		snprintf(msg, len, "pid=%d: no hello: %s", (int)cr.pid,
		         r < 0 ? strerror(errno) : "not an upgrade request");
		return -EPROTO;
	}
	n = lsock_export(&socks);
	if (n < 0) {
		snprintf(msg, len, "pid=%d: copying the listening sockets: %s", (int)h.pid,
		         strerror(-n));
		return n;
	}
	o.nsocks = (uint32_t)n;
	if (ns && strlen(ns) < sizeof(o.notify))
		memcpy(o.notify, ns, strlen(ns));
	if (UPG_RETRY(send(conn, &o, sizeof(o), MSG_NOSIGNAL)) != (ssize_t)sizeof(o))
		ret = -errno;
	for (i = 0; i < n && ret == 0; i++)
		ret = send_sock(conn, &socks[i]);
	for (i = 0; i < n; i++)
		close(socks[i].fd);
	free(socks);
	if (ret < 0) {
		snprintf(msg, len, "pid=%d: sending the sockets: %s", (int)h.pid, strerror(-ret));
		return ret;
	}
	fcntl(conn, F_SETFL, fcntl(conn, F_GETFL) | O_NONBLOCK); /* go is polled on the ring */
	return h.pid;
}

int upgrade_read_go(int conn)
{
	struct upg_word m;
	ssize_t r = recv(conn, &m, sizeof(m), MSG_DONTWAIT);

	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return -EAGAIN;
	if (r != (ssize_t)sizeof(m) || memcmp(m.magic, UPG_MAGIC, sizeof(m.magic)) ||
	    strncmp(m.word, "go", sizeof(m.word)))
		return 0;
	return 1;
}

void upgrade_ack(int conn)
{
	struct upg_word ack = {.magic = UPG_MAGIC, .word = "ack"};

	send(conn, &ack, sizeof(ack), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Receives one socket message into <ls>. */
static int recv_sock(int conn, struct listen_sock *ls)
{
	struct upg_sock m;
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {&m, sizeof(m)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm;
	ssize_t r = UPG_RETRY(recvmsg(conn, &mh, MSG_CMSG_CLOEXEC));

	if (r < 0)
		return -errno;
	cm = CMSG_FIRSTHDR(&mh);
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS ||
	    cm->cmsg_len != CMSG_LEN(sizeof(int)))
		return -EPROTO;
	memcpy(&ls->fd, CMSG_DATA(cm), sizeof(int));
	if (r != (ssize_t)sizeof(m) || m.len > sizeof(m.ss) || (mh.msg_flags & MSG_CTRUNC)) {
		close(ls->fd);
		return -EPROTO;
	}
	ls->worker = m.worker;
	ls->len = m.len;
	memcpy(&ls->ss, &m.ss, sizeof(ls->ss));
	return 0;
}

int upgrade_fetch(const char *path, int *conn, struct listen_sock **socks, unsigned *n, char *msg,
                  size_t len)
{
	struct upg_hello h = {.magic = UPG_MAGIC, .pid = getpid()};
	struct listen_sock *v = NULL;
	struct sockaddr_un sun;
	struct upg_offer o;
	unsigned i = 0;
	int fd, ret;

	if (sun_of(path, &sun) < 0) {
		snprintf(msg, len, "connect %s: the path is too long", path);
		return -ENAMETOOLONG;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || set_timeouts(fd, UPG_TIMEOUT_MS) < 0 ||
	    connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ret = -errno;
		snprintf(msg, len, "connect %s: %s (is ringlb running with this upgrade.socket?)",
		         path, strerror(-ret));
		goto fail;
	}
	errno = 0;
	if (UPG_RETRY(send(fd, &h, sizeof(h), MSG_NOSIGNAL)) != (ssize_t)sizeof(h) ||
	    UPG_RETRY(recv(fd, &o, sizeof(o), 0)) != (ssize_t)sizeof(o)) {
		ret = errno ? -errno : -EPROTO;
		snprintf(msg, len, "%s: no offer from the running process: %s", path,
		         errno ? strerror(errno) : "it closed the connection");
		goto fail;
	}
	if (memcmp(o.magic, UPG_MAGIC, sizeof(o.magic)) || o.nsocks > 65536) {
		ret = -EPROTO;
		snprintf(msg, len, "%s: not a ringlb upgrade socket", path);
		goto fail;
	}
	v = calloc(o.nsocks ? o.nsocks : 1, sizeof(*v));
	if (!v) {
		ret = -ENOMEM;
		snprintf(msg, len, "%s", strerror(ENOMEM));
		goto fail;
	}
	for (i = 0; i < o.nsocks; i++) {
		ret = recv_sock(fd, &v[i]);
		if (ret < 0) {
			snprintf(msg, len, "%s: receiving socket %u of %u: %s", path, i + 1,
			         o.nsocks, strerror(-ret));
			goto fail;
		}
	}
	o.notify[sizeof(o.notify) - 1] = 0;
	if (o.notify[0] && (!getenv("NOTIFY_SOCKET") || !*getenv("NOTIFY_SOCKET")))
		setenv("NOTIFY_SOCKET", o.notify, 1);
	*conn = fd;
	*socks = v;
	*n = o.nsocks;
	return o.pid;
fail:
	while (i)
		close(v[--i].fd);
	free(v);
	if (fd >= 0)
		close(fd);
	return ret;
}

int upgrade_go(int conn, char *msg, size_t len)
{
	struct upg_word go = {.magic = UPG_MAGIC, .word = "go"}, ack;
	int ret = 0;

	errno = 0;
	if (UPG_RETRY(send(conn, &go, sizeof(go), MSG_NOSIGNAL)) != (ssize_t)sizeof(go)) {
		ret = -errno;
		snprintf(msg, len, "go: %s", strerror(errno));
	} else if (UPG_RETRY(recv(conn, &ack, sizeof(ack), 0)) != (ssize_t)sizeof(ack) ||
	           strncmp(ack.word, "ack", sizeof(ack.word))) {
		ret = -EPROTO;
		snprintf(msg, len, "no answer to go: %s",
		         errno ? strerror(errno) : "the running process closed the connection");
	}
	close(conn);
	return ret;
}

/* The cgroup v2 path of <pid> ("/system.slice/ringlb.service") into <buf>. */
static bool cgroup_of(int pid, char *buf, size_t len)
{
	char path[64], line[512];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = 0;
			found = (size_t)snprintf(buf, len, "%s", line + 3) < len;
		}
	fclose(f);
	return found;
}

int upgrade_join_cgroup(int old_pid, char *msg, size_t len)
{
	char theirs[400], ours[400], procs[512], pid[24];
	int fd, n, ret = 0;

	if (!cgroup_of(old_pid, theirs, sizeof(theirs)) ||
	    !cgroup_of(getpid(), ours, sizeof(ours)) || !strcmp(theirs, ours))
		return 0;
	snprintf(procs, sizeof(procs), "/sys/fs/cgroup%s/cgroup.procs", theirs);
	n = snprintf(pid, sizeof(pid), "%d", (int)getpid());
	fd = open(procs, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, pid, n) != n)
		ret = -errno;
	if (fd >= 0)
		close(fd);
	snprintf(msg, len, "%s %s", ret ? "cannot join" : "joined", theirs);
	if (ret)
		snprintf(msg + strlen(msg), len - strlen(msg), ": %s", strerror(-ret));
	return ret ? ret : 1;
}
