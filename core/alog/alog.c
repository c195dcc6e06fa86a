/* The access log (alog.h): rings, sinks and destinations, the log thread.
 *
 * Lifetimes. A sink belongs to one listener of one config snapshot; its
 * records may still sit in a ring after the snapshot is freed, so
 * alog_sink_free() only retires it: the log thread takes the retired
 * sinks at the start of a pass, drains every ring to its tail (read after
 * the retirement, so past every record of them) and frees them at the end
 * of that pass. A destination is shared by every sink of its path and
 * closed with the last one. <alog.lock> guards the destination list, the
 * reference counts and the retired list; the data path never takes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config/logfmt.h"
#include "core/alog/afmt.h"
#include "core/alog/alog.h"
#include "core/base/log.h"

#define ALOG_OBUF      (256u << 10) /* a destination's output buffer */
#define ALOG_MSGS      256          /* syslog: datagrams per sendmmsg */
#define ALOG_WAIT_MS   50           /* the log thread's pass interval under load */
#define ALOG_IDLE_MS   1000         /* ... and with no sink at all */
#define ALOG_STOP_MS   2000         /* at exit, how long a blocked destination is waited for */
#define ALOG_RETRY_MS  1000         /* a destination that failed is tried again after this */
#define ALOG_SYSLOG    "/dev/log"
#define ALOG_MAX_RINGS 4096

enum dest_kind {
	DEST_FILE,
	DEST_STDERR,
	DEST_SYSLOG,
};

struct dest {
	char *path; /* as configured: the key */
	enum dest_kind kind;
	int fd; /* -1: closed (syslog not reachable: retried) */
	unsigned refs;
	struct sockaddr_un sa; /* syslog */
	socklen_t salen;
	char *obuf; /* formatted, not written yet (the log thread's) */
	size_t olen;
	uint32_t msg_end[ALOG_MSGS]; /* syslog: end of each datagram in obuf */
	unsigned nmsg;
	uint32_t *pending; /* records in obuf per ring, for the unwritten counts */
	uint64_t retry_ms; /* closed: reopen at */
	bool warned;       /* a failure was logged since the last success */
	bool dirty;        /* in the log thread's dirty list */
	struct dest *next_dirty;
	struct dest *next;
};

struct alog_sink {
	struct dest *dest;
	struct logfmt fmt;
	char *listener;
	int pri; /* syslog: facility * 8 + severity info */
	struct alog_sink *next_retired;
};

static struct {
	pthread_mutex_t lock;
	struct dest *dests;
	struct alog_sink *retired;
	unsigned nsinks;

	struct alog_ring *rings;
	unsigned nrings;
	int efd;
	pthread_t thread;
	bool running;
	_Atomic bool stopping;
	uint64_t stop_at;        /* set before <stopping>: a blocked destination is given up then */
	_Atomic unsigned reopen; /* asked for (SIGUSR2) */
	unsigned reopen_done;
	struct dest *dirty; /* the log thread's: destinations with bytes in obuf */
	char line[AFMT_MAX];
} alog = {.lock = PTHREAD_MUTEX_INITIALIZER, .efd = -1};

/* ---- the producer side (workers) ---- */

static uint64_t align8(uint64_t n)
{
	return (n + 7) & ~7ull;
}

static void kick(struct alog_ring *r)
{
	uint64_t one = 1;

	if (!atomic_exchange_explicit(&r->kicked, 1, memory_order_relaxed) &&
	    write(r->kick_fd, &one, sizeof(one)) < 0)
		atomic_store_explicit(&r->kicked, 0, memory_order_relaxed);
}

static void count(_Atomic uint64_t *c, uint64_t n)
{
	if (c)
		atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
		                      memory_order_relaxed);
}

int alog_emit(struct alog_ring *r, const struct alog_rec *hdr, const struct alog_str *s)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t need = sizeof(*hdr), pos, pad = 0;
	struct alog_rec *rec;
	char *p;

	if (!r)
		return -ENOBUFS;
	for (unsigned i = 0; i < ALOG_NSTR; i++)
		need += s[i].n;
	need = align8(need);
	pos = tail & (r->size - 1);
	if (pos + need > r->size)
		pad = r->size - pos;
	if (tail + pad + need - r->head_seen > r->size) {
		r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
		if (tail + pad + need - r->head_seen > r->size) {
			count(r->dropped, 1);
			kick(r);
			return -ENOBUFS;
		}
	}
	if (pad) {
		rec = (struct alog_rec *)(r->buf + pos);
		rec->len = (uint32_t)pad;
		rec->kind = ALOG_PAD;
		pos = 0;
	}
	rec = (struct alog_rec *)(r->buf + pos);
	*rec = *hdr;
	rec->len = (uint32_t)need;
	p = rec->str;
	for (unsigned i = 0; i < ALOG_NSTR; i++) {
		rec->slen[i] = (uint16_t)s[i].n;
		if (s[i].n)
			memcpy(p, s[i].s, s[i].n);
		p += s[i].n;
	}
	tail += pad + need;
	atomic_store_explicit(&r->tail, tail, memory_order_release);
	/* Half full by the head last seen: look again before waking the log
	 * thread, which may have drained it meanwhile. */
	if (tail - r->head_seen > r->size / 2) {
		r->head_seen = atomic_load_explicit(&r->head, memory_order_acquire);
		if (tail - r->head_seen > r->size / 2)
			kick(r);
	}
	return 0;
}

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

