/* Access-log destinations (alog-int.h): files (FIFOs too), stderr and
 * syslog sockets; opening them, and writing a destination's buffered lines
 * in as few system calls as it takes, which is the log thread's. A line
 * that cannot be written is counted in its ring's log_unwritten.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/alog/alog-int.h"
#include "core/base/log.h"

/* The access log's state (alog-int.h): here, below alog.c, which uses it. */
struct alog_state alog = {.lock = PTHREAD_MUTEX_INITIALIZER, .efd = -1};

/* ---- destinations ---- */

static int dest_open_file(const char *path, bool dry)
{
	int fd;

	if (dry) {
		char dir[4096], *slash;

		if (access(path, W_OK) == 0)
			return 0;
		if (errno != ENOENT)
			return -errno;
		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		return access(slash ? (dir[0] ? dir : "/") : ".", W_OK | X_OK) == 0 ? 0 : -errno;
	}
	/* Non-blocking: a FIFO that fills stalls no write, the log thread
	 * waits in poll() instead (and gives up at exit). */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC | O_NOCTTY, 0640);
	return fd < 0 ? -errno : fd;
}

static int dest_connect(struct dest *d)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&d->sa, d->salen) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

void alog__dest_free(struct dest *d)
{
	if (d->fd >= 0 && d->kind != DEST_STDERR)
		close(d->fd);
	free(d->pending);
	free(d->obuf);
	free(d->path);
	free(d);
}

struct dest *alog__dest_new(const char *path, bool dry, char *why, size_t len)
{
	struct dest *d = calloc(1, sizeof(*d));
	const char *sock = NULL;
	int fd = -1;

	if (!d)
		goto nomem;
	d->fd = -1;
	d->kind = DEST_FILE;
	if (!strcmp(path, "stderr"))
		d->kind = DEST_STDERR;
	else if (!strcmp(path, "syslog"))
		sock = ALOG_SYSLOG;
	else if (!strncmp(path, "syslog:", 7))
		sock = path + 7;
	d->path = strdup(path);
	d->obuf = malloc(ALOG_OBUF);
	d->pending = calloc(ALOG_MAX_RINGS, sizeof(*d->pending));
	if (!d->path || !d->obuf || !d->pending)
		goto nomem;
	if (sock) {
		d->kind = DEST_SYSLOG;
		d->sa.sun_family = AF_UNIX;
		snprintf(d->sa.sun_path, sizeof(d->sa.sun_path), "%s", sock);
		d->salen = sizeof(d->sa);
		/* A syslog daemon that is not up yet is retried: not an error. */
		if (!dry) {
			fd = dest_connect(d);
			if (fd < 0)
				log_warn("access log %s: %s (retried every second)", path,
				         strerror(-fd));
			d->warned = fd < 0;
		}
	} else if (d->kind == DEST_STDERR) {
		fd = STDERR_FILENO;
	} else {
		fd = dest_open_file(path, dry);
		if (fd < 0) {
			snprintf(why, len, "cannot open \"%s\": %s", path, strerror(-fd));
			alog__dest_free(d);
			return NULL;
		}
		if (dry)
			fd = -1;
	}
	d->fd = fd;
	return d;
nomem:
	snprintf(why, len, "%s", strerror(ENOMEM));
	if (d)
		alog__dest_free(d);
	return NULL;
}

