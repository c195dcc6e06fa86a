/* Node-local memory: anonymous mappings bound to one NUMA node. */
#ifndef RINGLB_NUMA_NODEMEM_H
#define RINGLB_NUMA_NODEMEM_H

#include <stddef.h>

/* Maps <len> bytes (rounded up to pages) bound to real node <node> with
 * MPOL_PREFERRED (so a full node degrades instead of failing); node < 0
 * means no binding. Memory is zero and not yet resident; a PROT_NONE guard
 * page follows it. Returns NULL on failure with errno set. */
void *nodemem_alloc(size_t len, int node);
/* Unmaps an area of nodemem_alloc(<len>) and its guard page. */
void nodemem_free(void *p, size_t len);

/* Maps <len> bytes (a multiple of <align>) at an address aligned to
 * <align> (a power of two, at least a page), bound to <node> as
 * nodemem_alloc() does, with no guard page. NULL on failure (errno set).
 * Unmapped with nodemem_free_aligned(). */
void *nodemem_alloc_aligned(size_t len, size_t align, int node);
void nodemem_free_aligned(void *p, size_t len);

/* Returns the pages of [p, p+len) to the OS; they read as zero afterwards. */
void nodemem_discard(void *p, size_t len);

/* The node the policy of the page at <p> binds to (get_mempolicy with
 * MPOL_F_ADDR), or -1 when it has no node binding. */
int nodemem_policy_node(const void *p);

#endif
