/* What every Check unit test binary shares: test cases with a time limit,
 * the main that runs a suite, and two small macros. */
#ifndef RINGLB_TEST_CK_H
#define RINGLB_TEST_CK_H

#include <check.h>
#include <stdlib.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* For hot loops: ck_assert() records its location on every pass, which
 * costs a write each time; this only does work when it fails. */
#define FAIL_IF(cond, ...)                                                                         \
	do {                                                                                       \
		if (cond)                                                                          \
			ck_abort_msg(__VA_ARGS__);                                                 \
	} while (0)

/* A test case with a time limit (seconds) and a fixture (setup and
 * teardown, NULL for none) run around each test in its own process. */
static inline TCase *ck_tcase(const char *name, int timeout, SFun setup, SFun teardown)
{
	TCase *tc = tcase_create(name);

	tcase_set_timeout(tc, timeout);
	if (setup || teardown)
		tcase_add_checked_fixture(tc, setup, teardown);
	return tc;
}

/* Runs every test of <s>: the process's exit status. */
static inline int ck_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
