/* The access log (alog.h): rings, sinks, the log thread (its destinations
 * and their writing: dest.c).
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
#include "core/alog/alog-int.h"
#include "core/alog/alog.h"
#include "core/base/log.h"

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
			alog__count(r->dropped, 1);
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
		d = alog__dest_new(al->path, dry, why, len);
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
		alog__dest_free(d);
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
		alog__dest_put_locked(s->dest);
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
		alog__flush(d);
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
	alog__flush_dirty();
	if (want != alog.reopen_done) {
		alog.reopen_done = want;
		alog__reopen_all();
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
