/* Node-local memory: anonymous private mappings with an mbind() policy.
 *
 * Each area is followed by one PROT_NONE guard page. It catches a run past
 * the end, and it keeps areas apart: the kernel merges adjacent mappings
 * of the same policy into one, and then /proc/PID/numa_maps could no longer
 * tell one pool class or connection table from the next. */
#include <errno.h>
#include <stdint.h>
#include <numaif.h>
#include <sys/mman.h>
#include <unistd.h>

#include "numa/nodemem.h"

#define NODEMEM_MAX_NODES 1024
#define LBITS             (8 * sizeof(unsigned long))

static size_t nodemem_round(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (len + page - 1) & ~(page - 1);
}

/* Binds [p, p+n) to <node>; 0 or -1 with errno set. */
static int nodemem_bind(void *p, size_t n, int node)
{
	if (node >= 0 && node < NODEMEM_MAX_NODES) {
		unsigned long mask[NODEMEM_MAX_NODES / LBITS] = {0};

		mask[node / LBITS] |= 1ul << (node % LBITS);
		/* MPOL_PREFERRED: a full node spills over instead of failing.
		 * A kernel without NUMA answers ENOSYS: no binding then. */
		if (mbind(p, n, MPOL_PREFERRED, mask, NODEMEM_MAX_NODES, 0) < 0 && errno != ENOSYS)
			return -1;
	}
	return 0;
}

void *nodemem_alloc_aligned(size_t len, size_t align, int node)
{
	size_t n = nodemem_round(len);
	char *p, *q;

	if (!n || align & (align - 1)) {
		errno = EINVAL;
		return NULL;
	}
	/* Twice the length, then the parts outside the aligned window go. */
	p = mmap(NULL, n + align, PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	q = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (q > p)
		munmap(p, (size_t)(q - p));
	if (p + n + align > q + n)
		munmap(q + n, (size_t)(p + n + align - (q + n)));
	if (nodemem_bind(q, n, node) < 0) {
		int err = errno;

		munmap(q, n);
		errno = err;
		return NULL;
	}
	return q;
}

void nodemem_free_aligned(void *p, size_t len)
{
	if (p)
		munmap(p, nodemem_round(len));
}

void *nodemem_alloc(size_t len, int node)
{
	size_t n = nodemem_round(len), page = (size_t)sysconf(_SC_PAGESIZE);
	char *p;

	if (!n) {
		errno = EINVAL;
		return NULL;
	}
	p = mmap(NULL, n + page, PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + n, page, PROT_NONE) < 0) {
		int err = errno;

		munmap(p, n + page);
		errno = err;
		return NULL;
	}
	if (node >= 0 && node < NODEMEM_MAX_NODES) {
		unsigned long mask[NODEMEM_MAX_NODES / LBITS] = {0};

		mask[node / LBITS] |= 1ul << (node % LBITS);
		/* MPOL_PREFERRED: a full node spills over instead of failing.
		 * A kernel without NUMA answers ENOSYS: no binding then. */
		if (mbind(p, n, MPOL_PREFERRED, mask, NODEMEM_MAX_NODES, 0) < 0 &&
		    errno != ENOSYS) {
			int err = errno;

			munmap(p, n + page);
			errno = err;
			return NULL;
		}
	}
	return p;
}

void nodemem_free(void *p, size_t len)
{
	if (p)
		munmap(p, nodemem_round(len) + (size_t)sysconf(_SC_PAGESIZE));
}

void nodemem_discard(void *p, size_t len)
{
	madvise(p, len, MADV_DONTNEED);
}

int nodemem_policy_node(const void *p)
{
	unsigned long mask[NODEMEM_MAX_NODES / LBITS] = {0};
	int mode = 0;
	unsigned i;

	if (get_mempolicy(&mode, mask, NODEMEM_MAX_NODES, (void *)p, MPOL_F_ADDR) < 0)
		return -1;
	if (mode != MPOL_PREFERRED && mode != MPOL_BIND)
		return -1;
	for (i = 0; i < NODEMEM_MAX_NODES; i++)
		if (mask[i / LBITS] & (1ul << (i % LBITS)))
			return (int)i;
	return -1;
}
