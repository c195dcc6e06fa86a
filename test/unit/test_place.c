/* numa/place.c and numa/topo.c + fake.c: placement over hand-made
 * topologies, RINGLB_NUMA_FAKE, and discovery on this machine.
 *
 * topo.c is included so a test can make numa_available() fail and run the
 * no-NUMA fallback of topo_discover(); leave it out of LIB_SRCS. */
#define numa_available test_numa_available
#include "numa/topo.c"
#undef numa_available

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "numa/cpulist.h"
#include "numa/fake.h"
#include "numa/place.h"
#include "test/unit/ck.h"

static int numa_off; /* set: numa_available() reports no NUMA */

int numa_available(void); /* numa.h declared it under the other name */

int test_numa_available(void)
{
	return numa_off ? -1 : numa_available();
}

static struct topo topo;
static struct placement pl;
static char err[256];

/* Nothing here allocates or charges the accountant; the fixture resets
 * the environment and state each test may change (tests run forked). */
static void setup(void)
{
	unsetenv("RINGLB_NUMA_FAKE");
	numa_off = 0;
	memset(err, 0, sizeof(err));
	memset(&pl, 0xab, sizeof(pl));
}

static void teardown(void)
{
	ck_assert_uint_lt(strlen(err), sizeof(err));
}

static cpu_set_t set_of(const char *list)
{
	cpu_set_t set;

	ck_assert_int_eq(cpulist_parse(list, &set, err, sizeof(err)), 0);
	return set;
}

/* A topology from per-node CPU lists: node i gets id ids[i], real node
 * ids[i]; NULL ids means 0, 1, ... */
static void topo_of(struct topo *t, const char *const *lists, const int *ids, unsigned n)
{
	unsigned i;

	memset(t, 0, sizeof(*t));
	t->numa = true;
	t->nnodes = n;
	for (i = 0; i < n; i++) {
		t->node[i].id = ids ? ids[i] : (int)i;
		t->node[i].real = t->node[i].id;
		t->node[i].cpus = set_of(lists[i]);
		t->node[i].ncpus = CPU_COUNT(&t->node[i].cpus);
		CPU_OR(&t->online, &t->online, &t->node[i].cpus);
	}
	t->nonline = CPU_COUNT(&t->online);
}

static int place(const char *cpus, const char *nodes, unsigned nworkers)
{
	cpu_set_t c, n;

	if (cpus)
		c = set_of(cpus);
	if (nodes)
		n = set_of(nodes);
	return place_workers(&topo, cpus ? &c : NULL, nodes ? &n : NULL, nworkers, &pl, err,
	                     sizeof(err));
}

static void assert_worker(unsigned i, int cpu, int node, int real)
{
	ck_assert_msg(pl.w[i].cpu == cpu && pl.w[i].node == node && pl.w[i].real_node == real,
	              "worker %u: cpu %d node %d real %d, expected cpu %d node %d real %d", i,
	              pl.w[i].cpu, pl.w[i].node, pl.w[i].real_node, cpu, node, real);
}

