/* Unit tests for the admin endpoint's requests without the ring
 * (core/admin/req.h): what admin_req_next() decides for a connection's
 * bytes and what admin_req_answer() sends. test/fuzz/fuzz_admin.c checks
 * the same against a reference on any input; these pin the cases by name.
 */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "core/admin/req.h"
#include "test/unit/ck.h"

static const struct admin_view ready = {.ready = true};
static const struct admin_view tok = {.token = "t0k", .ready = true};

/* admin_req_next() on a copy of <s> (the function writes to it). */
static struct admin_req next(const char *s, const struct admin_view *v)
{
	static char buf[ADMIN_HEAD_MAX + ADMIN_BODY_MAX + 64];
	struct admin_req r;
	size_t n = strlen(s);

	ck_assert_uint_lt(n, sizeof(buf));
	memcpy(buf, s, n);
	admin_req_next(buf, (uint32_t)n, v, &r);
	return r;
}

START_TEST(an_incomplete_head_waits_until_it_reaches_the_head_bound)
{
	static char big[ADMIN_HEAD_MAX + 64];
	struct admin_req r = next("GET /metrics HTTP/1.1\r\nHost: a\r\n", &ready);

	ck_assert_int_eq(r.what, ADMIN_DO_MORE);
	snprintf(big, sizeof(big), "GET /metrics HTTP/1.1\r\nX: %0*d", (int)ADMIN_HEAD_MAX, 0);
	r = next(big, &ready);
	ck_assert_int_eq(r.what, ADMIN_DO_TEXT);
	ck_assert_int_eq(r.status, 431);
	ck_assert(r.drop && admin_req_closes(431));
}
END_TEST

START_TEST(pipelined_requests_are_taken_one_at_a_time)
{
	const char *a = "HEAD /stats HTTP/1.1\r\nHost: a\r\n\r\n";
	char two[256];
	struct admin_req r;

	snprintf(two, sizeof(two), "%sGET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", a);
	r = next(two, &ready);
	ck_assert_int_eq(r.what, ADMIN_DO_STATS);
	ck_assert(r.head && !r.close && !r.drop);
	ck_assert_uint_eq(r.used, strlen(a));
	r = next(two + strlen(a), &ready);
	ck_assert_int_eq(r.what, ADMIN_DO_TEXT);
	ck_assert_int_eq(r.status, 404);
	ck_assert(r.close && !r.head && !admin_req_closes(404));
}
END_TEST

START_TEST(a_body_is_waited_for_and_bounded)
{
	const char *whole = "POST /reload HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
	struct admin_req r;

	r = next("POST /reload HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nab", &ready);
	ck_assert_int_eq(r.what, ADMIN_DO_MORE);
	r = next(whole, &ready);
	ck_assert_int_eq(r.what, ADMIN_DO_RELOAD);
	ck_assert_uint_eq(r.used, strlen(whole));
	r = next("POST /reload HTTP/1.1\r\nHost: a\r\nContent-Length: 20000\r\n\r\n", &ready);
	ck_assert(r.what == ADMIN_DO_TEXT && r.status == 413 && r.drop);
	r = next("POST /reload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", &ready);
	ck_assert(r.what == ADMIN_DO_TEXT && r.status == 411 && r.drop);
	r = next("GET /metrics HTTP/1.7\r\n\r\n", &ready);
	ck_assert(r.what == ADMIN_DO_TEXT && r.status == 400 && r.drop);
}
END_TEST

START_TEST(the_token_is_required_everywhere_but_health)
{
	struct admin_req r;

	r = next("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", &tok);
	ck_assert(r.what == ADMIN_DO_TEXT && r.status == 401 && r.unauthorized && r.extra);
	r = next("GET /metrics HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t0kx\r\n\r\n", &tok);
	ck_assert(r.status == 401 && r.unauthorized);
	r = next("GET /metrics HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t0k0\r\n\r\n", &tok);
	ck_assert(r.status == 401 && r.unauthorized);
	r = next("GET /metrics HTTP/1.1\r\nHost: a\r\nAuthorization: bearer   t0k\r\n\r\n", &tok);
	ck_assert_int_eq(r.what, ADMIN_DO_METRICS);
	r = next("GET /health HTTP/1.1\r\nHost: a\r\n\r\n", &tok);
	ck_assert(r.what == ADMIN_DO_TEXT && r.status == 200 && !r.unauthorized);
}
END_TEST

START_TEST(the_authorization_value_is_wiped_once_read)
{
	char req[] = "GET /config HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer t0k\r\n\r\n";
	char *v = strstr(req, "Bearer");
	struct admin_req r;

	admin_req_next(req, sizeof(req) - 1, &tok, &r);
	ck_assert_int_eq(r.what, ADMIN_DO_CONFIG);
	for (size_t i = 0; i < strlen("Bearer t0k"); i++)
		ck_assert_int_eq(v[i], 0);
}
END_TEST

