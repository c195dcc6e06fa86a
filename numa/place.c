/* Worker placement over the topology, and pinning. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/log.h"
#include "numa/cpulist.h"
#include "numa/place.h"

/* One worker per CPU at most, so every placement fits. */
_Static_assert(PLACE_MAX_WORKERS >= CPU_SETSIZE, "PLACE_MAX_WORKERS < CPU_SETSIZE");

/* Every CPU of <cpus> must be online (in the affinity mask). */
static int place_check_cpus(const struct topo *t, const cpu_set_t *cpus, char *err, size_t errlen)
{
	char list[256];
	int cpu;

	for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, cpus) || CPU_ISSET(cpu, &t->online))
			continue;
		cpulist_format(&t->online, list, sizeof(list));
		snprintf(err, errlen, "CPU %d is not online or not allowed (online: %s)", cpu,
		         list);
		return -EINVAL;
	}
	return 0;
}

static int place_node_index(const struct topo *t, int id)
{
	unsigned i;

	for (i = 0; i < t->nnodes; i++)
		if (t->node[i].id == id)
			return i;
	return -1;
}

/* Every node of <nodes> must exist in the topology. */
static int place_check_nodes(const struct topo *t, const cpu_set_t *nodes, char *err, size_t errlen)
{
	cpu_set_t ids;
	char list[256];
	unsigned i;
	int id;

	for (id = 0; id < CPU_SETSIZE; id++) {
		if (!CPU_ISSET(id, nodes) || place_node_index(t, id) >= 0)
			continue;
		CPU_ZERO(&ids);
		for (i = 0; i < t->nnodes; i++)
			CPU_SET(t->node[i].id, &ids);
		cpulist_format(&ids, list, sizeof(list));
		snprintf(err, errlen, "node %d does not exist (nodes with CPUs: %s)", id, list);
		return -EINVAL;
	}
	return 0;
}

/* cand[i] = the candidate CPUs of node i; returns their total. */
static unsigned place_candidates(const struct topo *t, const cpu_set_t *cpus,
                                 const cpu_set_t *nodes, cpu_set_t *cand)
{
	unsigned i, total = 0;

	for (i = 0; i < t->nnodes; i++) {
		CPU_AND(&cand[i], &t->node[i].cpus, &t->online);
		if (cpus)
			CPU_AND(&cand[i], &cand[i], cpus);
		if (nodes && !CPU_ISSET(t->node[i].id, nodes))
			CPU_ZERO(&cand[i]);
		total += CPU_COUNT(&cand[i]);
	}
	return total;
}

/* take[i] = workers for node i: round robin over the nodes, skipping
 * nodes whose candidates ran out. */
static void place_spread(const struct topo *t, const cpu_set_t *cand, unsigned nworkers,
                         unsigned *take)
{
	unsigned i, placed = 0;

	memset(take, 0, t->nnodes * sizeof(*take));
	while (placed < nworkers) {
		for (i = 0; i < t->nnodes && placed < nworkers; i++) {
			if (take[i] < (unsigned)CPU_COUNT(&cand[i])) {
				take[i]++;
				placed++;
			}
		}
	}
}

static int place_cmp(const void *a, const void *b)
{
	const struct place_worker *x = a, *y = b;

	if (x->node != y->node)
		return x->node < y->node ? -1 : 1;
	return (x->cpu > y->cpu) - (x->cpu < y->cpu);
}

/* Fills p->w with the first take[i] CPUs of each node, ascending. */
static void place_fill(const struct topo *t, const cpu_set_t *cand, const unsigned *take,
                       struct placement *p)
{
	unsigned i, n;
	int cpu;

	for (i = 0; i < t->nnodes; i++) {
		for (cpu = 0, n = 0; cpu < CPU_SETSIZE && n < take[i]; cpu++) {
			if (!CPU_ISSET(cpu, &cand[i]))
				continue;
			p->w[p->nworkers++] = (struct place_worker){
			    .cpu = cpu, .node = t->node[i].id, .real_node = t->node[i].real};
			n++;
		}
		p->nnodes_used += take[i] > 0;
	}
	qsort(p->w, p->nworkers, sizeof(p->w[0]), place_cmp);
}

int place_workers(const struct topo *t, const cpu_set_t *cpus, const cpu_set_t *nodes,
                  unsigned nworkers, struct placement *p, char *err, size_t errlen)
{
	cpu_set_t cand[TOPO_MAX_NODES];
	unsigned take[TOPO_MAX_NODES], total;
	int ret;

	p->nworkers = 0;
	p->nnodes_used = 0;
	ret = cpus ? place_check_cpus(t, cpus, err, errlen) : 0;
	if (!ret && nodes)
		ret = place_check_nodes(t, nodes, err, errlen);
	if (ret < 0)
		return ret;
	total = place_candidates(t, cpus, nodes, cand);
	if (!total) {
		snprintf(
		    err, errlen,
		    "no CPU left to run workers on: the chosen CPUs and nodes have none in common");
		return -EINVAL;
	}
	if (!nworkers)
		nworkers = total;
	if (nworkers > total) {
		snprintf(err, errlen,
		         "%u workers but only %u CPUs to run them on (at most one worker per CPU)",
		         nworkers, total);
		return -EINVAL;
	}
	place_spread(t, cand, nworkers, take);
	place_fill(t, cand, take, p);
	return 0;
}

int place_pin_self(int cpu)
{
	cpu_set_t set;

	if (cpu < 0 || cpu >= CPU_SETSIZE)
		return -EINVAL;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

void place_log(const struct placement *p, const struct topo *t)
{
	unsigned i;

	for (i = 0; i < p->nworkers; i++)
		log_info("placement: worker %u cpu %d node %d (memory node %d)", i, p->w[i].cpu,
		         p->w[i].node, p->w[i].real_node);
	log_info("placement: %u workers on %u nodes%s", p->nworkers, p->nnodes_used,
	         t->fake    ? " (fake)"
	         : !t->numa ? " (no NUMA)"
	                    : "");
}