/* Runs <fn> with stderr going to a memfd and returns what was logged. */
static const char *capture(void (*fn)(void))
{
	static char buf[4096];
	int fd = memfd_create("log", 0), saved = dup(STDERR_FILENO);
	ssize_t n;

	ck_assert(fd >= 0 && saved >= 0);
	dup2(fd, STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

/* --- placement --- */

START_TEST(one_node_of_two_cpus_gets_a_worker_per_cpu_by_default)
{
	fake_topo(&topo, 2, 1);
	ck_assert_int_eq(place(NULL, NULL, 0), 0);
	ck_assert_uint_eq(pl.nworkers, 2);
	ck_assert_uint_eq(pl.nnodes_used, 1);
	assert_worker(0, 0, 0, 0);
	assert_worker(1, 1, 0, 0);
}
END_TEST

START_TEST(two_fake_nodes_put_cpu0_on_node0_and_cpu1_on_node1)
{
	fake_topo(&topo, 2, 2);
	ck_assert_int_eq(place("0-1", NULL, 0), 0);
	ck_assert_uint_eq(pl.nworkers, 2);
	ck_assert_uint_eq(pl.nnodes_used, 2);
	assert_worker(0, 0, 0, 0);
	assert_worker(1, 1, 1, 0);
}
END_TEST

START_TEST(six_workers_on_four_nodes_of_four_spread_2_2_1_1)
{
	fake_topo(&topo, 16, 4);
	ck_assert_int_eq(place(NULL, NULL, 6), 0);
	ck_assert_uint_eq(pl.nworkers, 6);
	ck_assert_uint_eq(pl.nnodes_used, 4);
	assert_worker(0, 0, 0, 0);
	assert_worker(1, 1, 0, 0);
	assert_worker(2, 4, 1, 0);
	assert_worker(3, 5, 1, 0);
	assert_worker(4, 8, 2, 0);
	assert_worker(5, 12, 3, 0);
}
END_TEST

START_TEST(uneven_nodes_fill_the_big_node_once_the_small_one_ran_out)
{
	static const char *const lists[] = {"0-2", "3"};

	topo_of(&topo, lists, NULL, 2);
	ck_assert_int_eq(place(NULL, NULL, 4), 0);
	ck_assert_uint_eq(pl.nworkers, 4);
	ck_assert_uint_eq(pl.nnodes_used, 2);
	assert_worker(0, 0, 0, 0);
	assert_worker(1, 1, 0, 0);
	assert_worker(2, 2, 0, 0);
	assert_worker(3, 3, 1, 1);
	ck_assert_int_eq(place(NULL, NULL, 3), 0);
	ck_assert_uint_eq(pl.nworkers, 3);
	assert_worker(0, 0, 0, 0);
	assert_worker(1, 1, 0, 0);
	assert_worker(2, 3, 1, 1);
}
END_TEST

START_TEST(nodes_restrict_the_candidates)
{
	fake_topo(&topo, 4, 2);
	ck_assert_int_eq(place(NULL, "1", 0), 0);
	ck_assert_uint_eq(pl.nworkers, 2);
	ck_assert_uint_eq(pl.nnodes_used, 1);
	assert_worker(0, 2, 1, 0);
	assert_worker(1, 3, 1, 0);
}
END_TEST

START_TEST(cpus_and_nodes_intersect)
{
	fake_topo(&topo, 8, 2);
	ck_assert_int_eq(place("1,3,5,7", "1", 0), 0);
	ck_assert_uint_eq(pl.nworkers, 2);
	assert_worker(0, 5, 1, 0);
	assert_worker(1, 7, 1, 0);
}
END_TEST

START_TEST(sparse_node_ids_are_used_as_given)
{
	static const char *const lists[] = {"0-1", "2-3", "4-5"};
	static const int ids[] = {0, 2, 5};

	topo_of(&topo, lists, ids, 3);
	ck_assert_int_eq(place(NULL, "0,5", 3), 0);
	ck_assert_uint_eq(pl.nworkers, 3);
	ck_assert_uint_eq(pl.nnodes_used, 2);
	assert_worker(0, 0, 0, 0);
	assert_worker(1, 1, 0, 0);
	assert_worker(2, 4, 5, 5);
}
END_TEST

START_TEST(fewer_workers_than_nodes_take_the_first_nodes)
{
	fake_topo(&topo, 8, 4);
	ck_assert_int_eq(place(NULL, NULL, 1), 0);
	ck_assert_uint_eq(pl.nworkers, 1);
	ck_assert_uint_eq(pl.nnodes_used, 1);
	assert_worker(0, 0, 0, 0);
	ck_assert_int_eq(place(NULL, NULL, 3), 0);
	ck_assert_uint_eq(pl.nnodes_used, 3);
	assert_worker(0, 0, 0, 0);
	assert_worker(1, 2, 1, 0);
	assert_worker(2, 4, 2, 0);
}
END_TEST

/* Five CPUs in two pretend nodes: 0-2 and 3-4. */
START_TEST(uneven_fake_nodes_of_five_cpus_spread_3_2)
{
	fake_topo(&topo, 5, 2);
	ck_assert_uint_eq(topo.node[0].ncpus, 3);
	ck_assert_uint_eq(topo.node[1].ncpus, 2);
	ck_assert_int_eq(place(NULL, NULL, 0), 0);
	ck_assert_uint_eq(pl.nworkers, 5);
	assert_worker(0, 0, 0, 0);
	assert_worker(1, 1, 0, 0);
	assert_worker(2, 2, 0, 0);
	assert_worker(3, 3, 1, 0);
	assert_worker(4, 4, 1, 0);
	ck_assert_int_eq(place(NULL, NULL, 3), 0);
	assert_worker(0, 0, 0, 0);
	assert_worker(1, 1, 0, 0);
	assert_worker(2, 3, 1, 0);
	ck_assert_int_eq(place(NULL, NULL, 4), 0);
	assert_worker(0, 0, 0, 0);
	assert_worker(1, 1, 0, 0);
	assert_worker(2, 3, 1, 0);
	assert_worker(3, 4, 1, 0);
}
END_TEST

/* Three real nodes of 4, 2 and 1 CPUs (interleaved numbering, as on
 * two-socket machines with SMT siblings far apart): round robin until a
 * node runs out, then the others take the rest. */
START_TEST(three_uneven_real_nodes_spread_round_robin_until_each_runs_out)
{
	static const char *const lists[] = {"0,3,6,9", "1,4", "2"};

	topo_of(&topo, lists, NULL, 3);
	ck_assert_int_eq(place(NULL, NULL, 5), 0);
	ck_assert_uint_eq(pl.nworkers, 5);
	ck_assert_uint_eq(pl.nnodes_used, 3);
	assert_worker(0, 0, 0, 0);
	assert_worker(1, 3, 0, 0);
	assert_worker(2, 1, 1, 1);
	assert_worker(3, 4, 1, 1);
	assert_worker(4, 2, 2, 2);
	ck_assert_int_eq(place(NULL, NULL, 6), 0);
	assert_worker(2, 6, 0, 0);
	ck_assert_int_eq(place(NULL, NULL, 7), 0);
	ck_assert_uint_eq(pl.nworkers, 7);
	assert_worker(3, 9, 0, 0);
	/* --cpus picks across nodes; each worker keeps its CPU's node. */
	ck_assert_int_eq(place("2-4,9", NULL, 0), 0);
	ck_assert_uint_eq(pl.nworkers, 4);
	assert_worker(0, 3, 0, 0);
	assert_worker(1, 9, 0, 0);
	assert_worker(2, 4, 1, 1);
	assert_worker(3, 2, 2, 2);
}
END_TEST

/* The integration test's case: --cpus 0-1 with RINGLB_NUMA_FAKE=2 on a
 * machine of more CPUs puts CPU 0 on node 0 and CPU 1 on node 1 only when
 * the machine has two CPUs; on four, both are in node 0. */
START_TEST(cpus_0_1_with_two_fake_nodes_of_four_cpus_stay_on_node_0)
{
	fake_topo(&topo, 4, 2);
	ck_assert_int_eq(place("0-1", NULL, 0), 0);
	ck_assert_uint_eq(pl.nworkers, 2);
	ck_assert_uint_eq(pl.nnodes_used, 1);
	assert_worker(0, 0, 0, 0);
	assert_worker(1, 1, 0, 0);
}
END_TEST

START_TEST(more_workers_than_cpus_is_an_error)
{
	fake_topo(&topo, 2, 1);
	ck_assert_int_eq(place(NULL, NULL, 3), -EINVAL);
	ck_assert_str_eq(err,
	                 "3 workers but only 2 CPUs to run them on (at most one worker per CPU)");
	ck_assert_uint_eq(pl.nworkers, 0);
	fake_topo(&topo, 4, 2);
	ck_assert_int_eq(place("0-2", "1", 2), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "2 workers but only 1 CPUs"));
}
END_TEST

START_TEST(a_cpu_that_is_not_online_is_an_error_naming_it)
{
	fake_topo(&topo, 2, 1);
	ck_assert_int_eq(place("1,5", NULL, 0), -EINVAL);
	ck_assert_str_eq(err, "CPU 5 is not online or not allowed (online: 0-1)");
	ck_assert_uint_eq(pl.nworkers, 0);
}
END_TEST

START_TEST(an_unknown_node_is_an_error_naming_it)
{
	fake_topo(&topo, 4, 2);
	ck_assert_int_eq(place(NULL, "0,3", 0), -EINVAL);
	ck_assert_str_eq(err, "node 3 does not exist (nodes with CPUs: 0-1)");
}
END_TEST

START_TEST(cpus_outside_the_chosen_nodes_leave_no_cpu)
{
	fake_topo(&topo, 4, 2);
	ck_assert_int_eq(place("0-1", "1", 0), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "no CPU left"));
}
END_TEST

