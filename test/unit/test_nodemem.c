/* numa/nodemem.c, and the node binding of what it backs: each buffer pool
 * (core/pool.c) and each connection table (core/conn.c) carries the policy
 * of the node it was made for, read back with get_mempolicy(MPOL_F_ADDR);
 * on this machine's real nodes, touched pages are resident on that node
 * (move_pages). */
#include <check.h>
#include <errno.h>
#include <numa.h>
#include <numaif.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem/acct.h"
#include "core/loop/conn.h"
#include "core/mem/pool.h"
#include "numa/nodemem.h"
#include "test/unit/ck.h"

static struct acct *ac;
static size_t page;

static void setup(void)
{
	struct cfg_memory_limits lim = {
	    .max_total_memory = 256 << 20,
	    .buffer_pool_memory = 128 << 20,
	    .connection_memory = 64 << 20,
	    .ssl_context_memory = 8 << 20,
	    .cache_memory = 8 << 20,
	};
	struct cfg_memory_tuning tun = {
	    .warning_threshold = 0.8,
	    .critical_threshold = 0.95,
	    .backpressure_start = 0.85,
	    .warning_defer_ratio = 0.1,
	    .critical_reject_ratio = 0.7,
	};

	page = (size_t)sysconf(_SC_PAGESIZE);
	ac = acct_new(&lim, &tun);
	ck_assert_ptr_nonnull(ac);
}

static void teardown(void)
{
	ck_assert(acct_idle(ac));
	acct_free(ac);
}

/* The real nodes this process may allocate on, or none without NUMA. */
static bool node_allowed(int node)
{
	struct bitmask *mems;
	bool ok;

	if (numa_available() < 0)
		return false;
	mems = numa_get_mems_allowed();
	ok = node <= numa_max_node() && numa_bitmask_isbitset(mems, node);
	numa_bitmask_free(mems);
	return ok;
}

/* The node the page at <p> is resident on (move_pages query), or -errno. */
static int resident_node(void *p)
{
	int status = -1;

	ck_assert_int_eq(move_pages(0, 1, &p, NULL, &status, 0), 0);
	return status;
}

/* Every page of [p, p+len) binds to <node> (-1: no binding). */
static void assert_policy(const void *p, size_t len, int node)
{
	size_t off;

	for (off = 0; off < len; off += page)
		ck_assert_msg(nodemem_policy_node((const char *)p + off) == node,
		              "page at +%zu: policy node %d, expected %d", off,
		              nodemem_policy_node((const char *)p + off), node);
}

START_TEST(alloc_on_node_0_binds_every_page_before_and_after_touching)
{
	size_t len = 64 * page + 1;
	char *p = nodemem_alloc(len, 0);

	ck_assert_ptr_nonnull(p);
	assert_policy(p, len, 0);
	memset(p, 1, len);
	assert_policy(p, len, 0);
	nodemem_free(p, len);
}
END_TEST

START_TEST(alloc_without_a_node_has_no_binding)
{
	size_t len = 8 * page;
	char *p = nodemem_alloc(len, -1);
	int on_stack = 0;

	ck_assert_ptr_nonnull(p);
	memset(p, 1, len);
	assert_policy(p, len, -1);
	ck_assert_int_eq(nodemem_policy_node(&on_stack), -1);
	nodemem_free(p, len);
}
END_TEST

START_TEST(alloc_of_zero_bytes_fails_with_einval)
{
	errno = 0;
	ck_assert_ptr_null(nodemem_alloc(0, 0));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

START_TEST(a_write_past_the_end_hits_the_guard_page)
{
	size_t len = 2 * page;
	volatile char *p = nodemem_alloc(len, 0);

	ck_assert_ptr_nonnull((void *)p);
	p[len - 1] = 1;
	p[len] = 1; /* SIGSEGV */
}
END_TEST

/* The start address of the mapping of /proc/self/maps holding <p>'s line,
 * and its end, read from /proc/self/maps. */
static void vma_of(const void *p, unsigned long *start, unsigned long *end)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];

	ck_assert_ptr_nonnull(f);
	*start = *end = 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;

		if (sscanf(line, "%lx-%lx", &a, &b) == 2 && a <= (unsigned long)p &&
		    (unsigned long)p < b) {
			*start = a;
			*end = b;
			break;
		}
	}
	fclose(f);
}

/* Two areas of the same node, one after the other, stay two mappings of
 * their exact size, so numa_maps shows each on its own line. */
START_TEST(areas_of_one_node_stay_separate_mappings)
{
	size_t la = 16 * page, lb = 8 * page;
	char *a = nodemem_alloc(la, 0), *b = nodemem_alloc(lb, 0);
	unsigned long s, e;

	ck_assert(a && b);
	vma_of(a, &s, &e);
	ck_assert_uint_eq(s, (unsigned long)a);
	ck_assert_uint_eq(e - s, la);
	vma_of(b, &s, &e);
	ck_assert_uint_eq(s, (unsigned long)b);
	ck_assert_uint_eq(e - s, lb);
	nodemem_free(a, la);
	nodemem_free(b, lb);
	vma_of(a, &s, &e);
	ck_assert_uint_eq(s, 0);
	vma_of(a + la, &s, &e);
	ck_assert_uint_eq(s, 0);
}
END_TEST

START_TEST(discard_keeps_the_binding_and_reads_zero)
{
	size_t len = 4 * page, i;
	char *p = nodemem_alloc(len, 0);

	ck_assert_ptr_nonnull(p);
	memset(p, 0x5a, len);
	nodemem_discard(p, len);
	for (i = 0; i < len; i++)
		ck_assert_int_eq(p[i], 0);
	assert_policy(p, len, 0);
	nodemem_free(p, len);
}
END_TEST