static void dest_free(struct dest *d)
{
	if (d->fd >= 0 && d->kind != DEST_STDERR)
		close(d->fd);
	free(d->pending);
	free(d->obuf);
	free(d->path);
	free(d);
}

static struct dest *dest_new(const char *path, bool dry, char *why, size_t len)
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
			dest_free(d);
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
		dest_free(d);
	return NULL;
}

/* Drops one reference (under the lock); the last one unlinks and frees. */
static void dest_put_locked(struct dest *d)
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
	dest_free(d);
}

/* ---- sinks ---- */

struct alog_sink *alog_sink_new(const char *name, const struct cfg_access_log *al, bool dry,
                                char *why, size_t len)
{
	static const int facility[] = {CFG_LOG_FACILITIES};
	struct alog_sink *s = calloc(1, sizeof(*s));
	struct dest *d = NULL;

	if (!s || !(s->listener = strdup(name))) {
		snprintf(why, len, "%s", strerror(ENOMEM));
		goto fail;
	}
	if (logfmt_compile(al->format ? al->format : "text", &s->fmt, why, len) < 0)
		goto fail;
	s->pri =
	    facility[(unsigned)al->facility % (sizeof(facility) / sizeof(facility[0]))] * 8 + 6;
	pthread_mutex_lock(&alog.lock);
	for (d = dry ? NULL : alog.dests; d; d = d->next) {
		if (!strcmp(d->path, al->path))
			break;
	}
	if (!d) {
		d = dest_new(al->path, dry, why, len);
		if (d && !dry) {
			d->next = alog.dests;
			alog.dests = d;
		}
	}
	if (d) {
		d->refs++;
		alog.nsinks++;
	}
	pthread_mutex_unlock(&alog.lock);
	if (!d)
		goto fail;
	s->dest = d;
	if (dry) { /* nothing stays open */
		dest_free(d);
		s->dest = NULL;
		pthread_mutex_lock(&alog.lock);
		alog.nsinks--;
		pthread_mutex_unlock(&alog.lock);
	}
	return s;
fail:
	if (s)
		free(s->listener);
	free(s);
	return NULL;
}

static void sink_free_locked(struct alog_sink *s)
{
	if (s->dest) {
		dest_put_locked(s->dest);
		alog.nsinks--;
	}
	free(s->listener);
	free(s);
}

void alog_sink_free(struct alog_sink *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&alog.lock);
	if (alog.running && s->dest) {
		s->next_retired = alog.retired;
		alog.retired = s;
	} else {
		sink_free_locked(s);
	}
	pthread_mutex_unlock(&alog.lock);
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
			count(alog.rings[i].unwritten, d->pending[i] - w);
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

static void flush(struct dest *d)
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

static void flush_dirty(void)
{
	while (alog.dirty) {
		struct dest *d = alog.dirty;

		alog.dirty = d->next_dirty;
		d->dirty = false;
		flush(d);
	}
}

/* "<134>Dec  6 22:45:26 ringlb[123]: " (RFC 3164, as syslog(3) sends to
 * /dev/log): the local time of the record. */
static size_t syslog_head(char *out, int pri, int64_t wall_ms)
{
	time_t sec = (time_t)(wall_ms / 1000);
	struct tm tm;
	char ts[32];

	localtime_r(&sec, &tm);
	strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &tm);
	return (size_t)snprintf(out, 96, "<%d>%s ringlb[%d]: ", pri, ts, (int)getpid());
}

/* Formats record <r> of ring <ri> into its destination's buffer. */
static void consume(const struct alog_rec *r, unsigned ri, int64_t wall_off)
{
	struct alog_sink *s = r->sink;
	struct dest *d = s->dest;
	int64_t wall = (int64_t)r->start_ms + wall_off;
	size_t n = 0;

	if (ALOG_OBUF - d->olen < AFMT_MAX + 128 || d->nmsg == ALOG_MSGS)
		flush(d);
	if (d->kind == DEST_SYSLOG)
		n = syslog_head(d->obuf + d->olen, s->pri, wall);
	n += afmt_record(&s->fmt, r, s->listener, wall, d->obuf + d->olen + n, AFMT_MAX);
	if (d->kind == DEST_SYSLOG)
		d->msg_end[d->nmsg++] = (uint32_t)(d->olen + n);
	else
		d->obuf[d->olen + n++] = '\n';
	d->olen += n;
	d->pending[ri]++;
	if (!d->dirty) {
		d->dirty = true;
		d->next_dirty = alog.dirty;
		alog.dirty = d;
	}
}

/* ---- the log thread: passes ---- */

/* CLOCK_REALTIME minus clock_ms(), in ms. */
static int64_t wall_offset(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - (int64_t)clock_ms();
}