START_TEST(without_numa_one_node_holds_every_online_cpu_unbound)
{
	cpu_set_t mask;
	unsigned i;
	int cpu;

	numa_off = 1;
	ck_assert_int_eq(topo_discover(&topo, err, sizeof(err)), 0);
	ck_assert(!topo.numa && !topo.fake);
	ck_assert_uint_eq(topo.nnodes, 1);
	ck_assert_int_eq(topo.node[0].id, 0);
	ck_assert_int_eq(topo.node[0].real, -1);
	ck_assert_int_eq(sched_getaffinity(0, sizeof(mask), &mask), 0);
	ck_assert(CPU_EQUAL(&topo.node[0].cpus, &mask));
	ck_assert_int_eq(place(NULL, NULL, 0), 0);
	ck_assert_uint_eq(pl.nworkers, (unsigned)CPU_COUNT(&mask));
	ck_assert_uint_eq(pl.nnodes_used, 1);
	for (i = 0, cpu = 0; i < pl.nworkers; i++, cpu++) {
		while (!CPU_ISSET(cpu, &mask))
			cpu++;
		assert_worker(i, cpu, 0, -1);
	}
}
END_TEST

static void log_two_fake_nodes(void)
{
	fake_topo(&topo, 4, 2);
	ck_assert_int_eq(place(NULL, NULL, 2), 0);
	place_log(&pl, &topo);
}