START_TEST(backend_paths_are_split_and_percent_decoded)
{
	struct admin_req r;
	char big[512];

	r = next("POST /backends/a%2Fb/127.0.0.1%3A80/drain HTTP/1.1\r\nHost: a\r\n\r\n", &ready);
	ck_assert_int_eq(r.what, ADMIN_DO_BACKEND);
	ck_assert_str_eq(r.pool, "a/b");
	ck_assert_str_eq(r.addr, "127.0.0.1:80");
	ck_assert_int_eq(r.action, ADMIN_DRAIN);
	r = next("POST /backends/p/x/stop HTTP/1.1\r\nHost: a\r\n\r\n", &ready);
	ck_assert(r.what == ADMIN_DO_TEXT && r.status == 404);
	r = next("POST /backends/p/%4/enable HTTP/1.1\r\nHost: a\r\n\r\n", &ready);
	ck_assert(r.what == ADMIN_DO_TEXT && r.status == 400);
	r = next("POST /backends/p/%00/enable HTTP/1.1\r\nHost: a\r\n\r\n", &ready);
	ck_assert(r.what == ADMIN_DO_TEXT && r.status == 400);
	r = next("POST /backends/p//enable HTTP/1.1\r\nHost: a\r\n\r\n", &ready);
	ck_assert(r.what == ADMIN_DO_TEXT && r.status == 404);
	snprintf(big, sizeof(big), "POST /backends/%0200d/x/disable HTTP/1.1\r\nHost: a\r\n\r\n",
	         0);
	r = next(big, &ready);
	ck_assert(r.what == ADMIN_DO_TEXT && r.status == 400);
	r = next("GET /backends/p/x/drain HTTP/1.1\r\nHost: a\r\n\r\n", &ready);
	ck_assert(r.status == 405 && !strcmp(r.extra, "Allow: POST\r\n"));
}
END_TEST

START_TEST(not_ready_and_draining_answer_503)
{
	const struct admin_view starting = {0}, draining = {.ready = true, .stopping = true};
	struct admin_req r;

	r = next("GET /health HTTP/1.1\r\nHost: a\r\n\r\n", &starting);
	ck_assert(r.status == 503 && !strcmp(r.text, "starting"));
	r = next("GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n", &starting);
	ck_assert(r.what == ADMIN_DO_TEXT && r.status == 503);
	r = next("GET /health HTTP/1.1\r\nHost: a\r\n\r\n", &draining);
	ck_assert(r.status == 503 && !strcmp(r.text, "draining"));
}
END_TEST

START_TEST(an_answer_has_its_length_and_no_body_after_head)
{
	const char *want = "HTTP/1.1 405 Method Not Allowed\r\nServer: ringlb\r\n"
			   "Content-Type: text/plain\r\nContent-Length: 3\r\n"
			   "Cache-Control: no-store\r\nAllow: POST\r\nConnection: close\r\n\r\n";
	size_t len;
	char *out =
	    admin_req_answer(405, "text/plain", "no\n", 3, "Allow: POST\r\n", false, true, &len);

	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(len, strlen(want) + 3);
	ck_assert(!memcmp(out, want, strlen(want)) && !memcmp(out + strlen(want), "no\n", 3));
	free(out);
	out = admin_req_answer(200, "text/plain", "ok\n", 3, NULL, true, false, &len);
	ck_assert_ptr_nonnull(out);
	ck_assert(len > 4 && !memcmp(out + len - 4, "\r\n\r\n", 4) && strstr(out, "Length: 3\r\n"));
	ck_assert(!strstr(out, "Connection"));
	free(out);
}
END_TEST

static Suite *admin_req_suite(void)
{
	Suite *s = suite_create("admin_req");
	TCase *t = ck_tcase("requests", 10, NULL, NULL);

	tcase_add_test(t, an_incomplete_head_waits_until_it_reaches_the_head_bound);
	tcase_add_test(t, pipelined_requests_are_taken_one_at_a_time);
	tcase_add_test(t, a_body_is_waited_for_and_bounded);
	tcase_add_test(t, the_token_is_required_everywhere_but_health);
	tcase_add_test(t, the_authorization_value_is_wiped_once_read);
	tcase_add_test(t, backend_paths_are_split_and_percent_decoded);
	tcase_add_test(t, not_ready_and_draining_answer_503);
	tcase_add_test(t, an_answer_has_its_length_and_no_body_after_head);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return ck_run(admin_req_suite());
}
