/* Maglev consistent hashing (Eisenbud et al., NSDI 2016, section 3.4).
 *
 * Each backend has a permutation of the table's slots, offset + j x skip
 * (mod LB_MAGLEV_SIZE, a prime, so every skip visits every slot), with
 * offset and skip from XXH3 of its identity. Backends take turns claiming
 * the next free slot of their permutation until the table is full: with
 * equal weights each owns M/N slots give or take one, and a change of
 * backends moves few slots. A backend of weight w takes w turns per round
 * (weights divided by their gcd first), so it owns about w/total of it.
 *
 * Lookup is table[key % M]. When that backend cannot take the connection
 * (down, weight 0, already tried) the lookup walks forward from that slot
 * to the first slot whose backend can: deterministic, so every ringlb
 * instance sends a key to the same fallback, and a down backend's keys
 * spread over the others in proportion to their slots while every other
 * key stays where it was.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/lb/lb-int.h"

#define LB_MAGLEV_SEED_OFFSET 0x6d61676c65763031ULL /* "maglev01" */
#define LB_MAGLEV_SEED_SKIP   0x6d61676c65763032ULL /* "maglev02" */

struct lb_maglev_perm {
	uint32_t pos;   /* next slot of the permutation to try */
	uint32_t skip;  /* 1..M-1 */
	uint32_t turns; /* slots claimed per round */
};

static uint32_t lb_gcd(uint32_t a, uint32_t b)
{
	while (b) {
		uint32_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* Hashes <id> as 8 little-endian bytes so every host agrees. */
static uint64_t lb_maglev_hash(uint64_t id, uint64_t seed)
{
	unsigned char b[8];
	unsigned i;

	for (i = 0; i < 8; i++)
		b[i] = (unsigned char)(id >> (8 * i));
	return XXH3_64bits_withSeed(b, sizeof(b), seed);
}

static void lb_maglev_perm_init(struct lb_maglev_perm *p, uint64_t id, uint32_t turns)
{
	p->pos = (uint32_t)(lb_maglev_hash(id, LB_MAGLEV_SEED_OFFSET) % LB_MAGLEV_SIZE);
	p->skip = (uint32_t)(lb_maglev_hash(id, LB_MAGLEV_SEED_SKIP) % (LB_MAGLEV_SIZE - 1)) + 1;
	p->turns = turns;
}

/* Backend <b> claims the next free slot of its permutation. */
static void lb_maglev_claim(uint32_t *table, struct lb_maglev_perm *p, uint32_t b)
{
	while (table[p->pos] != LB__MAGLEV_EMPTY) {
		p->pos += p->skip;
		if (p->pos >= LB_MAGLEV_SIZE)
			p->pos -= LB_MAGLEV_SIZE;
	}
	table[p->pos] = b;
}

/* Turns of backend <p> in a round that starts with <left> free slots, out
 * of <total> turns per round: all of them while a whole round fits, else
 * its share of what is left (at least 1), so that the last backends are
 * not starved when big weights leave less than a round. */
static uint32_t lb_maglev_turns(const struct lb_maglev_perm *p, uint32_t left, uint64_t total)
{
	uint64_t share;

	if (left >= total || !p->turns)
		return p->turns;
	share = (uint64_t)left * p->turns / total;
	return share ? (uint32_t)share : 1;
}

/* Rounds of turns until all M slots are claimed. */
static void lb_maglev_fill(uint32_t *table, struct lb_maglev_perm *perm, unsigned n)
{
	uint32_t filled = 0, left, b, t, turns;
	uint64_t total = 0;

	for (b = 0; b < n; b++)
		total += perm[b].turns;
	for (;;) {
		left = LB_MAGLEV_SIZE - filled;
		for (b = 0; b < n; b++) {
			turns = lb_maglev_turns(&perm[b], left, total);
			for (t = 0; t < turns; t++) {
				lb_maglev_claim(table, &perm[b], b);
				if (++filled == LB_MAGLEV_SIZE)
					return;
			}
		}
	}
}

int lb_maglev_build(uint32_t *table, const uint64_t *ids, const uint32_t *weights, unsigned n)
{
	struct lb_maglev_perm *perm;
	uint32_t g = 0;
	unsigned b;

	memset(table, 0xff, LB_MAGLEV_SIZE * sizeof(*table));
	for (b = 0; b < n; b++)
		g = lb_gcd(weights[b], g);
	if (!g)
		return 0; /* no backend may be picked: every slot stays empty */
	perm = calloc(n, sizeof(*perm));
	if (!perm)
		return -ENOMEM;
	for (b = 0; b < n; b++)
		lb_maglev_perm_init(&perm[b], ids ? ids[b] : b, weights[b] / g);
	lb_maglev_fill(table, perm, n);
	free(perm);
	return 0;
}

/* Walks forward from slot <pos> to the first eligible backend. */
static int lb_maglev_walk(const struct lb *lb, uint32_t pos, const int *tried, unsigned ntried)
{
	uint32_t k, b;

	for (k = 1; k < LB_MAGLEV_SIZE; k++) {
		pos = pos + 1 < LB_MAGLEV_SIZE ? pos + 1 : 0;
		b = lb->maglev[pos];
		if (b != LB__MAGLEV_EMPTY && lb__eligible(lb, b, tried, ntried))
			return (int)b;
	}
	return -1;
}

static int lb_maglev_pick(const struct lb *lb, struct lb_cursor *cur, uint64_t key,
                          const int *tried, unsigned ntried)
{
	uint32_t pos = (uint32_t)(key % LB_MAGLEV_SIZE), b;
	unsigned i;

	if (!lb->maglev)
		return -1;
	b = lb->maglev[pos];
	if (b != LB__MAGLEV_EMPTY && lb__eligible(lb, b, tried, ntried))
		return (int)b;
	/* Only walk the table when some backend can be found. */
	for (i = 0; i < lb->n; i++)
		if (lb__eligible(lb, i, tried, ntried))
			return lb_maglev_walk(lb, pos, tried, ntried);
	return -1;
}

/* Maglev identifies a backend by its address text (XXH3), not by its
 * position in the pool: adding or removing any backend, wherever it is
 * listed (a DNS answer is sorted by address), moves only the slots it
 * takes or gives back, and every instance listing the same addresses
 * builds the same table whatever their order. */
static int lb_maglev_table(struct lb *lb)
{
	uint32_t *weights = calloc(lb->n ? lb->n : 1, sizeof(*weights));
	uint64_t *ids = calloc(lb->n ? lb->n : 1, sizeof(*ids));
	unsigned i;
	int ret = -ENOMEM;

	lb->maglev = malloc(LB_MAGLEV_SIZE * sizeof(*lb->maglev));
	if (!weights || !ids || !lb->maglev)
		goto out;
	for (i = 0; i < lb->n; i++) {
		const char *addr = lb->slot[i].be->addr;

		weights[i] = lb->slot[i].weight;
		ids[i] = XXH3_64bits(addr, strlen(addr));
	}
	ret = lb_maglev_build(lb->maglev, ids, weights, lb->n);
out:
	free(ids);
	free(weights);
	return ret;
}

const struct lb_algo_ops lb_maglev_ops = {
    .name = "maglev",
    .pick = lb_maglev_pick,
    .build = lb_maglev_table,
};
