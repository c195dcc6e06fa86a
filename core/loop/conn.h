/* The per-worker connection table: a preallocated array of records with a
 * free list, in node-local memory charged to the accountant's connection
 * component. Single-threaded: a table belongs to one worker.
 *
 * io_uring user_data carries the operation, the slot and the slot's 24-bit
 * generation, so a completion for a recycled slot is recognised and dropped.
 */
#ifndef RINGLB_CORE_CONN_H
#define RINGLB_CORE_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include "core/loop/conn-t.h"
#include "core/mem/acct.h"

/* Allocates a table of <size> records on real node <node>, charging
 * <acct>. Returns 0, -ENOMEM (memory) or -ENOBUFS (accountant refused). */
int conn_table_init(struct conn_table *t, uint32_t size, int node, struct acct *acct);
void conn_table_deinit(struct conn_table *t);

/* Takes a free slot, its generation bumped and its record reset. Returns
 * NULL when the table is full. */
struct conn *conn_get(struct conn_table *t);

/* Returns <c>'s slot to the free list. Every ring operation on it must have
 * completed and its buffers must be gone. */
void conn_put(struct conn_table *t, struct conn *c);

/* The transport state of <c> (TLS: its session), kept beside the table
 * rather than in every record: an array of one pointer per slot, mapped at
 * the first conn_xctx_set() of a worker whose transports need one, so a
 * record stays as small as plain TCP needs. */
static inline void *conn_xctx(const struct conn_table *t, const struct conn *c);
/* Sets it; 0, or -ENOBUFS/-ENOMEM when the array could not be had. */
int conn_xctx_set(struct conn_table *t, const struct conn *c, void *x);
/* Unmaps the array when no slot has a state set (every
 * memory_cleanup_interval), so an idle table is back to its records. */
void conn_table_trim(struct conn_table *t);

static inline uint32_t conn_slot(const struct conn_table *t, const struct conn *c)
{
	return (uint32_t)(c - t->c);
}

static inline struct conn *conn_at(struct conn_table *t, uint32_t slot)
{
	return slot < t->size ? &t->c[slot] : NULL;
}

static inline void *conn_xctx(const struct conn_table *t, const struct conn *c)
{
	return t->xctx ? t->xctx[conn_slot(t, c)] : NULL;
}

/* The other side of <c>, or NULL. */
static inline struct conn *conn_peer(struct conn_table *t, const struct conn *c)
{
	return c->peer == CONN_NONE ? NULL : &t->c[c->peer];
}

/* user_data layout: op (8 bits) | generation (24 bits) | slot (32 bits). */
static inline uint64_t conn_ud(uint8_t op, uint32_t gen, uint32_t slot)
{
	return (uint64_t)op << 56 | (uint64_t)(gen & CONN_GEN_MASK) << 32 | slot;
}

static inline uint8_t conn_ud_op(uint64_t ud)
{
	return ud >> 56;
}

static inline uint32_t conn_ud_gen(uint64_t ud)
{
	return (ud >> 32) & CONN_GEN_MASK;
}

static inline uint32_t conn_ud_slot(uint64_t ud)
{
	return (uint32_t)ud;
}

/* The record a completion refers to, or NULL when the slot was recycled
 * since the operation was submitted (a straggler to drop). */
static inline struct conn *conn_of_ud(struct conn_table *t, uint64_t ud)
{
	struct conn *c = conn_at(t, conn_ud_slot(ud));

	if (!c || c->proto == CONN_P_FREE || (c->gen & CONN_GEN_MASK) != conn_ud_gen(ud))
		return NULL;
	return c;
}

#endif
