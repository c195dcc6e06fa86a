/* Backend sets from DNS answers: what a discovery pool's answer holds, as a
 * sorted list of backends, and how two such lists differ.
 *
 * Pure functions over c-ares' parsers (no socket, no global state), so that
 * the unit tests feed them packets. A set is sorted by address text and
 * holds each address once: the order every ringlb instance builds its
 * balancer in, whatever order the server answered in.
 */
#ifndef RINGLB_CORE_DISC_DSET_H
#define RINGLB_CORE_DISC_DSET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config-t.h"

/* Backends one answer may bring; more are left out (logged). */
#define DSET_MAX 1024

struct dset {
	struct cfg_backend *b; /* address and weight set, the rest 0 */
	unsigned n, cap;
};

/* One SRV target of the lowest priority present. */
struct dset_srv {
	char *host; /* the target's name, to resolve */
	uint16_t port;
	uint32_t weight; /* as a backend weight: the record's, 1 for 0, at most 10000 */
};

struct dset_diff {
	unsigned added, removed, reweighted;
};

/* Empties <s> (keeps its memory). */
void dset_clear(struct dset *s);
/* Frees what <s> holds; <s> is empty again. */
void dset_free(struct dset *s);
/* Adds <sa> with <port> (network order ignored: <port> is host order) and
 * <weight>. Returns 0, -ENOSPC past DSET_MAX, -EAFNOSUPPORT or -ENOMEM. */
int dset_add(struct dset *s, const struct sockaddr *sa, uint16_t port, uint32_t weight);
/* Sorts <s> by address and merges duplicates (their weights added, at most
 * 10000). */
void dset_sort(struct dset *s);
/* Replaces <dst>'s contents with a copy of <src>. Returns 0 or -ENOMEM. */
int dset_copy(struct dset *dst, const struct dset *src);
/* How sorted <to> differs from sorted <from>, the backends <from> holds as
 * an array of <nfrom>. True when they differ. */
bool dset_diff(const struct cfg_backend *from, unsigned nfrom, const struct dset *to,
               struct dset_diff *d);

/* Parses an A (<family> AF_INET) or AAAA (AF_INET6) answer into <s>, each
 * address with <port> and weight 1, and its smallest TTL into *ttl.
 * Returns 0 (<s> may be empty: no address), or a negative c-ares status. */
int dset_parse_addr(const unsigned char *abuf, int alen, int family, uint16_t port, struct dset *s,
                    uint32_t *ttl);
/* Parses an SRV answer: the targets of its lowest priority into a new
 * array *out of *n (dset_srv_free()), the smallest TTL of its records into
 * *ttl. Returns 0 (*n may be 0) or a negative c-ares status. */
int dset_parse_srv(const unsigned char *abuf, int alen, struct dset_srv **out, unsigned *n,
                   uint32_t *ttl);
void dset_srv_free(struct dset_srv *t, unsigned n);

#endif