/* Consumes everything committed in ring <ri>; true if there was any. */
static bool drain(unsigned ri, int64_t wall_off)
{
	struct alog_ring *r = &alog.rings[ri];
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	unsigned k = 0;

	if (head == tail)
		return false;
	atomic_store_explicit(&r->kicked, 0, memory_order_relaxed);
	while (head != tail) {
		const struct alog_rec *rec = (const void *)(r->buf + (head & (r->size - 1)));

		if (rec->kind != ALOG_PAD)
			consume(rec, ri, wall_off);
		head += rec->len;
		if (++k % 64 == 0) /* room for the worker as we go */
			atomic_store_explicit(&r->head, head, memory_order_release);
	}
	atomic_store_explicit(&r->head, head, memory_order_release);
	return true;
}

/* SIGUSR2: every file is opened again by its path (logrotate moved it);
 * what was formatted before went to the old one. */
static void reopen_all(void)
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

static void pass(void)
{
	struct alog_sink *retired, *next;
	int64_t off = wall_offset();
	unsigned want = atomic_load(&alog.reopen);

	pthread_mutex_lock(&alog.lock);
	retired = alog.retired;
	alog.retired = NULL;
	pthread_mutex_unlock(&alog.lock);
	/* Each ring once, up to its tail now: records that come meanwhile
	 * wait for the next pass (a worker that fills half its ring wakes
	 * the thread early), so under load the thread wakes every
	 * ALOG_WAIT_MS and writes big batches instead of spinning on one
	 * record at a time. At exit no producer is left: one round is all. */
	for (unsigned i = 0; i < alog.nrings; i++)
		drain(i, off);
	flush_dirty();
	if (want != alog.reopen_done) {
		alog.reopen_done = want;
		reopen_all();
	}
	pthread_mutex_lock(&alog.lock);
	for (; retired; retired = next) {
		next = retired->next_retired;
		sink_free_locked(retired);
	}
	pthread_mutex_unlock(&alog.lock);
}

static void *alog_main(void *arg)
{
	for (;;) {
		bool stop = atomic_load(&alog.stopping);
		struct pollfd pfd = {.fd = alog.efd, .events = POLLIN};
		uint64_t v;
		unsigned nsinks;

		pass();
		if (stop)
			break;
		pthread_mutex_lock(&alog.lock);
		nsinks = alog.nsinks;
		pthread_mutex_unlock(&alog.lock);
		if (poll(&pfd, 1, nsinks ? ALOG_WAIT_MS : ALOG_IDLE_MS) > 0 &&
		    read(alog.efd, &v, sizeof(v)) < 0)
			continue;
	}
	return arg;
}

/* ---- start, stop ---- */

int alog_start(unsigned n, uint64_t bytes)
{
	uint64_t size = 1;
	int ret;

	if (n > ALOG_MAX_RINGS)
		return -EINVAL;
	while (size < bytes)
		size <<= 1;
	alog.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	alog.rings = calloc(n ? n : 1, sizeof(*alog.rings));
	if (alog.efd < 0 || !alog.rings)
		return -ENOMEM;
	alog.nrings = n;
	for (unsigned i = 0; i < n; i++) {
		struct alog_ring *r = &alog.rings[i];
		/* Mapped, not touched: a ring costs memory once lines use it. */
		void *p =
		    mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return -ENOMEM;
		r->buf = p;
		r->size = size;
		r->kick_fd = alog.efd;
	}
	pthread_mutex_lock(&alog.lock);
	alog.running = true;
	pthread_mutex_unlock(&alog.lock);
	ret = pthread_create(&alog.thread, NULL, alog_main, NULL);
	if (ret) {
		alog.running = false;
		return -ret;
	}
	pthread_setname_np(alog.thread, "ringlb-alog");
	return 0;
}

struct alog_ring *alog_ring(unsigned i, _Atomic uint64_t *dropped, _Atomic uint64_t *unwritten)
{
	struct alog_ring *r = i < alog.nrings ? &alog.rings[i] : NULL;

	if (r) {
		r->dropped = dropped;
		r->unwritten = unwritten;
	}
	return r;
}

void alog_stop(void)
{
	uint64_t one = 1;

	if (alog.running) {
		alog.stop_at = clock_ms() + ALOG_STOP_MS;
		atomic_store(&alog.stopping, true);
		if (write(alog.efd, &one, sizeof(one)) < 0)
			log_debug("alog: wake-up: %s", strerror(errno));
		pthread_join(alog.thread, NULL);
		pthread_mutex_lock(&alog.lock);
		alog.running = false;
		pthread_mutex_unlock(&alog.lock);
	}
	for (unsigned i = 0; i < alog.nrings; i++)
		munmap(alog.rings[i].buf, alog.rings[i].size);
	free(alog.rings);
	alog.rings = NULL;
	alog.nrings = 0;
	if (alog.efd >= 0)
		close(alog.efd);
	alog.efd = -1;
}

void alog_reopen(void)
{
	uint64_t one = 1;

	atomic_fetch_add(&alog.reopen, 1);
	if (alog.efd >= 0 && write(alog.efd, &one, sizeof(one)) < 0)
		log_debug("alog: wake-up: %s", strerror(errno));
}
