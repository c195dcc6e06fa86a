/* Out queues and their buffer descriptors.
 *
 * Descriptors are allocated one by one, charged to ACCT_BUF with the
 * allocator's header, and kept on a free list of at most the ring's size
 * plus BUFQ_SLACK: after a burst the surplus goes back at once, so memory
 * returns to its idle value with the load.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem/acct.h"
#include "core/loop/bufq.h"
#include "core/mem/pool.h"
#include "core/base/timer.h"

#define BUFQ_COST  (sizeof(struct buf) + 16)
#define BUFQ_SLACK 64

/* Small writes are copied into the room left in the queue's last buffer
 * instead of being queued on their own: an HTTP head and a small body, or
 * a run of small L4 reads, then leave in one send and one segment. The
 * last buffer may be the one in flight: only its bytes past what that
 * send was given are added, and the next send takes them. */
#define BUFQ_COALESCE_MAX 4096u

int bufq_spare(struct worker *w)
{
	while (w->nbuf_free <= w->br_n - w->nholes) {
		struct buf *b;

		if (acct_charge(w->acct, ACCT_BUF, w->real_node, BUFQ_COST) < 0)
			return -ENOMEM;
		b = malloc(sizeof(*b));
		if (!b) {
			acct_release(w->acct, ACCT_BUF, w->real_node, BUFQ_COST);
			return -ENOMEM;
		}
		b->next = w->buf_free;
		w->buf_free = b;
		w->nbuf_free++;
	}
	return 0;
}

static struct buf *buf_new(struct worker *w)
{
	struct buf *b;

	if (!w->buf_free && bufq_spare(w) < 0)
		return NULL;
	b = w->buf_free;
	w->buf_free = b->next;
	w->nbuf_free--;
	memset(b, 0, sizeof(*b));
	return b;
}

static void buf_free(struct worker *w, struct buf *b)
{
	if (b->flags & BUF_F_POOL)
		pool_put(w->pc, b->data, b->used);
	if (b->flags & BUF_F_OWN)
		return;
	if (w->nbuf_free > w->br_n + BUFQ_SLACK) {
		free(b);
		acct_release(w->acct, ACCT_BUF, w->real_node, BUFQ_COST);
		return;
	}
	b->next = w->buf_free;
	w->buf_free = b;
	w->nbuf_free++;
}

static void push(struct bufq *q, struct buf *b)
{
	if (q->tail)
		q->tail->next = b;
	else
		q->head = b;
	q->tail = b;
}

/* Detaches the head of <q> (not empty). */
static struct buf *shift(struct bufq *q)
{
	struct buf *b = q->head;

	q->head = b->next;
	if (!q->head)
		q->tail = NULL;
	b->next = NULL;
	return b;
}

static void append(struct conn *c, struct buf *b)
{
	push(&c->out, b);
	c->out_bytes += b->len;
}

int bufq_queue_to(struct worker *w, struct bufq *q, char *data, uint32_t len, uint32_t used)
{
	struct buf *t = q->tail, *b;

	if (t && (t->flags & BUF_F_POOL) && len <= BUFQ_COALESCE_MAX &&
	    t->len + len <= pool_buf_size(w->pc, t->data)) {
		memcpy(t->data + t->len, data, len);
		t->len += len;
		if (t->used < t->len)
			t->used = t->len;
		pool_put(w->pc, data, used);
		return 0;
	}
	b = buf_new(w);
	if (!b) {
		pool_put(w->pc, data, used);
		return -ENOMEM;
	}
	b->data = data;
	b->len = len;
	b->used = used;
	b->flags = BUF_F_POOL;
	push(q, b);
	return 0;
}

int bufq_queue(struct worker *w, struct conn *c, char *data, uint32_t len, uint32_t used)
{
	if (bufq_queue_to(w, &c->out, data, len, used) < 0)
		return -ENOMEM;
	c->out_bytes += len;
	return 0;
}

int bufq_reserve(struct worker *w, const struct conn *c, size_t len, int cls, struct bufq *rsv)
{
	const struct buf *t = c->out.tail;
	size_t cap = pool_class_size(cls), room = 0;

	if (t && (t->flags & BUF_F_POOL))
		room = pool_buf_size(w->pc, t->data) - t->len;
	for (size_t need = len > room ? len - room : 0; need;) {
		struct buf *b = buf_new(w);
		char *data = b ? pool_get(w->pc, cls) : NULL;

		if (!data) {
			if (b)
				buf_free(w, b);
			bufq_drop_q(w, rsv);
			return -ENOMEM;
		}
		b->data = data;
		b->flags = BUF_F_POOL;
		push(rsv, b);
		need -= need < cap ? need : cap;
	}
	return 0;
}

int bufq_append(struct worker *w, struct conn *c, const char *data, size_t len, int cls,
                struct bufq *rsv)
{
	struct buf *t = c->out.tail;
	size_t cap = pool_class_size(cls);

	if (t && (t->flags & BUF_F_POOL)) {
		size_t room = pool_buf_size(w->pc, t->data) - t->len;
		size_t n = room < len ? room : len;

		memcpy(t->data + t->len, data, n);
		t->len += (uint32_t)n;
		if (t->used < t->len)
			t->used = t->len;
		c->out_bytes += (uint32_t)n;
		data += n;
		len -= n;
	}
	while (len) {
		size_t n = cap < len ? cap : len;
		char *p;

		if (rsv && rsv->head) { /* reserved: nothing to refuse */
			struct buf *b = shift(rsv);

			memcpy(b->data, data, n);
			b->len = b->used = (uint32_t)n;
			append(c, b);
		} else {
			p = pool_get(w->pc, cls);
			if (!p)
				return -ENOMEM;
			memcpy(p, data, n);
			if (bufq_queue(w, c, p, (uint32_t)n, (uint32_t)n) < 0)
				return -ENOMEM;
		}
		data += n;
		len -= n;
	}
	return 0;
}