START_TEST(place_log_writes_one_line_per_worker_and_a_summary)
{
	const char *out = capture(log_two_fake_nodes);

	ck_assert_str_eq(out, "ringlb: placement: worker 0 cpu 0 node 0 (memory node 0)\n"
	                      "ringlb: placement: worker 1 cpu 2 node 1 (memory node 0)\n"
	                      "ringlb: placement: 2 workers on 2 nodes (fake)\n");
}
END_TEST

START_TEST(pin_self_moves_the_thread_to_one_cpu)
{
	cpu_set_t mask, now;
	int cpu;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(mask), &mask), 0);
	for (cpu = CPU_SETSIZE - 1; !CPU_ISSET(cpu, &mask); cpu--)
		;
	ck_assert_int_eq(place_pin_self(cpu), 0);
	ck_assert_int_eq(pthread_getaffinity_np(pthread_self(), sizeof(now), &now), 0);
	ck_assert_int_eq(CPU_COUNT(&now), 1);
	ck_assert(CPU_ISSET(cpu, &now));
	ck_assert_int_eq(sched_getcpu(), cpu);
	ck_assert_int_eq(place_pin_self(-1), -EINVAL);
	ck_assert_int_eq(place_pin_self(CPU_SETSIZE), -EINVAL);
}
END_TEST

/* --- topology --- */

START_TEST(fake_split_gives_the_first_nodes_the_extra_cpus)
{
	static const char *const want[] = {"0-2", "3-5", "6-7", "8-9"};
	char buf[32];
	unsigned i;

	fake_topo(&topo, 10, 4);
	ck_assert(topo.fake);
	ck_assert_uint_eq(topo.nnodes, 4);
	ck_assert_uint_eq(topo.nonline, 10);
	for (i = 0; i < 4; i++) {
		cpulist_format(&topo.node[i].cpus, buf, sizeof(buf));
		ck_assert_str_eq(buf, want[i]);
		ck_assert_uint_eq(topo.node[i].ncpus, i < 2 ? 3 : 2);
		ck_assert_int_eq(topo.node[i].id, (int)i);
		ck_assert_int_eq(topo.node[i].real, 0);
	}
	ck_assert_int_eq(topo_node_of_cpu(&topo, 5), 1);
	ck_assert_int_eq(topo_node_of_cpu(&topo, 9), 3);
	ck_assert_int_eq(topo_node_of_cpu(&topo, 10), -1);
	ck_assert_int_eq(topo_node_of_cpu(&topo, -1), -1);
}
END_TEST

