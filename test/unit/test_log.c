/* Unit tests for logging (core/base/log.c): a line is written whole, with
 * its prefix and one newline, up to the length the longest line ringlb
 * logs needs (the exit summary names every counter: over 1,000 bytes on a
 * busy process, which the old 1,024-byte line cut, losing its tail).
 */
#include <check.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/base/log.h"
#include "test/unit/ck.h"

/* What log_info("%s", <msg>) writes on stderr. */
static size_t logged(const char *msg, char *out, size_t cap)
{
	int fd[2], saved = dup(STDERR_FILENO);
	ssize_t n;

	ck_assert_int_eq(pipe(fd), 0);
	dup2(fd[1], STDERR_FILENO);
	log_info("%s", msg);
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fd[1]);
	n = read(fd[0], out, cap - 1);
	close(fd[0]);
	ck_assert_int_ge(n, 0);
	out[n] = '\0';
	return (size_t)n;
}

START_TEST(a_summary_sized_line_is_written_whole)
{
	static char msg[3001], out[4096];
	size_t n;

	memset(msg, 'x', sizeof(msg) - 1);
	memcpy(msg + sizeof(msg) - 5, "tail", 4);
	n = logged(msg, out, sizeof(out));
	ck_assert_uint_eq(n, strlen("ringlb: ") + strlen(msg) + 1);
	ck_assert(strncmp(out, "ringlb: ", 8) == 0);
	ck_assert(strcmp(out + n - 5, "tail\n") == 0);
}
END_TEST

START_TEST(a_line_past_the_buffer_is_cut_but_ends_with_a_newline)
{
	static char msg[10000], out[8192];
	size_t n;

	memset(msg, 'y', sizeof(msg) - 1);
	n = logged(msg, out, sizeof(out));
	ck_assert_uint_gt(n, 3000);
	ck_assert_uint_lt(n, sizeof(msg));
	ck_assert_int_eq(out[n - 1], '\n');
	ck_assert(strchr(out, '\n') == out + n - 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *tc = ck_tcase("lines", 30, NULL, NULL);

	tcase_add_test(tc, a_summary_sized_line_is_written_whole);
	tcase_add_test(tc, a_line_past_the_buffer_is_cut_but_ends_with_a_newline);
	suite_add_tcase(s, tc);
	return ck_run(s);
}
