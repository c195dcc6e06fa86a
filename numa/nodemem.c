/* Node-local memory: anonymous private mappings with an mbind() policy. */
#include <errno.h>
#include <numaif.h>
#include <sys/mman.h>
#include <unistd.h>

#include "numa/nodemem.h"

static size_t nodemem_round(size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	return (len + page - 1) & ~(page - 1);
}

void *nodemem_alloc(size_t len, int node)
{
	size_t n = nodemem_round(len);
	void *p;

	if (!n) {
		errno = EINVAL;
		return NULL;
	}
	p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
		 0);
	if (p == MAP_FAILED)
		return NULL;
	if (node >= 0 && node < 1024) {
		unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {0};

		mask[node / (8 * sizeof(unsigned long))] |= 1ul << (node % (8 * sizeof(unsigned long)));
		/* MPOL_PREFERRED: a full node spills over instead of failing.
		 * A kernel without NUMA answers ENOSYS: no binding then. */
		if (mbind(p, n, MPOL_PREFERRED, mask, 1024, 0) < 0 && errno != ENOSYS) {
			int err = errno;

			munmap(p, n);
			errno = err;
			return NULL;
		}
	}
	return p;
}

void nodemem_free(void *p, size_t len)
{
	if (p)
		munmap(p, nodemem_round(len));
}

void nodemem_discard(void *p, size_t len)
{
	madvise(p, len, MADV_DONTNEED);
}

int nodemem_policy_node(const void *p)
{
	unsigned long mask[1024 / (8 * sizeof(unsigned long))] = {0};
	int mode = 0;
	unsigned i;

	if (get_mempolicy(&mode, mask, 1024, (void *)p, MPOL_F_ADDR) < 0)
		return -1;
	if (mode != MPOL_PREFERRED && mode != MPOL_BIND)
		return -1;
	for (i = 0; i < 1024; i++)
		if (mask[i / (8 * sizeof(unsigned long))] & (1ul << (i % (8 * sizeof(unsigned long)))))
			return (int)i;
	return -1;
}