START_TEST(fake_split_keeps_the_real_node_of_each_group_first_cpu)
{
	static const char *const lists[] = {"0,2", "4,6,8"};
	static const char *const want[] = {"0,2,4", "6,8"};
	static const int real[] = {0, 1};
	char buf[32];
	unsigned i;

	topo_of(&topo, lists, NULL, 2);
	fake_split(&topo, 2);
	ck_assert(topo.fake);
	ck_assert_uint_eq(topo.nnodes, 2);
	for (i = 0; i < 2; i++) {
		cpulist_format(&topo.node[i].cpus, buf, sizeof(buf));
		ck_assert_str_eq(buf, want[i]);
		ck_assert_int_eq(topo.node[i].real, real[i]);
	}
	ck_assert_int_eq(topo_node_of_cpu(&topo, 4), 0);
}
END_TEST

/* Checks that <t>'s nodes partition exactly the CPUs this process may use. */
static void assert_nodes_cover_the_affinity_mask(const struct topo *t)
{
	cpu_set_t mask, all, both;
	unsigned i;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(mask), &mask), 0);
	ck_assert(CPU_EQUAL(&t->online, &mask));
	ck_assert_uint_eq(t->nonline, (unsigned)CPU_COUNT(&mask));
	ck_assert_uint_ge(t->nnodes, 1);
	CPU_ZERO(&all);
	for (i = 0; i < t->nnodes; i++) {
		ck_assert_uint_ge(t->node[i].ncpus, 1);
		ck_assert_uint_eq(t->node[i].ncpus, (unsigned)CPU_COUNT(&t->node[i].cpus));
		CPU_AND(&both, &all, &t->node[i].cpus);
		ck_assert_int_eq(CPU_COUNT(&both), 0);
		CPU_OR(&all, &all, &t->node[i].cpus);
	}
	ck_assert(CPU_EQUAL(&all, &mask));
}

START_TEST(discovery_on_this_machine_covers_every_online_cpu)
{
	ck_assert_int_eq(topo_discover(&topo, err, sizeof(err)), 0);
	ck_assert(!topo.fake);
	assert_nodes_cover_the_affinity_mask(&topo);
	ck_assert_int_eq(topo.numa, numa_available() >= 0);
}
END_TEST

START_TEST(discovery_respects_the_affinity_mask)
{
	cpu_set_t mask, one;
	int cpu;

	ck_assert_int_eq(sched_getaffinity(0, sizeof(mask), &mask), 0);
	for (cpu = 0; !CPU_ISSET(cpu, &mask); cpu++)
		;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	ck_assert_int_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	ck_assert_int_eq(topo_discover(&topo, err, sizeof(err)), 0);
	ck_assert_uint_eq(topo.nonline, 1);
	ck_assert(CPU_EQUAL(&topo.online, &one));
	assert_nodes_cover_the_affinity_mask(&topo);
}
END_TEST

static void discover_with_fake_2(void)
{
	setenv("RINGLB_NUMA_FAKE", "2", 1);
	ck_assert_int_eq(topo_discover(&topo, err, sizeof(err)), 0);
}

static int first_cpu(const cpu_set_t *set)
{
	int cpu;

	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, set))
			return cpu;
	return -1;
}

static int real_node_of(const struct topo *t, int cpu)
{
	unsigned i;

	for (i = 0; i < t->nnodes; i++)
		if (CPU_ISSET(cpu, &t->node[i].cpus))
			return t->node[i].real;
	return -2;
}

