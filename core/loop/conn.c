/* The per-worker connection table. */
#include <errno.h>
#include <string.h>

#include "core/loop/conn.h"
#include "numa/nodemem.h"

int conn_table_init(struct conn_table *t, uint32_t size, int node, struct acct *acct)
{
	size_t bytes = (size_t)size * sizeof(struct conn);
	memset(t, 0, sizeof(*t));
	if (!size)
		return -EINVAL;
	if (acct_charge(acct, ACCT_CONN, node, bytes) < 0)
		return -ENOBUFS;
	t->c = nodemem_alloc(bytes, node);
	if (!t->c) {
		acct_release(acct, ACCT_CONN, node, bytes);
		return -ENOMEM;
	}
	/* The mapping is zero and nothing is written to it here: slots past
	 * <fresh> are free without being on the list, so the pages of a large
	 * table become resident only as connections use them. */
	t->size = size;
	t->free_head = CONN_NONE;
	t->fresh = 0;
	t->bytes = bytes;
	t->node = node;
	t->acct = acct;
	return 0;
}

void conn_table_trim(struct conn_table *t)
{
	if (!t->xctx || t->nxctx)
		return;
	nodemem_free(t->xctx, (size_t)t->size * sizeof(*t->xctx));
	acct_release(t->acct, ACCT_CONN, t->node, (size_t)t->size * sizeof(*t->xctx));
	t->xctx = NULL;
}

void conn_table_deinit(struct conn_table *t)
{
	if (!t->c)
		return;
	t->nxctx = 0;
	conn_table_trim(t);
	nodemem_free(t->c, t->bytes);
	acct_release(t->acct, ACCT_CONN, t->node, t->bytes);
	t->c = NULL;
}

int conn_xctx_set(struct conn_table *t, const struct conn *c, void *x)
{
	size_t bytes = (size_t)t->size * sizeof(*t->xctx);

	if (!t->xctx) {
		if (!x)
			return 0;
		/* Zero pages: only the slots TLS connections use become resident. */
		if (acct_charge(t->acct, ACCT_CONN, t->node, bytes) < 0)
			return -ENOBUFS;
		t->xctx = nodemem_alloc(bytes, t->node);
		if (!t->xctx) {
			acct_release(t->acct, ACCT_CONN, t->node, bytes);
			return -ENOMEM;
		}
	}
	void **slot = &t->xctx[conn_slot(t, c)];

	t->nxctx += (x != NULL) - (*slot != NULL);
	*slot = x;
	return 0;
}

struct conn *conn_get(struct conn_table *t)
{
	struct conn *c;
	uint32_t gen;

	if (t->free_head != CONN_NONE) {
		c = &t->c[t->free_head];
		t->free_head = c->wait_next;
	} else if (t->fresh < t->size) {
		c = &t->c[t->fresh++];
	} else {
		return NULL;
	}
	gen = c->gen + 1;
	memset(c, 0, sizeof(*c));
	if (t->xctx && t->xctx[conn_slot(t, c)]) {
		t->xctx[conn_slot(t, c)] = NULL; /* left by a transport that did not clear it */
		t->nxctx--;
	}
	c->gen = gen;
	c->fd = -1;
	c->peer = CONN_NONE;
	c->wait_next = CONN_NONE;
	c->backend = -1;
	t->used++;
	return c;
}

void conn_put(struct conn_table *t, struct conn *c)
{
	c->proto = CONN_P_FREE;
	c->fd = -1;
	c->wait_next = t->free_head;
	t->free_head = conn_slot(t, c);
	t->used--;
}
