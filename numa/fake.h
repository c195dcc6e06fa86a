/* Pretend NUMA nodes: a topology split into groups of CPUs, by hand (tests)
 * or from RINGLB_NUMA_FAKE. topo.c uses it; it uses nothing of topo.c. */
#ifndef RINGLB_NUMA_FAKE_H
#define RINGLB_NUMA_FAKE_H

#include <stddef.h>
#include "numa/topo-t.h"

/* Builds a topology by hand (tests): <ncpus> CPUs 0..ncpus-1 split in
 * <nnodes> contiguous groups, all backed by real node 0. */
void fake_topo(struct topo *t, unsigned ncpus, unsigned nnodes);

/* Replaces the nodes of <t> by <nnodes> (clamped to 1..online CPUs) groups of
 * its online CPUs, split in ascending order, contiguous and as even as
 * possible (the first groups get the extra CPU). Group i gets logical id i
 * and, as its real node, the real node of its first CPU. Sets t->fake. */
void fake_split(struct topo *t, unsigned nnodes);

/* Applies RINGLB_NUMA_FAKE to a discovered <t> (unset or empty: nothing).
 * Returns 0, or -EINVAL with the message in <err>. */
int fake_env(struct topo *t, char *err, size_t errlen);

#endif