START_TEST(numa_fake_2_splits_the_cpus_and_says_so_once)
{
	struct topo real;
	char want[256];
	const char *out;
	unsigned i;

	ck_assert_int_eq(topo_discover(&real, err, sizeof(err)), 0);
	if (real.nonline < 2)
		return; /* needs two CPUs; the other cases still run */
	out = capture(discover_with_fake_2);
	ck_assert(topo.fake);
	ck_assert_int_eq(topo.numa, real.numa);
	ck_assert_uint_eq(topo.nnodes, 2);
	assert_nodes_cover_the_affinity_mask(&topo);
	ck_assert_uint_eq(topo.node[0].ncpus, (real.nonline + 1) / 2);
	ck_assert_int_lt(first_cpu(&topo.node[0].cpus), first_cpu(&topo.node[1].cpus));
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(topo.node[i].id, (int)i);
		ck_assert_int_eq(topo.node[i].real,
		                 real_node_of(&real, first_cpu(&topo.node[i].cpus)));
	}
	snprintf(want, sizeof(want),
	         "ringlb: numa: RINGLB_NUMA_FAKE=2: 2 pretend nodes over %u CPUs; ", real.nonline);
	ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "logged: %s", out);
	ck_assert_msg(strchr(out, '\n')[1] == '\0', "more than one line: %s", out);
	if (real.numa && real.nnodes == 1) {
		snprintf(want, sizeof(want), "memory comes from real node %d\n", real.node[0].real);
		ck_assert_ptr_nonnull(strstr(out, want));
	}
	out = capture(discover_with_fake_2);
	ck_assert_str_eq(out, "");
	ck_assert(topo.fake);
}
END_TEST

START_TEST(numa_fake_without_numa_leaves_memory_unbound_and_says_so)
{
	const char *out;
	unsigned i;

	numa_off = 1;
	ck_assert_int_eq(topo_discover(&topo, err, sizeof(err)), 0);
	if (topo.nonline < 2)
		return;
	out = capture(discover_with_fake_2);
	ck_assert(topo.fake && !topo.numa);
	ck_assert_uint_eq(topo.nnodes, 2);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(topo.node[i].real, -1);
	ck_assert_ptr_nonnull(strstr(out, "memory is not bound to a node (no NUMA)\n"));
	ck_assert_int_eq(place(NULL, NULL, 0), 0);
	for (i = 0; i < pl.nworkers; i++)
		ck_assert_int_eq(pl.w[i].real_node, -1);
}
END_TEST

static void log_without_numa(void)
{
	numa_off = 1;
	ck_assert_int_eq(topo_discover(&topo, err, sizeof(err)), 0);
	ck_assert_int_eq(place(NULL, NULL, 1), 0);
	place_log(&pl, &topo);
}

START_TEST(place_log_without_numa_says_no_numa_and_memory_node_minus_1)
{
	const char *out = capture(log_without_numa);
	char want[128];

	snprintf(want, sizeof(want),
	         "ringlb: placement: worker 0 cpu %d node 0 (memory node -1)\n"
	         "ringlb: placement: 1 workers on 1 nodes (no NUMA)\n",
	         first_cpu(&topo.online));
	ck_assert_str_eq(out, want);
}
END_TEST

static const struct {
	const char *val, *msg;
} bad_fake[] = {
    {"0", "RINGLB_NUMA_FAKE: 0 is out of range"},
    {"abc", "RINGLB_NUMA_FAKE: \"abc\" is not a node count"},
    {"999", "RINGLB_NUMA_FAKE: 999 is out of range"},
    {"2x", "RINGLB_NUMA_FAKE: \"2x\" is not a node count"},
    {"-1", "RINGLB_NUMA_FAKE: \"-1\" is not a node count"},
    {" 2", "RINGLB_NUMA_FAKE: \" 2\" is not a node count"},
    {"99999999999999999999999",
     "RINGLB_NUMA_FAKE: \"99999999999999999999999\" is not a node count"},
};