int bufq_queue_ref_to(struct worker *w, struct bufq *q, const char *data, uint32_t len,
                      uint32_t flags)
{
	struct buf *b = buf_new(w);

	if (!b)
		return -ENOMEM;
	b->data = (char *)data; /* never written: no BUF_F_POOL */
	b->len = len;
	b->flags = flags & BUF_F_MORE;
	push(q, b);
	return 0;
}

int bufq_queue_ref(struct worker *w, struct conn *c, const char *data, uint32_t len, uint32_t flags)
{
	if (bufq_queue_ref_to(w, &c->out, data, len, flags) < 0)
		return -ENOMEM;
	c->out_bytes += len;
	return 0;
}

int bufq_queue_own(struct worker *w, struct conn *c, struct buf *b, const char *data, uint32_t len)
{
	memset(b, 0, sizeof(*b));
	b->data = (char *)data;
	b->len = len;
	b->flags = BUF_F_OWN;
	append(c, b);
	return 0;
}

void bufq_drop_q(struct worker *w, struct bufq *q)
{
	struct buf *b = q->head, *next;

	for (; b; b = next) {
		next = b->next;
		buf_free(w, b);
	}
	q->head = q->tail = NULL;
}

void bufq_pop(struct worker *w, struct bufq *q)
{
	buf_free(w, shift(q));
}

void bufq_drop(struct worker *w, struct conn *c)
{
	bufq_drop_q(w, &c->out);
	c->out_bytes = 0;
}

void bufq_move(struct conn *to, struct conn *from)
{
	to->out = from->out;
	to->out_bytes = from->out_bytes;
	from->out.head = from->out.tail = NULL;
	from->out_bytes = 0;
}

void bufq_sent(struct worker *w, struct conn *c, uint32_t res)
{
	struct buf *b;

	c->out_bytes -= res;
	WSTAT_ADD(w, bytes_out, res);
	while (res && (b = c->out.head)) {
		uint32_t n = b->len - b->off < res ? b->len - b->off : res;

		b->off += n;
		res -= n;
		if (b->off < b->len) {
			WSTAT_INC(w, short_sends); /* the rest goes in the next send */
			break;
		}
		bufq_pop(w, &c->out);
	}
}

static void bufq_pipe_trim(struct worker *w);

void bufq_trim(struct worker *w)
{
	while (w->buf_free && w->nbuf_free > w->br_n - w->nholes + 1) {
		struct buf *b = w->buf_free;

		w->buf_free = b->next;
		w->nbuf_free--;
		free(b);
		acct_release(w->acct, ACCT_BUF, w->real_node, BUFQ_COST);
	}
	bufq_pipe_trim(w);
	/* The cache's buffers go back to the node's pool, whose sizing can
	 * then give them back to the OS. */
	pool_cache_trim(w->pc);
}

void bufq_deinit(struct worker *w)
{
	while (w->buf_free) {
		struct buf *b = w->buf_free;

		w->buf_free = b->next;
		free(b);
		acct_release(w->acct, ACCT_BUF, w->real_node, BUFQ_COST);
	}
	w->nbuf_free = 0;
}

/* ---- splice pipes ---- */

struct pipe_pair *bufq_pipe_get(struct worker *w)
{
	struct pipe_pair *pp = w->pipe_free;
	int fds[2];

	if (pp) {
		w->pipe_free = pp->next;
		if (--w->npipe_free < w->pipe_free_low)
			w->pipe_free_low = w->npipe_free;
		return pp;
	}
	if (w->pipes >= w->pipes_max || pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0)
		return NULL;
	pp = calloc(1, sizeof(*pp));
	if (!pp) {
		close(fds[0]);
		close(fds[1]);
		return NULL;
	}
	/* A pipe as large as one direction may hold in flight. */
	fcntl(fds[1], F_SETPIPE_SZ, (int)w->cfg->memory_tuning.max_buffer_size);
	pp->rd = fds[0];
	pp->wr = fds[1];
	w->pipes++;
	return pp;
}

void bufq_pipe_put(struct worker *w, struct pipe_pair *pp)
{
	if (pp->bytes) {
		/* Bytes of a dead connection are still inside: drop the pipe. */
		close(pp->rd);
		close(pp->wr);
		free(pp);
		w->pipes--;
		return;
	}
	pp->next = w->pipe_free;
	w->pipe_free = pp;
	w->npipe_free++;
}

/* Closes the pooled pipes no splice needed since the last cleanup (the
 * fewest the pool held meanwhile), so an idle worker keeps none. */
static void bufq_pipe_trim(struct worker *w)
{
	uint32_t n = w->pipe_free_low;

	while (n-- && w->pipe_free) {
		struct pipe_pair *p = w->pipe_free;

		w->pipe_free = p->next;
		w->npipe_free--;
		w->pipes--;
		close(p->rd);
		close(p->wr);
		free(p);
	}
	w->pipe_free_low = w->npipe_free;
}

void bufq_pipe_deinit(struct worker *w)
{
	struct pipe_pair *p;

	while ((p = w->pipe_free)) {
		w->pipe_free = p->next;
		w->npipe_free--;
		close(p->rd);
		close(p->wr);
		free(p);
	}
}