void alog__dest_put_locked(struct dest *d)
{
	struct dest **pp;

	if (--d->refs)
		return;
	for (pp = &alog.dests; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	alog__dest_free(d);
}

/* ---- the log thread: writing ---- */

/* The records of <d>'s buffer but the first <written> are lost: counted as
 * unwritten, per ring (the rings' records interleave in the buffer, so the
 * written ones are taken from the first rings: the total is exact). */
static void dest_discard(struct dest *d, uint64_t written)
{
	for (unsigned i = 0; i < alog.nrings; i++) {
		uint64_t w = written < d->pending[i] ? written : d->pending[i];

		written -= w;
		if (d->pending[i] > w)
			alog__count(alog.rings[i].unwritten, d->pending[i] - w);
		d->pending[i] = 0;
	}
	d->olen = 0;
	d->nmsg = 0;
}

/* Whole lines in the first <n> bytes of <d>'s buffer. */
static uint64_t lines_in(const struct dest *d, size_t n)
{
	uint64_t k = 0;

	for (const char *p = d->obuf, *e = d->obuf + n; (p = memchr(p, '\n', e - p)); p++)
		k++;
	return k;
}

static void dest_written(struct dest *d)
{
	memset(d->pending, 0, alog.nrings * sizeof(*d->pending));
	d->olen = 0;
	d->nmsg = 0;
	d->warned = false;
}

/* Gives up <d>'s buffer after <written> of its records went out. */
static void dest_fail(struct dest *d, int err, uint64_t written)
{
	if (!d->warned)
		log_warn("access log %s: %s (lines are dropped and counted in log_unwritten)",
		         d->path, strerror(err));
	d->warned = true;
	dest_discard(d, written);
}

/* Waits for <d>'s fd to take more; false when giving up (at exit). */
static bool dest_wait(struct dest *d)
{
	struct pollfd pfd = {.fd = d->fd, .events = POLLOUT};

	if (atomic_load(&alog.stopping) && clock_ms() >= alog.stop_at)
		return false;
	poll(&pfd, 1, 100);
	return true;
}

/* Files and stderr: the buffer in as few writes as the fd takes. stderr
 * gets pieces of whole lines of at most PIPE_BUF bytes, so that the
 * control thread's own lines never land inside one. */
static void flush_stream(struct dest *d)
{
	size_t off = 0;

	while (off < d->olen) {
		size_t n = d->olen - off;
		ssize_t w;

		if (d->kind == DEST_STDERR && n > 4096) {
			char *nl = memrchr(d->obuf + off, '\n', 4096);

			n = nl ? (size_t)(nl - (d->obuf + off)) + 1 : 4096;
		}
		w = write(d->fd, d->obuf + off, n);
		if (w > 0) {
			off += (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && errno == EAGAIN) {
			if (!dest_wait(d)) {
				dest_fail(d, EAGAIN, lines_in(d, off));
				return;
			}
		} else {
			dest_fail(d, w < 0 ? errno : EIO, lines_in(d, off));
			return;
		}
	}
	dest_written(d);
}

/* syslog: one datagram per line, ALOG_MSGS per system call. */
static void flush_syslog(struct dest *d)
{
	struct mmsghdr mm[ALOG_MSGS];
	struct iovec iov[ALOG_MSGS];
	unsigned done = 0, i;

	if (d->fd < 0) {
		if (clock_ms() < d->retry_ms) {
			dest_discard(d, 0);
			return;
		}
		d->fd = dest_connect(d);
		if (d->fd < 0) {
			d->retry_ms = clock_ms() + ALOG_RETRY_MS;
			dest_fail(d, -d->fd, 0);
			d->fd = -1;
			return;
		}
	}
	memset(mm, 0, sizeof(mm));
	for (i = 0; i < d->nmsg; i++) {
		uint32_t start = i ? d->msg_end[i - 1] : 0;

		iov[i] = (struct iovec){d->obuf + start, d->msg_end[i] - start};
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	while (done < d->nmsg) {
		int n = sendmmsg(d->fd, mm + done, d->nmsg - done, 0);

		if (n > 0) {
			done += (unsigned)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && errno == EAGAIN) {
			if (!dest_wait(d)) {
				dest_fail(d, EAGAIN, done);
				return;
			}
		} else {
			int err = n < 0 ? errno : EIO;

			close(d->fd); /* the daemon went away: reconnect later */
			d->fd = -1;
			d->retry_ms = clock_ms() + ALOG_RETRY_MS;
			dest_fail(d, err, done);
			return;
		}
	}
	dest_written(d);
}

void alog__flush(struct dest *d)
{
	if (!d->olen)
		return;
	if (d->kind == DEST_SYSLOG)
		flush_syslog(d);
	else if (d->fd >= 0)
		flush_stream(d);
	else
		dest_discard(d, 0);
}

void alog__flush_dirty(void)
{
	while (alog.dirty) {
		struct dest *d = alog.dirty;

		alog.dirty = d->next_dirty;
		d->dirty = false;
		alog__flush(d);
	}
}

/* logrotate moved the files: what was formatted before went to the old
 * one, what comes next goes to the new. */
void alog__reopen_all(void)
{
	pthread_mutex_lock(&alog.lock);
	for (struct dest *d = alog.dests; d; d = d->next) {
		int fd;

		if (d->kind == DEST_SYSLOG && d->fd >= 0) {
			close(d->fd);
			d->fd = -1; /* reconnected at the next write */
			d->retry_ms = 0;
		}
		if (d->kind != DEST_FILE)
			continue;
		fd = dest_open_file(d->path, false);
		if (fd < 0) {
			log_warn("access log %s: reopen: %s (the old file stays)", d->path,
			         strerror(-fd));
			continue;
		}
		if (d->fd >= 0)
			close(d->fd);
		d->fd = fd;
	}
	pthread_mutex_unlock(&alog.lock);
	log_info("access log reopened");
}