START_TEST(numa_fake_rejects_bad_values_with_a_message)
{
	setenv("RINGLB_NUMA_FAKE", bad_fake[_i].val, 1);
	ck_assert_int_eq(topo_discover(&topo, err, sizeof(err)), -EINVAL);
	ck_assert_msg(strncmp(err, bad_fake[_i].msg, strlen(bad_fake[_i].msg)) == 0,
	              "RINGLB_NUMA_FAKE=%s: %s", bad_fake[_i].val, err);
	ck_assert_ptr_nonnull(strstr(err, "(expected 1.."));
}
END_TEST

START_TEST(numa_fake_above_the_online_cpus_is_rejected)
{
	char val[16];

	ck_assert_int_eq(topo_discover(&topo, err, sizeof(err)), 0);
	snprintf(val, sizeof(val), "%u", topo.nonline + 1);
	setenv("RINGLB_NUMA_FAKE", val, 1);
	ck_assert_int_eq(topo_discover(&topo, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "is out of range"));
}
END_TEST

START_TEST(numa_fake_empty_means_unset)
{
	setenv("RINGLB_NUMA_FAKE", "", 1);
	ck_assert_int_eq(topo_discover(&topo, err, sizeof(err)), 0);
	ck_assert(!topo.fake);
}
END_TEST

static TCase *tcase(const char *name)
{
	return ck_tcase(name, 10, setup, teardown);
}

static Suite *place_suite(void)
{
	Suite *s = suite_create("place");
	TCase *tp = tcase("place"), *tt = tcase("topo");

	tcase_add_test(tp, one_node_of_two_cpus_gets_a_worker_per_cpu_by_default);
	tcase_add_test(tp, two_fake_nodes_put_cpu0_on_node0_and_cpu1_on_node1);
	tcase_add_test(tp, six_workers_on_four_nodes_of_four_spread_2_2_1_1);
	tcase_add_test(tp, uneven_nodes_fill_the_big_node_once_the_small_one_ran_out);
	tcase_add_test(tp, nodes_restrict_the_candidates);
	tcase_add_test(tp, cpus_and_nodes_intersect);
	tcase_add_test(tp, sparse_node_ids_are_used_as_given);
	tcase_add_test(tp, fewer_workers_than_nodes_take_the_first_nodes);
	tcase_add_test(tp, uneven_fake_nodes_of_five_cpus_spread_3_2);
	tcase_add_test(tp, three_uneven_real_nodes_spread_round_robin_until_each_runs_out);
	tcase_add_test(tp, cpus_0_1_with_two_fake_nodes_of_four_cpus_stay_on_node_0);
	tcase_add_test(tp, more_workers_than_cpus_is_an_error);
	tcase_add_test(tp, a_cpu_that_is_not_online_is_an_error_naming_it);
	tcase_add_test(tp, an_unknown_node_is_an_error_naming_it);
	tcase_add_test(tp, cpus_outside_the_chosen_nodes_leave_no_cpu);
	tcase_add_test(tp, without_numa_one_node_holds_every_online_cpu_unbound);
	tcase_add_test(tp, place_log_writes_one_line_per_worker_and_a_summary);
	tcase_add_test(tp, pin_self_moves_the_thread_to_one_cpu);
	suite_add_tcase(s, tp);

	tcase_add_test(tt, fake_split_gives_the_first_nodes_the_extra_cpus);
	tcase_add_test(tt, fake_split_keeps_the_real_node_of_each_group_first_cpu);
	tcase_add_test(tt, discovery_on_this_machine_covers_every_online_cpu);
	tcase_add_test(tt, discovery_respects_the_affinity_mask);
	tcase_add_test(tt, numa_fake_2_splits_the_cpus_and_says_so_once);
	tcase_add_loop_test(tt, numa_fake_rejects_bad_values_with_a_message, 0,
	                    sizeof(bad_fake) / sizeof(bad_fake[0]));
	tcase_add_test(tt, numa_fake_above_the_online_cpus_is_rejected);
	tcase_add_test(tt, numa_fake_empty_means_unset);
	tcase_add_test(tt, numa_fake_without_numa_leaves_memory_unbound_and_says_so);
	tcase_add_test(tt, place_log_without_numa_says_no_numa_and_memory_node_minus_1);
	suite_add_tcase(s, tt);
	return s;
}

int main(void)
{
	return ck_run(place_suite());
}