/* For each real node of this machine: memory bound to it and touched is
 * resident on it, page by page. */
START_TEST(touched_pages_are_resident_on_their_node)
{
	size_t len = 32 * page, off;
	int node, tested = 0;

	for (node = 0; node < 1024; node++) {
		char *p;

		if (!node_allowed(node))
			continue;
		p = nodemem_alloc(len, node);
		ck_assert_ptr_nonnull(p);
		memset(p, 1, len);
		for (off = 0; off < len; off += page)
			ck_assert_int_eq(resident_node(p + off), node);
		nodemem_free(p, len);
		tested++;
	}
	if (numa_available() >= 0)
		ck_assert_int_ge(tested, 1);
}
END_TEST

static const struct cfg_buffer_class pool_cfg[BUF_NCLASS] = {
    {.initial_count = 2, .max_count = 8, .growth_factor = 2},
    {.initial_count = 2, .max_count = 8, .growth_factor = 2},
    {.initial_count = 2, .max_count = 8, .growth_factor = 2},
    {.initial_count = 2, .max_count = 8, .growth_factor = 2},
};

/* Takes two buffers of every class of a pool made for <node> and checks
 * each page of each carries that node's binding. */
static void check_pool_on(int node)
{
	struct pool *p = pool_new(node, pool_cfg, ac);
	struct pool_cache *c;
	void *b[BUF_NCLASS][2];
	int cls, k;

	ck_assert_ptr_nonnull(p);
	c = pool_cache_new(p);
	ck_assert_ptr_nonnull(c);
	for (cls = 0; cls < BUF_NCLASS; cls++) {
		for (k = 0; k < 2; k++) {
			b[cls][k] = pool_get(c, cls);
			ck_assert_ptr_nonnull(b[cls][k]);
			memset(b[cls][k], 1, pool_class_size(cls));
			assert_policy(b[cls][k], pool_class_size(cls), node);
			if (node >= 0 && node_allowed(node))
				ck_assert_int_eq(resident_node(b[cls][k]), node);
		}
	}
	for (cls = 0; cls < BUF_NCLASS; cls++)
		for (k = 0; k < 2; k++)
			pool_put(c, b[cls][k], pool_class_size(cls));
	pool_cache_free(c);
	pool_free(p);
}

START_TEST(pool_buffers_of_every_class_carry_their_node_binding)
{
	check_pool_on(0);
}
END_TEST

START_TEST(pool_without_a_node_has_no_binding)
{
	check_pool_on(-1);
}
END_TEST

/* A connection table made for <node>: every page of its records. */
static void check_table_on(int node)
{
	struct conn_table t;
	size_t bytes;

	ck_assert_int_eq(conn_table_init(&t, 4096, node, ac), 0);
	bytes = (size_t)t.size * sizeof(*t.c);
	ck_assert_int_eq(t.node, node);
	assert_policy(t.c, bytes, node);
	memset(t.c, 0, bytes);
	assert_policy(t.c, bytes, node);
	if (node >= 0 && node_allowed(node))
		ck_assert_int_eq(resident_node((char *)t.c + bytes - 1), node);
	conn_table_deinit(&t);
}

START_TEST(conn_table_carries_its_node_binding)
{
	check_table_on(0);
}
END_TEST

START_TEST(conn_table_without_a_node_has_no_binding)
{
	check_table_on(-1);
}
END_TEST

static Suite *nodemem_suite(void)
{
	Suite *s = suite_create("nodemem");
	TCase *tm = tcase_create("nodemem"), *tu = tcase_create("users");

	tcase_set_timeout(tm, 10);
	tcase_add_checked_fixture(tm, setup, teardown);
	tcase_add_test(tm, alloc_on_node_0_binds_every_page_before_and_after_touching);
	tcase_add_test(tm, alloc_without_a_node_has_no_binding);
	tcase_add_test(tm, alloc_of_zero_bytes_fails_with_einval);
	tcase_add_test(tm, discard_keeps_the_binding_and_reads_zero);
#if defined(__SANITIZE_ADDRESS__)
	/* ASan catches the SEGV, reports it and aborts (abort_on_error=1). */
	tcase_add_test_raise_signal(tm, a_write_past_the_end_hits_the_guard_page, SIGABRT);
#elif defined(__SANITIZE_THREAD__)
	/* TSan catches the SEGV and exits 66: the plain and ASan builds check it. */
	tcase_add_exit_test(tm, a_write_past_the_end_hits_the_guard_page, 66);
#else
	tcase_add_test_raise_signal(tm, a_write_past_the_end_hits_the_guard_page, SIGSEGV);
#endif
	tcase_add_test(tm, areas_of_one_node_stay_separate_mappings);
	tcase_add_test(tm, touched_pages_are_resident_on_their_node);
	suite_add_tcase(s, tm);
	tcase_set_timeout(tu, 10);
	tcase_add_checked_fixture(tu, setup, teardown);
	tcase_add_test(tu, pool_buffers_of_every_class_carry_their_node_binding);
	tcase_add_test(tu, pool_without_a_node_has_no_binding);
	tcase_add_test(tu, conn_table_carries_its_node_binding);
	tcase_add_test(tu, conn_table_without_a_node_has_no_binding);
	suite_add_tcase(s, tu);
	return s;
}

int main(void)
{
	return ck_run(nodemem_suite());
}
