/* Unit tests for the HTTP/1.1 parser (core/h1.h), written against RFC 9112
 * and the contract in core/h1.h: every rule with a valid and an invalid
 * case, the limits exactly at and one past, incremental feeding (every split
 * point gives the answer of one call), the body framer, the head builders
 * checked as text, the wipe of secrets, and the request-smuggling corpus in
 * test/configs/smuggle/ (one raw request per file, its expected status in
 * its name: 400-cl-te-basic.txt). The corpus is found under $RLB_TOP (set
 * by test/run.sh), else the current directory.
 *
 * Every parse runs on an exactly sized malloc'd copy of the bytes, so ASan
 * sees any read past the end.
 */
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse/h1.c"
#include "test/unit/ck.h"

/* The message and buffer of the test: the teardown frees them and checks
 * that release left no spill. */
static struct h1_msg msg;
static char *bufs[1024];
static unsigned nbufs;

static void setup(void)
{
	memset(&msg, 0, sizeof(msg));
	nbufs = 0;
}

static void teardown(void)
{
	h1_msg_release(&msg);
	ck_assert_ptr_eq(msg.hdrs, msg.inline_hdrs);
	while (nbufs)
		free(bufs[--nbufs]);
}

/* An exactly sized copy of <s>, freed by the teardown. */
static char *dup_n(const char *s, size_t n)
{
	char *b = malloc(n ? n : 1);

	ck_assert_ptr_nonnull(b);
	memcpy(b, s, n);
	ck_assert_uint_lt(nbufs, ARRAY_SIZE(bufs));
	bufs[nbufs++] = b;
	return b;
}

static int parse_lim(bool resp, const struct h1_limits *lim, const char *s, size_t n,
                     struct h1_msg *m)
{
	struct h1_parser p;
	char *b = dup_n(s, n);

	h1_parser_init(&p, resp, lim);
	return h1_parse(&p, b, n, m);
}

static int req(const char *s)
{
	h1_msg_release(&msg);
	return parse_lim(false, NULL, s, strlen(s), &msg);
}

static int resp(const char *s)
{
	h1_msg_release(&msg);
	return parse_lim(true, NULL, s, strlen(s), &msg);
}

/* A response to a HEAD request. */
static int resp_head(const char *s)
{
	struct h1_parser p;
	char *b = dup_n(s, strlen(s));

	h1_msg_release(&msg);
	h1_parser_init(&p, true, NULL);
	p.flags |= H1_F_HEAD_REQ;
	return h1_parse(&p, b, strlen(s), &msg);
}

static bool str_is(struct h1_str s, const char *z)
{
	return s.len == strlen(z) && !memcmp(s.p, z, s.len);
}

#define ck_str(s, z) ck_assert_msg(str_is(s, z), "\"%.*s\" != \"%s\"", (int)(s).len, (s).p, z)

#define GET(hdrs) "GET / HTTP/1.1\r\nHost: a\r\n" hdrs "\r\n"

/* --- Character classes --- */

START_TEST(character_classes_match_their_rfc_definitions)
{
	const char *tchar = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	const char *host = "-._~!$&'()*+,;=:[]%0123456789abcdefghijklmnopqrstuvwxyz"
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	unsigned c;

	for (c = 0; c < 256; c++) {
		bool t = c && strchr(tchar, (int)c), h = c && strchr(host, (int)c);
		bool v = c == '\t' || (c >= 0x20 && c != 0x7f);

		FAIL_IF(!!h1__is(c, C_T) != t, "tchar %#x", c);
		FAIL_IF(!!h1__is(c, C_H) != h, "host %#x", c);
		FAIL_IF(!!h1__is(c, C_V) != v, "value %#x", c);
		FAIL_IF(!!h1__is(c, C_U) != (c >= 0x21 && c <= 0x7e), "vchar %#x", c);
		FAIL_IF(!!h1__is(c, C_X) != (c < 128 && isxdigit((int)c)), "hex %#x", c);
		FAIL_IF(!!h1__is(c, C_D) != (c >= '0' && c <= '9'), "digit %#x", c);
		FAIL_IF(!!h1__is(c, C_W) != (c == ' ' || c == '\t'), "ows %#x", c);
		FAIL_IF(h1__lc(c) != (c < 128 ? tolower((int)c) : (int)c), "lower %#x", c);
	}
}
END_TEST

/* --- Request line --- */

START_TEST(a_simple_get_parses_into_slices_of_the_buffer)
{
	const char *s = "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";

	ck_assert_int_eq(req(s), (int)strlen(s));
	ck_str(msg.method, "GET");
	ck_str(msg.target, "/a?b=c");
	ck_str(msg.host, "example.com");
	ck_assert_uint_eq(msg.minor, 1);
	ck_assert_uint_eq(msg.nhdrs, 2);
	ck_assert_uint_eq(msg.head_len, strlen(s));
	ck_assert_int_eq(msg.body, H1_BODY_NONE);
	ck_assert_uint_eq(msg.flags, 0);
	ck_assert(!msg.is_head && !msg.is_connect);
	ck_str(msg.hdrs[1].name, "Accept");
	ck_str(msg.hdrs[1].value, "*/*");
	ck_assert_uint_eq(msg.hdrs[1].id, H1_H_ACCEPT);
	ck_assert_ptr_eq(msg.hdrs, msg.inline_hdrs);
}
END_TEST

START_TEST(an_incomplete_head_asks_for_more)
{
	ck_assert_int_eq(req("GET / HTTP/1.1\r\nHost: a\r\n"), 0);
	ck_assert_int_eq(req("GET / HTTP/1.1\r\nHost: a\r\n\r"), 0);
	ck_assert_int_eq(req(""), 0);
	ck_assert_int_eq(req("G"), 0);
}
END_TEST

START_TEST(head_length_leaves_the_next_bytes_alone)
{
	const char *s = GET("") "POST / HTTP/1.1\r\n";

	ck_assert_int_eq(req(s), (int)strlen(GET("")));
}
END_TEST

START_TEST(the_method_must_be_a_token)
{
	ck_assert_int_gt(req("M-SEARCH /x HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	ck_assert_int_eq(req("M-SEARCH * HTTP/1.1\r\nHost: a\r\n\r\n"), -400); /* not OPTIONS */
	ck_assert_int_gt(req("PURGE /x HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	ck_str(msg.method, "PURGE");
	ck_assert_int_eq(req("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GE\x01T / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_gt(req("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	ck_assert(msg.is_head);
	ck_assert_int_gt(req("head / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	ck_assert(!msg.is_head); /* methods are case-sensitive */
}
END_TEST

START_TEST(the_request_line_has_single_spaces)
{
	ck_assert_int_eq(req("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET /\tHTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET / HTTP/1.1 x\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET /\r\n\r\n"), -400); /* HTTP/0.9 */
}
END_TEST

START_TEST(origin_form_is_the_target_of_normal_methods)
{
	ck_assert_int_gt(req("GET /p/a%20th?q=1&r=a:b@c HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	ck_str(msg.host, "a");
	ck_str(msg.path, "/p/a%20th?q=1&r=a:b@c");
	ck_assert_int_eq(req("GET p HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET ?q HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
}
END_TEST

START_TEST(absolute_form_is_accepted_for_http_and_https)
{
	ck_assert_int_gt(req("GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n"), 0);
	ck_str(msg.target, "http://example.com/x");
	/* The target's authority replaces Host for routing (RFC 9112 3.2.2). */
	ck_assert_int_gt(req("GET http://t.example/a/b?q HTTP/1.1\r\nHost: other\r\n\r\n"), 0);
	ck_str(msg.host, "t.example");
	ck_str(msg.path, "/a/b?q");
	ck_assert_int_gt(req("GET HTTPS://example.com:8443 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	ck_str(msg.host, "example.com:8443");
	ck_str(msg.path, "");
	ck_assert_int_gt(req("GET http://example.com?x HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	ck_str(msg.host, "example.com");
	ck_str(msg.path, "?x");
	ck_assert_int_eq(req("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET http://user@example.com/ HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET ftp://example.com/ HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
}
END_TEST

START_TEST(authority_form_is_only_for_connect)
{
	ck_assert_int_gt(req("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
	                 0);
	ck_assert(msg.is_connect);
	ck_assert_int_eq(msg.body, H1_BODY_NONE);
	ck_assert_int_gt(req("CONNECT [::1]:443 HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	ck_assert_int_eq(req("CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("CONNECT example.com: HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("CONNECT :443 HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("CONNECT a:443443 HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
}
END_TEST

START_TEST(asterisk_form_is_only_for_options)
{
	ck_assert_int_gt(req("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	ck_assert_int_gt(req("OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	ck_assert_int_eq(req("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("OPTIONS ** HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
}
END_TEST

START_TEST(target_bytes_are_visible_ascii)
{
	ck_assert_int_gt(req("GET /~a!$&'()*+,;=:@[]{}|^`\"<> HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	ck_assert_int_eq(req("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
}
END_TEST

START_TEST(the_version_is_http_1_0_or_1_1)
{
	ck_assert_int_gt(req("GET / HTTP/1.0\r\n\r\n"), 0);
	ck_assert_uint_eq(msg.minor, 0);
	ck_assert_int_gt(req("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	ck_assert_uint_eq(msg.minor, 1);
	ck_assert_int_eq(req("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), -505);
	ck_assert_int_eq(req("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), -505);
	ck_assert_int_eq(req("GET / HTTP/0.9\r\n\r\n"), -505);
	ck_assert_int_eq(req("GET / http/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET / HTTP/1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET / HTTP/1.x\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET / HTTP/11.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET / HTTPS/1.1\r\nHost: a\r\n\r\n"), -400);
	/* a garbage version is answered before the line ends */
	ck_assert_int_eq(req("GET / HTTP/1.1111"), -400);
}
END_TEST

START_TEST(empty_lines_before_the_request_line_are_skipped)
{
	const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";

	ck_assert_int_eq(req(s), (int)strlen(s));
	ck_str(msg.method, "GET");
	ck_assert_int_eq(req("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(resp("\r\nHTTP/1.1 200 OK\r\n\r\n"), -400);
}
END_TEST

START_TEST(http_1_1_needs_exactly_one_host)
{
	ck_assert_int_gt(req("GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n"), 0);
	ck_assert_int_gt(req("GET / HTTP/1.1\r\nhOsT: a\r\n\r\n"), 0);
	ck_assert_int_gt(req("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), 0);
	ck_assert_int_gt(req("GET / HTTP/1.1\r\nHost:\r\n\r\n"), 0); /* empty: allowed */
	ck_assert_int_gt(req("GET / HTTP/1.0\r\n\r\n"), 0);
	ck_assert_int_eq(msg.host.len, 0);
	ck_assert_int_eq(req("GET / HTTP/1.1\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET / HTTP/1.1\r\nHost: a, b\r\n\r\n"), -400);
}
END_TEST

/* --- Header lines --- */

START_TEST(no_whitespace_between_name_and_colon)
{
	ck_assert_int_gt(req(GET("X-A: 1\r\n")), 0);
	ck_assert_int_eq(req(GET("X-A : 1\r\n")), -400);
	ck_assert_int_eq(req(GET("X-A\t: 1\r\n")), -400);
	ck_assert_int_eq(req("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), -400);
}
END_TEST

START_TEST(obs_fold_is_refused)
{
	ck_assert_int_eq(req(GET("X-A: 1\r\n 2\r\n")), -400);
	ck_assert_int_eq(req(GET("X-A: 1\r\n\t2\r\n")), -400);
	/* whitespace before the first header line (RFC 9112 2.2) */
	ck_assert_int_eq(req("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), -400);
}
END_TEST

START_TEST(line_endings_are_cr_lf_and_bare_lf_is_refused)
{
	ck_assert_int_eq(req("GET / HTTP/1.1\nHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET / HTTP/1.1\r\nHost: a\n\r\n"), -400);
	ck_assert_int_eq(req("GET / HTTP/1.1\r\nHost: a\r\n\n"), -400);
	ck_assert_int_eq(req("GET / HTTP/1.1\r\nHost: a\r\nX: \n\r\n"), -400);
	ck_assert_int_eq(resp("HTTP/1.1 200 OK\n\r\n"), -400);
	ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\nX: 1\n\r\n"), -400);
}
END_TEST

START_TEST(a_bare_cr_is_refused)
{
	ck_assert_int_eq(req(GET("X-A: 1\r2\r\n")), -400);
	ck_assert_int_eq(req("GET / HTTP/1.1\rHost: a\r\n\r\n"), -400);
	ck_assert_int_eq(req("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n"), -400);
	ck_assert_int_eq(req(GET("X\r: 1\r\n")), -400);
	ck_assert_int_eq(resp("HTTP/1.1 200 O\rK\r\n\r\n"), -400);
}
END_TEST

START_TEST(nul_and_control_characters_are_refused)
{
#define B(s)                                                                                       \
	{                                                                                          \
		s, sizeof(s) - 1                                                                   \
	}
	static const struct {
		const char *s;
		size_t n;
	} bad[] = {
	    B("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"),
	    B("GET / HTTP/1.1\r\nHost: a\r\nX\0: 1\r\n\r\n"),
	    B("GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n"),
	    B("GET / HTTP/1.1\r\nHost: a\r\nX: \x0b\r\n\r\n"),
	    B("GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[m\r\n\r\n"),
	    B("GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n"),
	    B("GET / HTTP/1.1\r\nHost: a\r\n\0\r\n\r\n"),
	    B("GET\0/ HTTP/1.1\r\nHost: a\r\n\r\n"),
	    B("GET / HTTP/1.1\0\r\nHost: a\r\n\r\n"),
	};
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		h1_msg_release(&msg);
		ck_assert_msg(parse_lim(false, NULL, bad[i].s, bad[i].n, &msg) == -400, "%u", i);
	}
	ck_assert_int_gt(req(GET("X: a\tb\r\n")), 0); /* HTAB is allowed */
	ck_str(msg.hdrs[1].value, "a\tb");
	ck_assert_int_gt(req(GET("X: caf\xc3\xa9\r\n")), 0); /* obs-text too */
}
END_TEST

/* The answer to n bytes of s, on a copy freed at once. */
static int answer_of(bool is_resp, const char *s, size_t n)
{
	struct h1_parser p;
	struct h1_msg m;
	char *b = malloc(n);
	int r;

	memcpy(b, s, n);
	h1_parser_init(&p, is_resp, NULL);
	r = h1_parse(&p, b, n, &m);
	h1_msg_release(&m);
	free(b);
	return r;
}

/* Values and targets are scanned a word at a time: a byte anywhere in a
 * long run is seen, whatever its place in its word. */
START_TEST(a_bad_byte_anywhere_in_a_long_value_or_target_is_refused)
{
	static const uint8_t bad_v[] = {0x00, 0x01, 0x0a, 0x0b, 0x0d, 0x1f, 0x7f};
	static const uint8_t ok_v[] = {'\t', ' ', 0x80, 0xff, '~', '!'};
	static const uint8_t bad_t[] = {0x00, 0x0a, ' ', '\t', 0x7f, 0x80, 0xff};
	char b[256];
	size_t pos, j, n;
	int want;

	for (pos = 0; pos < 40; pos++) {
		for (j = 0; j < sizeof(bad_v) + sizeof(ok_v); j++) {
			bool bad = j < sizeof(bad_v);
			uint8_t c = bad ? bad_v[j] : ok_v[j - sizeof(bad_v)];

			n = (size_t)sprintf(b, "GET / HTTP/1.1\r\nHost: a\r\nX: v");
			memset(b + n, 'v', 48);
			b[n + pos] = (char)c;
			n += 48;
			n += (size_t)sprintf(b + n, "v\r\n\r\n");
			want = bad ? -400 : (int)n;
			FAIL_IF(answer_of(false, b, n) != want, "value byte %#x at %zu", c, pos);
			memcpy(b, "HTTP/1.1 200 ", 13);
			memset(b + 13, 'r', 48);
			b[13 + pos] = (char)c;
			memcpy(b + 61, "\r\n\r\n", 4);
			want = bad ? -400 : 65;
			FAIL_IF(answer_of(true, b, 65) != want, "reason byte %#x at %zu", c, pos);
		}
		for (j = 0; j < sizeof(bad_t); j++) {
			n = (size_t)sprintf(b, "GET /");
			memset(b + n, 't', 48);
			b[n + pos] = (char)bad_t[j];
			n += 48;
			n += (size_t)sprintf(b + n, " HTTP/1.1\r\nHost: a\r\n\r\n");
			FAIL_IF(answer_of(false, b, n) != -400, "target byte %#x at %zu", bad_t[j],
			        pos);
		}
	}
}
END_TEST

START_TEST(header_names_are_tokens)
{
	ck_assert_int_gt(req(GET("X_Y!#$%&'*+-.^`|~9: 1\r\n")), 0);
	ck_assert_int_eq(req(GET("X@Y: 1\r\n")), -400);
	ck_assert_int_eq(req(GET("X(Y): 1\r\n")), -400);
	ck_assert_int_eq(req(GET("X/Y: 1\r\n")), -400);
	ck_assert_int_eq(req(GET("\"X\": 1\r\n")), -400);
	ck_assert_int_eq(req(GET(": 1\r\n")), -400);
	ck_assert_int_eq(req(GET("X\r\n")), -400);
	ck_assert_int_eq(req(GET("X\xc3\xa9: 1\r\n")), -400);
}
END_TEST

START_TEST(values_are_trimmed_of_surrounding_whitespace)
{
	ck_assert_int_gt(req(GET("X:  \t a b \t \r\nY:\r\nZ:   \r\n")), 0);
	ck_str(msg.hdrs[1].value, "a b");
	ck_str(msg.hdrs[2].value, "");
	ck_str(msg.hdrs[3].value, "");
	ck_str(msg.hdrs[3].name, "Z");
}
END_TEST

START_TEST(interned_ids_are_case_insensitive)
{
	char name[32], line[64];
	unsigned id, k;

	ck_assert_uint_eq(h1_hdr_lookup("X-Unknown", 9), H1_H_OTHER);
	ck_assert_uint_eq(h1_hdr_lookup("", 0), H1_H_OTHER);
	ck_assert_uint_eq(h1_hdr_lookup("Hostx", 5), H1_H_OTHER);
	ck_assert_uint_eq(h1_hdr_lookup("Hos", 3), H1_H_OTHER);
	ck_assert_uint_eq(h1_hdr_lookup("content-lengthy", 15), H1_H_OTHER);
	ck_assert_uint_eq(h1_hdr_lookup("Kontent-Length", 14), H1_H_OTHER);
	for (id = 1; id < H1_H_NHDR; id++) {
		const char *lc = h1_hdr_name(id);

		ck_assert_uint_gt(strlen(lc), 0);
		for (k = 0; k < 3; k++) {
			size_t j, n = strlen(lc);

			for (j = 0; j < n; j++)
				name[j] = k == 0   ? lc[j]
				          : k == 1 ? (char)toupper((unsigned char)lc[j])
				                   : (j % 2 ? lc[j]
				                            : (char)toupper((unsigned char)lc[j]));
			name[n] = 0;
			ck_assert_uint_eq(h1_hdr_lookup(name, n), id);
			if (id == H1_H_HOST || id == H1_H_CONTENT_LENGTH ||
			    id == H1_H_TRANSFER_ENCODING || id == H1_H_CONNECTION ||
			    id == H1_H_EXPECT || id == H1_H_UPGRADE)
				continue; /* their values have rules: tested below */
			snprintf(line, sizeof(line), "GET / HTTP/1.1\r\nHost: a\r\n%s: v\r\n\r\n",
			         name);
			ck_assert_int_gt(req(line), 0);
			ck_assert_uint_eq(msg.hdrs[1].id, id);
			ck_str(msg.hdrs[1].name, name);
		}
	}
	ck_assert_str_eq(h1_hdr_name(H1_H_OTHER), "");
	ck_assert_str_eq(h1_hdr_name(H1_H_NHDR), "");
}
END_TEST

START_TEST(more_than_16_headers_spill_and_release_frees_them)
{
	char head[4096];
	size_t n;
	int i;

	n = (size_t)snprintf(head, sizeof(head), "GET / HTTP/1.1\r\n");
	for (i = 0; i < 60; i++)
		n += (size_t)snprintf(head + n, sizeof(head) - n, "X-%d: v%d\r\n", i, i);
	n += (size_t)snprintf(head + n, sizeof(head) - n, "Host: h\r\n\r\n");
	ck_assert_int_eq(parse_lim(false, NULL, head, n, &msg), (int)n);
	ck_assert_uint_eq(msg.nhdrs, 61);
	ck_assert_ptr_ne(msg.hdrs, msg.inline_hdrs);
	ck_assert_uint_ge(msg.cap, 61);
	for (i = 0; i < 60; i++) {
		char v[16];

		snprintf(v, sizeof(v), "v%d", i);
		ck_str(msg.hdrs[i].value, v);
	}
	ck_str(msg.host, "h");
	h1_msg_release(&msg);
	ck_assert_ptr_eq(msg.hdrs, msg.inline_hdrs);
	ck_assert_uint_eq(msg.nhdrs, 0);
	/* exactly 16 stay inline */
	n = (size_t)snprintf(head, sizeof(head), "GET / HTTP/1.1\r\n");
	for (i = 0; i < 15; i++)
		n += (size_t)snprintf(head + n, sizeof(head) - n, "X-%d: v\r\n", i);
	n += (size_t)snprintf(head + n, sizeof(head) - n, "Host: h\r\n\r\n");
	ck_assert_int_eq(parse_lim(false, NULL, head, n, &msg), (int)n);
	ck_assert_uint_eq(msg.nhdrs, 16);
	ck_assert_ptr_eq(msg.hdrs, msg.inline_hdrs);
}
END_TEST

START_TEST(an_error_after_a_spill_leaves_no_spill)
{
	char head[4096];
	size_t n;
	int i;

	n = (size_t)snprintf(head, sizeof(head), "GET / HTTP/1.1\r\nHost: h\r\n");
	for (i = 0; i < 30; i++)
		n += (size_t)snprintf(head + n, sizeof(head) - n, "X-%d: v\r\n", i);
	n += (size_t)snprintf(head + n, sizeof(head) - n, "Bad : v\r\n\r\n");
	ck_assert_int_eq(parse_lim(false, NULL, head, n, &msg), -400);
	ck_assert_ptr_eq(msg.hdrs, msg.inline_hdrs);
	ck_assert_uint_eq(msg.nhdrs, 0);
}
END_TEST

START_TEST(hop_by_hop_headers_are_marked)
{
	ck_assert_int_gt(req(GET("Connection: x-a, keep-alive\r\nKeep-Alive: 5\r\nTE: trailers\r\n"
	                         "Trailer: X\r\nUpgrade: h2c\r\nProxy-Connection: x\r\nX-A: 1\r\n"
	                         "x-a: 2\r\nX-B: 3\r\n")),
	                 0);
	ck_assert_uint_eq(msg.nhdrs, 10);
	ck_assert_uint_eq(msg.hdrs[0].hop, 0); /* Host */
	for (int i = 1; i <= 8; i++)
		ck_assert_msg(msg.hdrs[i].hop == 1, "header %d", i);
	ck_assert_uint_eq(msg.hdrs[9].hop, 0);
	ck_assert_uint_eq(msg.flags & H1_F_UPGRADE, 0); /* no "upgrade" in Connection */
}
END_TEST

START_TEST(connection_never_makes_the_framing_hop_by_hop)
{
	ck_assert_int_gt(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
	                     "Connection: content-length, host, transfer-encoding, cookie\r\n"
	                     "Cookie: c\r\n\r\n"),
	                 0);
	ck_assert_uint_eq(msg.hdrs[0].hop, 0);
	ck_assert_uint_eq(msg.hdrs[1].hop, 0);
	ck_assert_uint_eq(msg.hdrs[3].hop, 1);
	ck_assert_int_eq(req(GET("Connection: a b\r\n")), -400);
	ck_assert_int_eq(req(GET("Connection: a;b\r\n")), -400);
	ck_assert_int_gt(req(GET("Connection: , ,close,\r\n")), 0);
	ck_assert(msg.flags & H1_F_CLOSE);
}
END_TEST

/* --- Framing --- */

START_TEST(content_length_gives_a_length_body)
{
	ck_assert_int_gt(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n"), 0);
	ck_assert_int_eq(msg.body, H1_BODY_LENGTH);
	ck_assert_uint_eq(msg.content_length, 42);
	ck_assert(msg.flags & H1_F_HAS_CL);
	ck_assert_int_gt(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), 0);
	ck_assert_int_eq(msg.body, H1_BODY_LENGTH);
	ck_assert_uint_eq(msg.content_length, 0);
	ck_assert_int_gt(req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0007\r\n\r\n"), 0);
	ck_assert_uint_eq(msg.content_length, 7);
	ck_assert_int_gt(req("POST / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
	ck_assert_int_eq(msg.body, H1_BODY_NONE);
	ck_assert_uint_eq(msg.flags & H1_F_HAS_CL, 0);
}
END_TEST

START_TEST(identical_content_lengths_are_one)
{
	ck_assert_int_gt(req(GET("Content-Length: 5\r\nContent-Length: 5\r\n")), 0);
	ck_assert_uint_eq(msg.content_length, 5);
	ck_assert_int_gt(req(GET("Content-Length: 5, 5\r\n")), 0);
	ck_assert_uint_eq(msg.content_length, 5);
	ck_assert_int_gt(req(GET("Content-Length: 5,5 ,\t5\r\ncontent-length: 5\r\n")), 0);
	ck_assert_uint_eq(msg.content_length, 5);
	ck_assert_int_eq(msg.body, H1_BODY_LENGTH);
}
END_TEST

START_TEST(different_content_lengths_are_refused)
{
	ck_assert_int_eq(req(GET("Content-Length: 5\r\nContent-Length: 6\r\n")), -400);
	ck_assert_int_eq(req(GET("Content-Length: 5, 6\r\n")), -400);
	ck_assert_int_eq(
	    req(GET("Content-Length: 0\r\nContent-Length: 00\r\nContent-Length: 1\r\n")), -400);
}
END_TEST

START_TEST(content_length_is_digits_only)
{
	static const char *bad[] = {"+5", "-5",  "0x5",  "5 5",   "5,",  ",5",   "5,,5",
	                            "5;", "5.0", "five", "\"5\"", "5e2", "1_000"};
	char line[128];
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(line, sizeof(line), GET("Content-Length: %s\r\n"), bad[i]);
		ck_assert_msg(req(line) == -400, "%s", bad[i]);
	}
	ck_assert_int_eq(req(GET("Content-Length:\r\n")), -400);
	ck_assert_int_eq(req(GET("Content-Length: \r\n")), -400);
	ck_assert_int_gt(req(GET("Content-Length:  5 \r\n")), 0);
}
END_TEST

START_TEST(content_length_is_bounded)
{
	ck_assert_int_gt(req(GET("Content-Length: 4611686018427387904\r\n")), 0); /* 2^62 */
	ck_assert_uint_eq(msg.content_length, H1_CL_MAX);
	ck_assert_int_eq(req(GET("Content-Length: 4611686018427387905\r\n")), -400);
	ck_assert_int_eq(req(GET("Content-Length: 18446744073709551616\r\n")), -400); /* 2^64 */
	ck_assert_int_eq(req(GET("Content-Length: 99999999999999999999999999\r\n")), -400);
	ck_assert_int_gt(req(GET("Content-Length: 000000000000000000000000000012\r\n")), 0);
	ck_assert_uint_eq(msg.content_length, 12);
}
END_TEST

START_TEST(chunked_transfer_encoding_gives_a_chunked_body)
{
	ck_assert_int_gt(req(GET("Transfer-Encoding: chunked\r\n")), 0);
	ck_assert_int_eq(msg.body, H1_BODY_CHUNKED);
	ck_assert_int_gt(req(GET("transfer-encoding: ChUnKeD\r\n")), 0);
	ck_assert_int_eq(msg.body, H1_BODY_CHUNKED);
	ck_assert_int_gt(req(GET("Transfer-Encoding: , chunked ,\r\n")), 0);
	ck_assert_int_eq(msg.body, H1_BODY_CHUNKED);
}
END_TEST

START_TEST(transfer_encoding_with_content_length_is_refused)
{
	ck_assert_int_eq(req(GET("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n")), -400);
	ck_assert_int_eq(req(GET("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")), -400);
	ck_assert_int_eq(req(GET("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n")), -400);
	ck_assert_int_eq(
	    resp("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"
	         "\r\n"),
	    -400);
}
END_TEST

START_TEST(a_request_transfer_encoding_must_end_with_chunked)
{
	ck_assert_int_eq(req(GET("Transfer-Encoding: chunked, identity\r\n")), -400);
	ck_assert_int_eq(req(GET("Transfer-Encoding: gzip\r\n")), -400);
	ck_assert_int_eq(req(GET("Transfer-Encoding: xchunked\r\n")), -400);
	ck_assert_int_eq(req(GET("Transfer-Encoding: chunkedx\r\n")), -400);
	ck_assert_int_eq(req(GET("Transfer-Encoding: \"chunked\"\r\n")), -400);
	ck_assert_int_eq(req(GET("Transfer-Encoding:\r\n")), -400);
	ck_assert_int_eq(req(GET("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n")),
	                 -400);
	ck_assert_int_eq(req(GET("Transfer-Encoding: chunked;q=1\r\n")), -400);
	ck_assert_int_eq(req(GET("Transfer-Encoding: chun ked\r\n")), -400);
}
END_TEST

START_TEST(other_transfer_codings_before_chunked_are_501)
{
	ck_assert_int_eq(req(GET("Transfer-Encoding: gzip, chunked\r\n")), -501);
	ck_assert_int_eq(req(GET("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n")),
	                 -501);
	ck_assert_int_eq(req(GET("Transfer-Encoding: identity, chunked\r\n")), -501);
	/* a response forwards them as they are */
	ck_assert_int_gt(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 0);
	ck_assert_int_eq(msg.body, H1_BODY_CHUNKED);
}
END_TEST

START_TEST(chunked_twice_is_refused)
{
	ck_assert_int_eq(req(GET("Transfer-Encoding: chunked, chunked\r\n")), -400);
	ck_assert_int_eq(req(GET("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n")),
	                 -400);
	ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"),
	                 -400);
}
END_TEST

START_TEST(transfer_encoding_in_http_1_0_is_refused)
{
	ck_assert_int_eq(req("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), -400);
	ck_assert_int_eq(resp("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), -400);
	ck_assert_int_gt(req("POST / HTTP/1.0\r\nContent-Length: 1\r\n\r\n"), 0);
}
END_TEST

START_TEST(connect_with_a_body_is_refused)
{
	ck_assert_int_eq(req("CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\nContent-Length: 0\r\n\r\n"),
	                 -400);
	ck_assert_int_eq(
	    req("CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\nTransfer-Encoding: chunked\r\n\r\n"), -400);
}
END_TEST

START_TEST(connection_close_and_http_1_0_set_close)
{
	ck_assert_int_gt(req(GET("")), 0);
	ck_assert_uint_eq(msg.flags & H1_F_CLOSE, 0);
	ck_assert_int_gt(req(GET("Connection: Close\r\n")), 0);
	ck_assert(msg.flags & H1_F_CLOSE);
	ck_assert_int_gt(req(GET("Connection: keep-alive\r\nConnection: close\r\n")), 0);
	ck_assert(msg.flags & H1_F_CLOSE);
	ck_assert_int_gt(req("GET / HTTP/1.0\r\n\r\n"), 0);
	ck_assert(msg.flags & H1_F_CLOSE);
	ck_assert_int_gt(req("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), 0);
	ck_assert_uint_eq(msg.flags & H1_F_CLOSE, 0);
	ck_assert_int_gt(resp("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"), 0);
	ck_assert(msg.flags & H1_F_CLOSE);
	ck_assert_int_gt(resp("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
	                 0);
	ck_assert(msg.flags & H1_F_CLOSE);
	ck_assert_int_gt(resp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), 0);
	ck_assert_uint_eq(msg.flags & H1_F_CLOSE, 0);
}
END_TEST

START_TEST(expect_100_continue_sets_continue_in_http_1_1)
{
	ck_assert_int_gt(req(GET("Expect: 100-continue\r\nContent-Length: 1\r\n")), 0);
	ck_assert(msg.flags & H1_F_CONTINUE);
	ck_assert_int_gt(req(GET("expect: 100-Continue\r\n")), 0);
	ck_assert(msg.flags & H1_F_CONTINUE);
	ck_assert_int_gt(req(GET("Expect: 100-continuex\r\n")), 0);
	ck_assert_uint_eq(msg.flags & H1_F_CONTINUE, 0);
	ck_assert_int_gt(req("GET / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n"), 0);
	ck_assert_uint_eq(msg.flags & H1_F_CONTINUE, 0);
}
END_TEST

START_TEST(upgrade_needs_connection_upgrade_and_an_upgrade_header)
{
	ck_assert_int_gt(req(GET("Connection: Upgrade\r\nUpgrade: websocket\r\n")), 0);
	ck_assert(msg.flags & H1_F_UPGRADE);
	ck_assert_uint_eq(msg.hdrs[2].hop, 0); /* Upgrade goes upstream */
	ck_assert_uint_eq(msg.hdrs[1].hop, 1);
	ck_assert_int_gt(req(GET("Upgrade: websocket\r\n")), 0);
	ck_assert_uint_eq(msg.flags & H1_F_UPGRADE, 0);
	ck_assert_uint_eq(msg.hdrs[1].hop, 1);
	ck_assert_int_gt(req(GET("Connection: upgrade\r\n")), 0);
	ck_assert_uint_eq(msg.flags & H1_F_UPGRADE, 0);
}
END_TEST

/* --- Limits --- */

/* "GET /aaa...a HTTP/1.1" of exactly <n> bytes, then CR LF and a Host. */
static size_t line_of(char *b, size_t n, bool crlf)
{
	size_t t = n - strlen("GET  HTTP/1.1");

	memcpy(b, "GET /", 5);
	memset(b + 5, 'a', t - 1);
	memcpy(b + 4 + t, " HTTP/1.1", 9);
	if (!crlf)
		return n;
	memcpy(b + n, "\r\nHost: a\r\n\r\n", 13);
	return n + 13;
}

START_TEST(a_request_line_of_max_line_bytes_passes_and_one_more_is_414)
{
	struct h1_limits lim = {.max_line = 100, .max_head = 1000, .max_hdrs = 10};
	char b[300];
	size_t n;

	n = line_of(b, 100, true);
	ck_assert_int_eq(parse_lim(false, &lim, b, n, &msg), (int)n);
	n = line_of(b, 101, true);
	ck_assert_int_eq(parse_lim(false, &lim, b, n, &msg), -414);
	/* without waiting for the line's end */
	n = line_of(b, 100, false);
	ck_assert_int_eq(parse_lim(false, &lim, b, n, &msg), 0);
	memset(b, 'a', 200);
	memcpy(b, "GET /", 5);
	ck_assert_int_eq(parse_lim(false, &lim, b, 100, &msg), 0);
	ck_assert_int_eq(parse_lim(false, &lim, b, 101, &msg), -414);
	ck_assert_int_eq(parse_lim(false, &lim, b, 200, &msg), -414);
	/* a long method counts too */
	ck_assert_int_eq(parse_lim(false, &lim, b + 5, 101, &msg), -414);
	/* empty lines before it do not */
	memcpy(b, "\r\n\r\n", 4);
	n = line_of(b + 4, 100, true);
	ck_assert_int_eq(parse_lim(false, &lim, b, n + 4, &msg), (int)n + 4);
}
END_TEST

/* fuzz_req found it: a buffer ending just after the space that ends the
 * method or the target answered 0, though the line was already past
 * max_line (the 414 came only with the next byte). */
/* fuzz_req found its twin: a field line past max_field that ends the buffer
 * at its colon answered 0 (the 431 came with the next byte). */
START_TEST(a_field_line_past_max_field_ending_at_its_colon_is_431_at_once)
{
	struct h1_limits lim = {
	    .max_line = 100, .max_head = 4096, .max_hdrs = 100, .max_field = 64};
	char h[128];
	int n = snprintf(h, sizeof(h), "POST / HTTP/1.1\r\n");

	memset(h + n, 'n', 64);
	h[n + 64] = ':';
	ck_assert_int_eq(parse_lim(false, &lim, h, (size_t)n + 65, &msg), -431);
	/* a colon at the bound's last byte is still within it */
	h[n + 63] = ':';
	ck_assert_int_eq(parse_lim(false, &lim, h, (size_t)n + 64, &msg), 0);
}
END_TEST

START_TEST(a_request_line_past_max_line_ending_at_a_space_is_414_at_once)
{
	struct h1_limits lim = {.max_line = 24, .max_head = 160, .max_hdrs = 4};
	const char *at_target = "S%T /Proxyio-Connection: ", *at_version = "GET /x HTTP/1.1";
	char m[64];

	ck_assert_int_eq(parse_lim(false, &lim, at_target, strlen(at_target), &msg), -414);
	memset(m, 'M', 24);
	m[24] = ' ';
	ck_assert_int_eq(parse_lim(false, &lim, m, 25, &msg), -414);
	/* a space at the bound's last byte is still within it */
	ck_assert_int_eq(parse_lim(false, &lim, m + 1, 24, &msg), 0);
	ck_assert_int_eq(parse_lim(false, &lim, at_version, strlen(at_version), &msg), 0);
}
END_TEST

/* A request head of exactly <n> bytes (n >= 40): padded by one header. */
static size_t head_of(char *b, size_t n)
{
	const char *s = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
	size_t k = strlen(s);

	memcpy(b, s, k);
	memset(b + k, 'v', n - k - 4);
	memcpy(b + n - 4, "\r\n\r\n", 4);
	return n;
}

START_TEST(a_head_of_max_head_bytes_passes_and_one_more_is_431)
{
	struct h1_limits lim = {.max_line = 100, .max_head = 1000, .max_hdrs = 10};
	char b[2000];

	ck_assert_int_eq(parse_lim(false, &lim, b, head_of(b, 1000), &msg), 1000);
	ck_assert_int_eq(parse_lim(false, &lim, b, head_of(b, 1001), &msg), -431);
	/* too long without its end: answered without waiting */
	head_of(b, 1500);
	ck_assert_int_eq(parse_lim(false, &lim, b, 999, &msg), 0);
	ck_assert_int_eq(parse_lim(false, &lim, b, 1000, &msg), -431);
	ck_assert_int_eq(parse_lim(false, &lim, b, 1001, &msg), -431);
	ck_assert_int_eq(parse_lim(false, &lim, b, 1500, &msg), -431);
	/* responses too */
	memcpy(b, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(b + 20, 'v', 1000);
	ck_assert_int_eq(parse_lim(true, &lim, b, 999, &msg), 0);
	ck_assert_int_eq(parse_lim(true, &lim, b, 1000, &msg), -431);
}
END_TEST

START_TEST(max_hdrs_headers_pass_and_one_more_is_431)
{
	struct h1_limits lim = {.max_line = 100, .max_head = 4000, .max_hdrs = 20};
	char b[4000];
	size_t n;
	int i;

	n = (size_t)sprintf(b, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 0; i < 19; i++)
		n += (size_t)sprintf(b + n, "X%d: v\r\n", i);
	n += (size_t)sprintf(b + n, "\r\n");
	ck_assert_int_eq(parse_lim(false, &lim, b, n, &msg), (int)n);
	ck_assert_uint_eq(msg.nhdrs, 20);
	h1_msg_release(&msg);
	n -= 2;
	n += (size_t)sprintf(b + n, "Y: v\r\n\r\n");
	ck_assert_int_eq(parse_lim(false, &lim, b, n, &msg), -431);
	/* answered as the 21st line starts */
	ck_assert_int_eq(parse_lim(false, &lim, b, n - 7, &msg), -431);
	ck_assert_int_eq(parse_lim(false, &lim, b, n - 8, &msg), 0);
}
END_TEST

START_TEST(zero_limits_take_the_defaults)
{
	struct h1_limits lim = {0};
	struct h1_parser p;

	h1_parser_init(&p, false, &lim);
	ck_assert_uint_eq(p.lim.max_line, H1_DEF_MAX_LINE);
	ck_assert_uint_eq(p.lim.max_head, H1_DEF_MAX_HEAD);
	ck_assert_uint_eq(p.lim.max_hdrs, H1_DEF_MAX_HDRS);
	h1_parser_init(&p, true, NULL);
	ck_assert_uint_eq(p.lim.max_head, H1_DEF_MAX_HEAD);
}
END_TEST

/* --- Responses --- */

START_TEST(a_response_has_status_reason_and_length)
{
	const char *s = "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nServer: x\r\n\r\n";

	ck_assert_int_eq(resp(s), (int)strlen(s));
	ck_assert_uint_eq(msg.status, 404);
	ck_str(msg.reason, "Not Found");
	ck_assert_int_eq(msg.body, H1_BODY_LENGTH);
	ck_assert_uint_eq(msg.content_length, 9);
	ck_assert_uint_eq(msg.hdrs[1].id, H1_H_SERVER);
	ck_assert_int_gt(resp("HTTP/1.1 200 \t reason with\ttabs \xff\r\n\r\n"), 0);
	ck_str(msg.reason, "\t reason with\ttabs \xff");
}
END_TEST

START_TEST(the_reason_may_be_empty)
{
	ck_assert_int_gt(resp("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"), 0);
	ck_assert_uint_eq(msg.status, 200);
	ck_assert_uint_eq(msg.reason.len, 0);
	ck_assert_int_gt(resp("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n"), 0);
	ck_assert_uint_eq(msg.reason.len, 0);
}
END_TEST

START_TEST(the_status_is_three_digits)
{
	ck_assert_int_eq(resp("HTTP/1.1 20 OK\r\n\r\n"), -400);
	ck_assert_int_eq(resp("HTTP/1.1 2000 OK\r\n\r\n"), -400);
	ck_assert_int_eq(resp("HTTP/1.1 099 OK\r\n\r\n"), -400);
	ck_assert_int_eq(resp("HTTP/1.1 2x0 OK\r\n\r\n"), -400);
	ck_assert_int_eq(resp("HTTP/1.1  200 OK\r\n\r\n"), -400);
	ck_assert_int_eq(resp("HTTP/1.1 +20 OK\r\n\r\n"), -400);
	ck_assert_int_gt(resp("HTTP/1.1 599 X\r\n\r\n"), 0);
	ck_assert_int_gt(resp("HTTP/1.1 999 X\r\n\r\n"), 0);
}
END_TEST

START_TEST(the_response_version_is_http_1_0_or_1_1)
{
	ck_assert_int_eq(resp("HTTP/2.0 200 OK\r\n\r\n"), -505);
	ck_assert_int_eq(resp("HTTP/1.2 200 OK\r\n\r\n"), -505);
	ck_assert_int_eq(resp("HTTP/1.1\r\n\r\n"), -400);
	ck_assert_int_eq(resp("ICY 200 OK\r\n\r\n"), -400);
	ck_assert_int_eq(resp("HTTP/1.11 200 OK\r\n\r\n"), -400);
	ck_assert_int_gt(resp("HTTP/1.0 200 OK\r\n\r\n"), 0);
	ck_assert_uint_eq(msg.minor, 0);
}
END_TEST

START_TEST(bodyless_statuses_and_head_answers_have_no_body)
{
	static const char *st[] = {"100", "102", "103", "204", "304"};
	char b[128];
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(st); i++) {
		snprintf(b, sizeof(b), "HTTP/1.1 %s X\r\nContent-Length: 10\r\n\r\n", st[i]);
		ck_assert_int_gt(resp(b), 0);
		ck_assert_msg(msg.body == H1_BODY_NONE, "%s", st[i]);
		snprintf(b, sizeof(b), "HTTP/1.1 %s X\r\nTransfer-Encoding: chunked\r\n\r\n",
		         st[i]);
		ck_assert_int_gt(resp(b), 0);
		ck_assert_msg(msg.body == H1_BODY_NONE, "%s", st[i]);
	}
	ck_assert_int_gt(resp_head("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"), 0);
	ck_assert_int_eq(msg.body, H1_BODY_NONE);
	ck_assert(msg.flags & H1_F_HEAD_REQ);
	ck_assert(msg.flags & H1_F_HAS_CL);
	ck_assert_uint_eq(msg.content_length, 10);
	ck_assert_int_gt(resp_head("HTTP/1.1 200 OK\r\n\r\n"), 0);
	ck_assert_int_eq(msg.body, H1_BODY_NONE);
	ck_assert_int_gt(resp("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"), 0);
	ck_assert_int_eq(msg.body, H1_BODY_LENGTH);
	ck_assert(h1_status_has_body(200) && !h1_status_has_body(204) && !h1_status_has_body(101));
}
END_TEST

START_TEST(a_response_without_length_is_close_delimited)
{
	ck_assert_int_gt(resp("HTTP/1.1 200 OK\r\n\r\n"), 0);
	ck_assert_int_eq(msg.body, H1_BODY_CLOSE);
	ck_assert_int_gt(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), 0);
	ck_assert_int_eq(msg.body, H1_BODY_CLOSE);
	ck_assert_int_gt(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"), 0);
	ck_assert_int_eq(msg.body, H1_BODY_CLOSE);
}
END_TEST

START_TEST(a_101_response_upgrades)
{
	ck_assert_int_gt(resp("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
	                      "Upgrade: websocket\r\n\r\n"),
	                 0);
	ck_assert(msg.flags & H1_F_UPGRADE);
	ck_assert_int_eq(msg.body, H1_BODY_NONE);
	ck_assert_uint_eq(msg.hdrs[1].hop, 0);
	ck_assert_int_gt(resp("HTTP/1.1 200 OK\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n"), 0);
	ck_assert_uint_eq(msg.flags & H1_F_UPGRADE, 0);
}
END_TEST

START_TEST(response_content_lengths_follow_the_request_rules)
{
	ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
	                 -400);
	ck_assert_int_eq(resp("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"), -400);
	ck_assert_int_gt(resp("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n"), 0);
	ck_assert_uint_eq(msg.content_length, 2);
	ck_assert_int_gt(resp("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n\r\n"), 0);
}
END_TEST

/* --- Incremental parsing --- */

struct sample {
	bool resp;
	const char *s;
};

#define R(s)                                                                                       \
	{                                                                                          \
		false, s                                                                           \
	}
#define S(s)                                                                                       \
	{                                                                                          \
		true, s                                                                            \
	}

static const struct sample samples[] = {
    R("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
    R("\r\n\r\nGET /x?y HTTP/1.1\r\nHost: a\r\nX-A:  1  \r\nX-B:\r\n\r\n"),
    R("POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\nhello"),
    R("POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    R("GET http://a/b HTTP/1.0\r\nConnection: keep-alive, x\r\nx: 1\r\n\r\n"),
    R("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"),
    R("OPTIONS * HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n\r\n"),
    R("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"),
    R("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\nF: 6\r\nG: 7\r\n"
      "H: 8\r\nI: 9\r\nJ: 10\r\nK: 11\r\nL: 12\r\nM: 13\r\nN: 14\r\nO: 15\r\nP: 16\r\nQ: 17\r\n"
      "\r\n"),
    R("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    R("GET / HTTP/1.1\r\n\r\n"),
    R("GET / HTTP/1.1\r\nHost: a\r\nX : 1\r\n\r\n"),
    R("GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n"),
    R("GET / HTTP/1.1\nHost: a\r\n\r\n"),
    R("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n"),
    R("GET / HTTP/2.0\r\nHost: a\r\n\r\n"),
    R("GET / HTTP/1.1x\r\nHost: a\r\n\r\n"),
    R("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"),
    R("GET * HTTP/1.1\r\nHost: a\r\n\r\n"),
    R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
    R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
    R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
    R("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
    R("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n"),
    S("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"),
    S("HTTP/1.1 204 No Content\r\n\r\n"),
    S("HTTP/1.0 200\r\n\r\n"),
    S("HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"),
    S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
    S("HTTP/1.1 20 OK\r\n\r\n"),
    S("HTTP/1.1 200 OK\r\nX: 1\n\r\n"),
    S("HTTP/3.0 200 OK\r\n\r\n"),
    S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
};

/* A parse of n bytes of s, reported by offsets so two buffers compare. */
struct outcome {
	int ret;
	uint32_t nhdrs, flags, head_len, moff, mlen, toff, tlen, hoff, hlen;
	uint64_t cl;
	int body, status, minor;
	uint32_t hdr[64][6];
};

static uint32_t off_of(struct h1_str s, const char *b)
{
	return s.p ? (uint32_t)(s.p - b) : UINT32_MAX;
}

static void outcome_of(struct outcome *o, int ret, const struct h1_msg *m, const char *b)
{
	uint32_t i;

	memset(o, 0, sizeof(*o));
	o->ret = ret;
	if (ret <= 0)
		return;
	o->nhdrs = m->nhdrs;
	o->flags = m->flags;
	o->head_len = m->head_len;
	o->moff = off_of(m->method, b);
	o->mlen = m->method.len;
	o->toff = off_of(m->target, b);
	o->tlen = m->target.len;
	o->hoff = off_of(m->host, b);
	o->hlen = m->host.len;
	o->cl = m->content_length;
	o->body = m->body;
	o->status = m->status;
	o->minor = m->minor;
	for (i = 0; i < m->nhdrs && i < 64; i++) {
		const struct h1_hdr *h = &m->hdrs[i];

		o->hdr[i][0] = off_of(h->name, b);
		o->hdr[i][1] = h->name.len;
		o->hdr[i][2] = off_of(h->value, b);
		o->hdr[i][3] = h->value.len;
		o->hdr[i][4] = h->id;
		o->hdr[i][5] = h->hop;
	}
}

static void one_call(bool is_resp, const char *s, size_t n, struct outcome *o)
{
	struct h1_parser p;
	struct h1_msg m;
	char *b = malloc(n ? n : 1);
	int ret;

	memcpy(b, s, n);
	h1_parser_init(&p, is_resp, NULL);
	ret = h1_parse(&p, b, n, &m);
	outcome_of(o, ret, &m, b);
	h1_msg_release(&m);
	free(b);
}

/* Feeds s[0..k) then s[0..n), both in the same buffer, or in a second
 * buffer when <move> (a grown buffer): the answer must be one call's. */
static void split_call(bool is_resp, const char *s, size_t n, size_t k, bool move,
                       const struct outcome *want)
{
	struct h1_parser p;
	struct h1_msg m;
	struct outcome got;
	char *b = malloc(n), *b2 = move ? malloc(n) : b;
	int r1, r2;

	memcpy(b, s, n);
	memcpy(b2, s, n);
	h1_parser_init(&p, is_resp, NULL);
	r1 = h1_parse(&p, b, k, &m);
	FAIL_IF(r1 != 0 && r1 != want->ret, "split %zu of \"%s\": %d first, then %d", k, s, r1,
	        want->ret);
	r2 = h1_parse(&p, b2, n, &m);
	outcome_of(&got, r2, &m, b2);
	FAIL_IF(memcmp(&got, want, sizeof(got)), "split %zu%s of \"%s\": %d, want %d", k,
	        move ? " (moved)" : "", s, r2, want->ret);
	h1_msg_release(&m);
	if (move)
		free(b2);
	free(b);
}

START_TEST(every_split_of_a_head_gives_the_answer_of_one_call)
{
	const struct sample *sm = &samples[_i];
	size_t n = strlen(sm->s), k;
	struct outcome want, pre;

	one_call(sm->resp, sm->s, n, &want);
	for (k = 0; k < n; k++) {
		split_call(sm->resp, sm->s, n, k, false, &want);
		split_call(sm->resp, sm->s, n, k, true, &want);
		/* a prefix alone never answers what the whole does not */
		one_call(sm->resp, sm->s, k, &pre);
		FAIL_IF(pre.ret != 0 && pre.ret != want.ret, "prefix %zu of \"%s\": %d, want %d", k,
		        sm->s, pre.ret, want.ret);
	}
}
END_TEST

START_TEST(byte_at_a_time_feeding_matches_one_call)
{
	const struct sample *sm = &samples[_i];
	size_t n = strlen(sm->s), k;
	struct outcome want, got;
	struct h1_parser p;
	struct h1_msg m;
	char *b = malloc(n);
	int r = 0;

	memcpy(b, sm->s, n);
	one_call(sm->resp, sm->s, n, &want);
	h1_parser_init(&p, sm->resp, NULL);
	for (k = 1; k <= n && r == 0; k++)
		r = h1_parse(&p, b, k, &m);
	if (r > 0)
		ck_assert_int_eq(r, (int)want.head_len);
	r = h1_parse(&p, b, n, &m); /* calls after the end repeat the answer */
	outcome_of(&got, r, &m, b);
	ck_assert_msg(!memcmp(&got, &want, sizeof(got)), "\"%s\": %d, want %d", sm->s, r, want.ret);
	h1_msg_release(&m);
	free(b);
}
END_TEST

START_TEST(a_moved_buffer_keeps_the_slices_valid)
{
	const char *s = "GET /x HTTP/1.1\r\nHost: h\r\nX: 1\r\n\r\n";
	size_t n = strlen(s);
	char *b1 = malloc(n), *b2 = malloc(n);
	struct h1_parser p;

	memcpy(b1, s, n);
	memcpy(b2, s, n);
	h1_parser_init(&p, false, NULL);
	ck_assert_int_eq(h1_parse(&p, b1, n - 3, &msg), 0);
	memset(b1, '#', n);
	free(b1);
	ck_assert_int_eq(h1_parse(&p, b2, n, &msg), (int)n);
	ck_assert_ptr_eq(msg.method.p, b2);
	ck_str(msg.target, "/x");
	ck_str(msg.host, "h");
	ck_str(msg.hdrs[1].name, "X");
	ck_str(msg.hdrs[1].value, "1");
	free(b2);
}
END_TEST

/* --- Bodies --- */

/* Feeds n bytes in one call (step 0) or in pieces of <step>: the bytes
 * that belong to the body, or -400; *done as the last call said. */
static int64_t feed(const struct h1_msg *m, const char *s, size_t n, size_t step, bool *done)
{
	struct h1_body_state b;
	size_t off = 0;
	char *buf = malloc(n ? n : 1);

	memcpy(buf, s, n);
	h1_body_init(&b, m);
	*done = false;
	do {
		size_t len = step ? (n - off < step ? n - off : step) : n - off;
		int64_t r = h1_body_feed(&b, buf + off, len, done);

		if (r < 0) {
			free(buf);
			return r;
		}
		FAIL_IF((size_t)r > len, "consumed %lld of %zu", (long long)r, len);
		off += (size_t)r;
		if ((size_t)r < len && !*done)
			ck_abort_msg("stopped short without being done");
	} while (!*done && off < n);
	free(buf);
	return (int64_t)off;
}

static struct h1_msg chunked_msg(void)
{
	struct h1_msg m;

	memset(&m, 0, sizeof(m));
	m.body = H1_BODY_CHUNKED;
	return m;
}

static int64_t chunked(const char *s, bool *done)
{
	struct h1_msg m = chunked_msg();

	return feed(&m, s, strlen(s), 0, done);
}

START_TEST(a_length_body_takes_its_bytes_and_leaves_the_next_message)
{
	struct h1_msg m;
	bool done;

	memset(&m, 0, sizeof(m));
	m.body = H1_BODY_LENGTH;
	m.content_length = 5;
	ck_assert_int_eq(feed(&m, "helloGET /", 10, 0, &done), 5);
	ck_assert(done);
	ck_assert_int_eq(feed(&m, "helloGET /", 10, 1, &done), 5);
	ck_assert(done);
	ck_assert_int_eq(feed(&m, "hel", 3, 0, &done), 3);
	ck_assert(!done);
	m.content_length = 0;
	ck_assert_int_eq(feed(&m, "GET", 3, 0, &done), 0);
	ck_assert(done);
}
END_TEST

START_TEST(a_close_body_takes_everything_and_a_none_body_nothing)
{
	struct h1_msg m;
	struct h1_body_state b;
	bool done = true;

	memset(&m, 0, sizeof(m));
	m.body = H1_BODY_CLOSE;
	h1_body_init(&b, &m);
	ck_assert_int_eq(h1_body_feed(&b, "abc", 3, &done), 3);
	ck_assert(!done);
	m.body = H1_BODY_NONE;
	h1_body_init(&b, &m);
	ck_assert_int_eq(h1_body_feed(&b, "abc", 3, &done), 0);
	ck_assert(done);
}
END_TEST

START_TEST(chunked_bodies_with_extensions_trailers_and_any_hex)
{
	static const char *ok[] = {
	    "5\r\nhello\r\n0\r\n\r\n",
	    "5;name=value;n2=\"quoted; ,\"\r\nhello\r\n0;last\r\n\r\n",
	    "5 ;ext\r\nhello\r\n0\r\n\r\n",
	    "A\r\n0123456789\r\na\r\n0123456789\r\n0\r\n\r\n",
	    "00000005\r\nhello\r\n000\r\n\r\n",
	    "1F\r\n0123456789012345678901234567890\r\n0\r\n\r\n",
	    "0\r\nExpires: never\r\nX-Sum:  abc \r\n\r\n",
	    "3\r\n\r\n\r\r\n0\r\nX:\r\n\r\n", /* data bytes are data */
	};
	unsigned i;
	bool done;

	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		ck_assert_msg(chunked(ok[i], &done) == (int64_t)strlen(ok[i]), "%s", ok[i]);
		ck_assert_msg(done, "%s", ok[i]);
	}
}
END_TEST

START_TEST(a_chunked_body_leaves_the_next_message)
{
	const char *s = "2\r\nhi\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\r\n";
	bool done;

	ck_assert_int_eq(chunked(s, &done), (int64_t)strlen(s) - 16);
	ck_assert(done);
	ck_assert_int_eq(chunked("2\r\nhi\r\n0\r\n", &done), 10);
	ck_assert(!done);
}
END_TEST

START_TEST(a_chunk_size_past_2_62_is_refused)
{
	struct h1_body_state b;
	struct h1_msg m = chunked_msg();
	const char *s;
	bool done;

	h1_body_init(&b, &m);
	ck_assert_int_eq(h1_body_feed(&b, "4000000000000000\r\n", 18, &done), 18);
	ck_assert_uint_eq(b.left, H1_CHUNK_MAX);
	ck_assert_int_eq(chunked("4000000000000001\r\n", &done), -400);
	ck_assert_int_eq(chunked("10000000000000000\r\n", &done), -400);
	ck_assert_int_eq(chunked("ffffffffffffffffffffffff\r\n", &done), -400);
	s = "00000000000000000000000000000001\r\nx\r\n0\r\n\r\n";
	ck_assert_int_eq(chunked(s, &done), (int64_t)strlen(s));
}
END_TEST

START_TEST(malformed_chunks_are_refused)
{
	static const char *bad[] = {
	    "g\r\n",
	    "-5\r\nhello\r\n0\r\n\r\n",
	    "+5\r\nhello\r\n0\r\n\r\n",
	    "0x5\r\nhello\r\n0\r\n\r\n",
	    "\r\nhello\r\n0\r\n\r\n",
	    " 5\r\nhello\r\n0\r\n\r\n",
	    "5 \r\nhello\r\n0\r\n\r\n",
	    "5\nhello\r\n0\r\n\r\n",
	    "5\rhello\r\n0\r\n\r\n",
	    "5\r\nhelloXX0\r\n\r\n",
	    "5\r\nhello\n0\r\n\r\n",
	    "5\r\nhello\r0\r\n\r\n",
	    "5;a\x01\r\nhello\r\n0\r\n\r\n",
	    "5;a\nhello\r\n0\r\n\r\n",
	    "0\r\nX : 1\r\n\r\n",
	    "0\r\n X: 1\r\n\r\n",
	    "0\r\nX: 1\r\n folded\r\n\r\n",
	    "0\r\nX\r\n\r\n",
	    "0\r\nX: 1\n\r\n",
	    "0\r\n\n",
	    "0\r\n\r\r",
	    "5\r\nhello\r\n\r\n",
	    "0;\r\r\n\r\n",
	};
	unsigned i;
	bool done;

	for (i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(chunked(bad[i], &done) == -400, "%u: \"%s\"", i, bad[i]);
	/* NUL: strlen would stop at it */
	{
		struct h1_msg m = chunked_msg();

		ck_assert_int_eq(feed(&m, "0\r\nX: \0\r\n\r\n", 11, 0, &done), -400);
		ck_assert_int_eq(feed(&m, "5\0\r\nhello\r\n0\r\n\r\n", 17, 0, &done), -400);
	}
}
END_TEST

START_TEST(an_error_is_final)
{
	struct h1_body_state b;
	struct h1_msg m = chunked_msg();
	bool done;

	h1_body_init(&b, &m);
	ck_assert_int_eq(h1_body_feed(&b, "z", 1, &done), -400);
	ck_assert_int_eq(h1_body_feed(&b, "0\r\n\r\n", 5, &done), -400);
	ck_assert(!done);
}
END_TEST

START_TEST(chunk_lines_and_trailers_are_bounded)
{
	char *s = malloc(H1_TRAILER_MAX + 100);
	size_t n;
	bool done;

	/* a size line of H1_CHUNK_LINE bytes passes, one more does not */
	memset(s, 0, H1_TRAILER_MAX + 100);
	s[0] = '1';
	s[1] = ';';
	memset(s + 2, 'e', H1_CHUNK_LINE - 2);
	strcpy(s + H1_CHUNK_LINE, "\r\nx\r\n0\r\n\r\n");
	n = strlen(s);
	ck_assert_int_eq(chunked(s, &done), (int64_t)n);
	memset(s + 2, 'e', H1_CHUNK_LINE - 1);
	strcpy(s + H1_CHUNK_LINE + 1, "\r\nx\r\n0\r\n\r\n");
	ck_assert_int_eq(chunked(s, &done), -400);
	/* leading zeros count too */
	memset(s, '0', H1_CHUNK_LINE + 1);
	strcpy(s + H1_CHUNK_LINE + 1, "\r\n\r\n");
	ck_assert_int_eq(chunked(s, &done), -400);
	/* a trailer section of H1_TRAILER_MAX bytes (its final CRLF included) */
	strcpy(s, "0\r\nX: ");
	memset(s + 6, 'v', H1_TRAILER_MAX - 3 - 4);
	strcpy(s + 3 + H1_TRAILER_MAX - 4, "\r\n\r\n");
	n = strlen(s);
	ck_assert_uint_eq(n, 3 + H1_TRAILER_MAX);
	ck_assert_int_eq(chunked(s, &done), (int64_t)n);
	ck_assert(done);
	memset(s + 6, 'v', H1_TRAILER_MAX - 3 - 3);
	strcpy(s + 3 + H1_TRAILER_MAX - 3, "\r\n\r\n");
	ck_assert_int_eq(chunked(s, &done), -400);
	/* H1_TRAILER_NHDRS fields, then one more */
	n = (size_t)sprintf(s, "0\r\n");
	for (unsigned i = 0; i < H1_TRAILER_NHDRS; i++)
		n += (size_t)sprintf(s + n, "T%u: v\r\n", i);
	strcpy(s + n, "\r\n");
	ck_assert_int_eq(chunked(s, &done), (int64_t)n + 2);
	strcpy(s + n, "U: v\r\n\r\n");
	ck_assert_int_eq(chunked(s, &done), -400);
	free(s);
}
END_TEST

static const char *const bodies[] = {
    "5\r\nhello\r\n0\r\n\r\n",
    "5;a=b\r\nhello\r\n1A\r\n01234567890123456789012345\r\n0\r\nT: v\r\nU:\r\n\r\nNEXT",
    "000a \t;x\r\n0123456789\r\n0;y\r\n\r\n",
    "5\r\nhelloX\r\n0\r\n\r\n",
    "5\nhello\r\n0\r\n\r\n",
    "fffffffffffffffffff\r\n",
    "0\r\nX : 1\r\n\r\n",
    "0\r\nX: 1\r\n fold\r\n\r\n",
    "3\r\nabc\r\n0\r\n\r",
};

START_TEST(every_split_of_a_chunked_body_gives_the_same_result)
{
	struct h1_msg m = chunked_msg();
	const char *s = bodies[_i];
	size_t n = strlen(s), k;
	bool done1, done2;
	int64_t want = feed(&m, s, n, 0, &done1), got;

	for (k = 1; k <= n; k++) {
		got = feed(&m, s, n, k, &done2);
		FAIL_IF(got != want || done1 != done2, "\"%s\" in pieces of %zu: %lld, want %lld",
		        s, k, (long long)got, (long long)want);
	}
	/* and a split at every point into two calls */
	for (k = 0; k <= n; k++) {
		struct h1_body_state b;
		int64_t r1, r2 = 0;
		bool d = false;

		h1_body_init(&b, &m);
		r1 = h1_body_feed(&b, s, k, &d);
		if (r1 >= 0 && !d)
			r2 = h1_body_feed(&b, s + r1, n - (size_t)r1, &d);
		got = r1 < 0 ? r1 : r2 < 0 ? r2 : r1 + r2;
		FAIL_IF(got != want || d != done1, "\"%s\" split at %zu: %lld, want %lld", s, k,
		        (long long)got, (long long)want);
	}
}
END_TEST

/* --- Builders --- */

static char out[4096];

static void ck_built(int n, const char *want)
{
	ck_assert_int_eq(n, (int)strlen(want));
	ck_assert_msg(!memcmp(out, want, (size_t)n), "got:\n%.*s\nwant:\n%s", n, out, want);
}

START_TEST(the_request_upstream_drops_hop_by_hop_and_adds_forwarding_headers)
{
	ck_assert_int_gt(
	    req("POST /p?q HTTP/1.1\r\nHost: app\r\nConnection: keep-alive, X-Secret\r\n"
	        "Keep-Alive: 300\r\nTE: trailers\r\nTrailer: X-Sum\r\n"
	        "Upgrade: h2c\r\nProxy-Connection: keep-alive\r\nX-Secret: s\r\n"
	        "X-Forwarded-For: 1.1.1.1\r\nContent-Length: 3\r\n"
	        "x-forwarded-for: 2.2.2.2, 3.3.3.3\r\nX-Forwarded-Proto: ftp\r\n"
	        "X-Real-IP: 9.9.9.9\r\nAccept: */*\r\nContent-Length: 3\r\n\r\n"),
	    0);
	ck_built(h1_build_request(&msg, "10.0.0.1", "https", "ringlb", out, sizeof(out)),
	         "POST /p?q HTTP/1.1\r\n"
	         "Host: app\r\n"
	         "Content-Length: 3\r\n"
	         "Accept: */*\r\n"
	         "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.1\r\n"
	         "X-Forwarded-Proto: https\r\n"
	         "X-Real-IP: 10.0.0.1\r\n"
	         "Via: 1.1 ringlb\r\n"
	         "Connection: keep-alive\r\n"
	         "\r\n");
}
END_TEST

START_TEST(the_request_upstream_gets_xff_when_it_had_none)
{
	ck_assert_int_gt(req("GET /a HTTP/1.0\r\nUser-Agent: t\r\nVia: 1.0 old\r\n\r\n"), 0);
	ck_built(h1_build_request(&msg, "::1", "http", NULL, out, sizeof(out)),
	         "GET /a HTTP/1.0\r\n"
	         "User-Agent: t\r\n"
	         "Via: 1.0 old\r\n"
	         "X-Forwarded-For: ::1\r\n"
	         "X-Forwarded-Proto: http\r\n"
	         "X-Real-IP: ::1\r\n"
	         "Connection: keep-alive\r\n"
	         "\r\n");
	ck_built(h1_build_request(&msg, NULL, NULL, NULL, out, sizeof(out)),
	         "GET /a HTTP/1.0\r\n"
	         "User-Agent: t\r\n"
	         "Via: 1.0 old\r\n"
	         "Connection: keep-alive\r\n"
	         "\r\n");
}
END_TEST

START_TEST(an_absolute_form_request_goes_up_in_origin_form_with_its_host)
{
	ck_assert_int_gt(req("GET http://t.example:81/a?b HTTP/1.1\r\nUser-Agent: t\r\n"
	                     "Host: other.example\r\n\r\n"),
	                 0);
	ck_built(h1_build_request(&msg, NULL, NULL, NULL, out, sizeof(out)),
	         "GET /a?b HTTP/1.1\r\nHost: t.example:81\r\nUser-Agent: t\r\n"
	         "Connection: keep-alive\r\n\r\n");
	ck_assert_int_gt(req("GET http://t.example?q HTTP/1.1\r\nHost: t.example\r\n\r\n"), 0);
	ck_built(h1_build_request(&msg, NULL, NULL, NULL, out, sizeof(out)),
	         "GET /?q HTTP/1.1\r\nHost: t.example\r\nConnection: keep-alive\r\n\r\n");
	ck_assert_int_gt(req("GET https://t.example HTTP/1.0\r\n\r\n"), 0);
	ck_built(h1_build_request(&msg, NULL, NULL, NULL, out, sizeof(out)),
	         "GET / HTTP/1.0\r\nHost: t.example\r\nConnection: keep-alive\r\n\r\n");
}
END_TEST

START_TEST(the_request_upstream_has_one_content_length_and_plain_chunked)
{
	ck_assert_int_gt(req("PUT / HTTP/1.1\r\nHost: a\r\ncontent-length: 007, 7\r\n"
	                     "Content-Length: 7\r\n\r\n"),
	                 0);
	ck_built(h1_build_request(&msg, "1.2.3.4", "http", NULL, out, sizeof(out)),
	         "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n"
	         "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: http\r\nX-Real-IP: 1.2.3.4\r\n"
	         "Connection: keep-alive\r\n\r\n");
	ck_assert_int_gt(req("PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,CHUNKED\r\n\r\n"),
	                 0);
	ck_built(h1_build_request(&msg, "1.2.3.4", "http", NULL, out, sizeof(out)),
	         "PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
	         "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: http\r\nX-Real-IP: 1.2.3.4\r\n"
	         "Connection: keep-alive\r\n\r\n");
}
END_TEST

START_TEST(the_request_upstream_keeps_upgrade_when_upgrading)
{
	ck_assert_int_gt(req("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
	                     "Upgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n"),
	                 0);
	ck_built(h1_build_request(&msg, "1.2.3.4", "http", NULL, out, sizeof(out)),
	         "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n"
	         "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: http\r\nX-Real-IP: 1.2.3.4\r\n"
	         "Connection: upgrade\r\n\r\n");
}
END_TEST

START_TEST(a_head_that_does_not_fit_is_enospc)
{
	size_t cap;
	int n;

	ck_assert_int_gt(req(GET("X-A: 1\r\nContent-Length: 12\r\n")), 0);
	n = h1_build_request(&msg, "1.2.3.4", "http", "v", out, sizeof(out));
	ck_assert_int_gt(n, 0);
	for (cap = 0; cap < (size_t)n; cap++)
		ck_assert_int_eq(h1_build_request(&msg, "1.2.3.4", "http", "v", out, cap), -ENOSPC);
	ck_assert_int_eq(h1_build_request(&msg, "1.2.3.4", "http", "v", out, (size_t)n), n);
	ck_assert_int_gt(resp("HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX: y\r\n\r\n"), 0);
	n = h1_build_response(&msg, true, out, sizeof(out));
	ck_assert_int_gt(n, 0);
	for (cap = 0; cap < (size_t)n; cap++)
		ck_assert_int_eq(h1_build_response(&msg, true, out, cap), -ENOSPC);
	ck_assert_int_eq(h1_build_response(&msg, true, out, (size_t)n), n);
}
END_TEST

START_TEST(the_response_to_the_client_drops_hop_by_hop)
{
	ck_assert_int_gt(
	    resp("HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Internal\r\n"
	         "Keep-Alive: timeout=5\r\nX-Internal: 1\r\nContent-Length: 2, 2\r\n"
	         "Set-Cookie: a=b\r\nContent-Length: 2\r\nProxy-Connection: x\r\n\r\n"),
	    0);
	ck_built(h1_build_response(&msg, true, out, sizeof(out)),
	         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: a=b\r\n"
	         "Connection: keep-alive\r\n\r\n");
	ck_built(h1_build_response(&msg, false, out, sizeof(out)),
	         "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: a=b\r\n"
	         "Connection: close\r\n\r\n");
}
END_TEST

START_TEST(the_response_to_the_client_keeps_what_frames_it)
{
	ck_assert_int_gt(resp("HTTP/1.0 204\r\nContent-Length: 0\r\nDate: d\r\n\r\n"), 0);
	ck_built(h1_build_response(&msg, false, out, sizeof(out)),
	         "HTTP/1.0 204 \r\nDate: d\r\nConnection: close\r\n\r\n");
	ck_assert_int_gt(resp("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"), 0);
	ck_built(
	    h1_build_response(&msg, true, out, sizeof(out)),
	    "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nConnection: keep-alive\r\n\r\n");
	ck_assert_int_gt(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n"
	                      "Trailer: X\r\nTE: x\r\n\r\n"),
	                 0);
	ck_built(h1_build_response(&msg, true, out, sizeof(out)),
	         "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nConnection: keep-alive\r\n"
	         "\r\n");
	ck_assert_int_gt(resp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                      "Connection: upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n"),
	                 0);
	ck_built(h1_build_response(&msg, true, out, sizeof(out)),
	         "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	         "Sec-WebSocket-Accept: x\r\nConnection: upgrade\r\n\r\n");
}
END_TEST

START_TEST(a_built_request_parses_back_to_the_same_request)
{
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(samples); i++) {
		struct h1_msg again;
		char *copy;
		bool abs;
		int n, r;

		if (samples[i].resp || req(samples[i].s) <= 0)
			continue;
		n = h1_build_request(&msg, "192.0.2.1", "http", "ringlb", out, sizeof(out));
		ck_assert_int_gt(n, 0);
		copy = dup_n(out, (size_t)n);
		memset(&again, 0, sizeof(again));
		r = parse_lim(false, NULL, copy, (size_t)n, &again);
		ck_assert_msg(r == n, "%s -> %.*s: %d", samples[i].s, n, out, r);
		ck_assert(str_is(again.method, "") == str_is(msg.method, ""));
		/* absolute-form goes up as origin-form ("/" added when needed) */
		abs = msg.path.p != msg.target.p;
		ck_assert_uint_eq(again.target.len,
		                  abs ? msg.path.len + (!msg.path.len || msg.path.p[0] != '/')
		                      : msg.target.len);
		ck_assert_int_eq(again.body, msg.body);
		ck_assert_uint_eq(again.content_length, msg.content_length);
		ck_assert_uint_eq(again.flags & ~H1_F_CLOSE, msg.flags & ~H1_F_CLOSE);
		ck_assert_uint_eq(again.host.len, msg.host.len);
		h1_msg_release(&again);
	}
}
END_TEST

/* --- Secrets --- */

START_TEST(wipe_zeroes_exactly_the_credential_and_cookie_values)
{
	const char *s = "GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Basic dXNlcjpwYXNz\r\n"
			"X-Auth: keep\r\ncookie:  sid=1; t=2 \r\nCookie: b=3\r\n"
			"Proxy-Authorization: Basic cHJveHk6cHc=\r\nSet-Cookie: kept\r\n\r\n";
	size_t n = strlen(s), i;
	char *b = dup_n(s, n), *want = malloc(n);
	struct h1_parser p;
	const char *z[] = {"Basic dXNlcjpwYXNz", "sid=1; t=2", "b=3", "Basic cHJveHk6cHc="};

	h1_parser_init(&p, false, NULL);
	ck_assert_int_eq(h1_parse(&p, b, n, &msg), (int)n);
	memcpy(want, s, n);
	for (i = 0; i < ARRAY_SIZE(z); i++)
		memset(memmem(want, n, z[i], strlen(z[i])), 0, strlen(z[i]));
	h1_msg_wipe(&msg, b);
	ck_assert(!memcmp(b, want, n));
	h1_msg_release(&msg);
	free(want);
}
END_TEST

/* --- The smuggling corpus --- */

static char corpus_dir[1024];

static int corpus_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 4 && !strcmp(d->d_name + n - 4, ".txt");
}

static char *read_file(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *b;
	long sz;

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc((size_t)sz + 1);
	ck_assert_uint_eq(fread(b, 1, (size_t)sz, f), (size_t)sz);
	fclose(f);
	*n = (size_t)sz;
	return b;
}

/* The status h1 answers to a raw request: h1_parse's, else 400 if its body
 * is malformed, else 0 (accepted). */
static int answer(const char *b, size_t n, size_t split)
{
	struct h1_parser p;
	struct h1_body_state bs;
	struct h1_msg m;
	int64_t r;
	bool done;
	int h;

	h1_parser_init(&p, false, NULL);
	if (split < n && (h = h1_parse(&p, b, split, &m)) < 0)
		goto out;
	h = h1_parse(&p, b, n, &m);
	if (h <= 0)
		goto out;
	h1_body_init(&bs, &m);
	r = h1_body_feed(&bs, b + h, n - (size_t)h, &done);
	h = r < 0 ? (int)r : 0;
out:
	h1_msg_release(&m);
	return h < 0 ? -h : h;
}

START_TEST(every_smuggling_case_gets_its_status)
{
	struct dirent **ents;
	int n, i, count = 0;
	const char *top = getenv("RLB_TOP");

	snprintf(corpus_dir, sizeof(corpus_dir), "%s/test/configs/smuggle", top ? top : ".");
	n = scandir(corpus_dir, &ents, corpus_filter, alphasort);
	ck_assert_msg(n >= 30, "%s: %d cases", corpus_dir, n);
	for (i = 0; i < n; i++) {
		char path[2048];
		size_t len, k;
		char *b;
		int want = atoi(ents[i]->d_name), got;

		snprintf(path, sizeof(path), "%s/%s", corpus_dir, ents[i]->d_name);
		b = read_file(path, &len);
		ck_assert_msg(want >= 400 && want < 600, "%s: no status in its name", path);
		got = answer(b, len, len);
		ck_assert_msg(got == want, "%s: %d, want %d", ents[i]->d_name, got, want);
		for (k = 0; k < len; k++)
			FAIL_IF(answer(b, len, k) != want, "%s split at %zu", ents[i]->d_name, k);
		free(b);
		free(ents[i]);
		count++;
	}
	free(ents);
	ck_assert_int_ge(count, 30);
}
END_TEST

/* --- Issue 15: field size, HTTP/1.0, de-chunking, bodiless answers --- */

/* A request with one field "X-A: " + <n> - 5 'a's: a field line of <n>. */
static int field_of(size_t n, bool response, uint32_t max_field, size_t split)
{
	struct h1_limits lim = {.max_field = max_field};
	const char *start = response ? "HTTP/1.1 200 OK\r\n" : "GET / HTTP/1.1\r\nHost: a\r\n";
	size_t sl = strlen(start), len = sl + n + 4 + (response ? 19 : 0);
	char *b = malloc(len);
	struct h1_parser p;
	struct h1_msg m;
	int r = 0;

	memcpy(b, start, sl);
	memcpy(b + sl, "X-A: ", 5);
	memset(b + sl + 5, 'a', n - 5);
	memcpy(b + sl + n, response ? "\r\nContent-Length: 0\r\n\r\n" : "\r\n\r\n",
	       response ? 23 : 4);
	h1_parser_init(&p, response, &lim);
	if (split && split < len)
		r = h1_parse(&p, b, split, &m);
	if (r >= 0)
		r = h1_parse(&p, b, len, &m);
	h1_msg_release(&m);
	free(b);
	return r;
}

START_TEST(a_field_line_of_max_field_passes_and_one_more_is_431)
{
	for (size_t split = 0; split < 1100; split += 37) {
		ck_assert_int_gt(field_of(1024, false, 1024, split), 0);
		ck_assert_int_eq(field_of(1025, false, 1024, split), -431);
		ck_assert_int_gt(field_of(1024, true, 1024, split), 0);
		ck_assert_int_eq(field_of(1025, true, 1024, split), -431);
	}
	ck_assert_int_eq(field_of(70000, false, H1_DEF_MAX_FIELD, 0), -431);
	ck_assert_int_gt(field_of(30000, false, 0, 0), 0); /* 0: only the head's bound */
}
END_TEST

START_TEST(a_long_name_or_status_line_is_431_before_its_end)
{
	struct h1_limits lim = {.max_field = 64};
	char b[256];

	snprintf(b, sizeof(b), "GET / HTTP/1.1\r\nHost: a\r\nX-%070d", 0);
	ck_assert_int_eq(parse_lim(false, &lim, b, strlen(b), &msg), -431);
	snprintf(b, sizeof(b), "HTTP/1.1 200 %070d", 0);
	ck_assert_int_eq(parse_lim(true, &lim, b, strlen(b), &msg), -431);
	snprintf(b, sizeof(b), "GET / HTTP/1.1\r\nHost: a\r\nX-A:%070d", 0);
	ck_assert_int_eq(parse_lim(false, &lim, b, strlen(b), &msg), -431);
}
END_TEST

START_TEST(an_http10_upgrade_is_ignored_and_stays_hop_by_hop)
{

	ck_assert_int_gt(
	    req("GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"), 0);
	ck_assert(!(msg.flags & H1_F_UPGRADE));
	ck_assert_int_gt(h1_build_request(&msg, NULL, NULL, NULL, out, sizeof(out)), 0);
	ck_assert_ptr_null(strstr(out, "Upgrade"));
	ck_assert_int_gt(req("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n"
	                     "Upgrade: websocket\r\n\r\n"),
	                 0);
	ck_assert(msg.flags & H1_F_UPGRADE);
}
END_TEST

START_TEST(a_response_coding_other_than_chunked_is_flagged)
{
	ck_assert_int_gt(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"), 0);
	ck_assert(msg.flags & H1_F_TE_OTHER);
	ck_assert_int_eq(msg.body, H1_BODY_CLOSE);
	ck_assert_int_gt(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), 0);
	ck_assert(msg.flags & H1_F_TE_OTHER);
	ck_assert_int_eq(msg.body, H1_BODY_CHUNKED);
	ck_assert_int_gt(resp("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), 0);
	ck_assert(!(msg.flags & H1_F_TE_OTHER));
}
END_TEST

START_TEST(dechunking_keeps_the_payload_only_at_any_split)
{
	static const char body[] = "3\r\nabc\r\n2;e=\"x\"\r\nde\r\n10\r\n0123456789abcdef\r\n"
				   "0\r\nX-T: 1\r\n\r\nNEXT";
	const size_t n = sizeof(body) - 1, blen = n - 4;

	for (size_t split = 0; split <= blen; split++) {
		struct h1_body_state b;
		struct h1_msg m = {.body = H1_BODY_CHUNKED};
		char *copy = dup_n(body, n), got[64];
		size_t o1 = 0, o2 = 0;
		bool done = false;
		int64_t k1, k2;

		h1_body_init(&b, &m);
		k1 = h1_body_dechunk(&b, copy, split, &done, &o1);
		ck_assert_int_eq(k1, (int64_t)split);
		memcpy(got, copy, o1);
		k2 = h1_body_dechunk(&b, copy + split, n - split, &done, &o2);
		ck_assert_int_eq((size_t)k2, blen - split);
		ck_assert(done);
		memcpy(got + o1, copy + split, o2);
		ck_assert_uint_eq(o1 + o2, 21);
		ck_assert(!memcmp(got, "abcde0123456789abcdef", 21));
	}
}
END_TEST

START_TEST(bodiless_answers_go_without_framing_and_1xx_without_connection)
{
	int n;

	ck_assert_int_gt(
	    resp("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\nX: 1\r\n\r\n"), 0);
	n = h1_build_response(&msg, true, out, sizeof(out));
	ck_assert_int_gt(n, 0);
	out[n] = 0;
	ck_assert_str_eq(out, "HTTP/1.1 204 No Content\r\nX: 1\r\nConnection: keep-alive\r\n\r\n");
	ck_assert_int_gt(resp("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"), 0);
	n = h1_build_response(&msg, true, out, sizeof(out));
	ck_assert_int_gt(n, 0);
	out[n] = 0;
	ck_assert_str_eq(out, "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n");
	ck_assert_int_gt(resp("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"),
	                 0);
	n = h1_build_response(&msg, true, out, sizeof(out));
	out[n] = 0;
	ck_assert_ptr_nonnull(strstr(out, "Transfer-Encoding: chunked\r\n"));
}
END_TEST

START_TEST(connection_naming_framing_fields_never_drops_them)
{
	int n;

	ck_assert_int_gt(req("POST / HTTP/1.1\r\nHost: a\r\nConnection: content-length, host, x\r\n"
	                     "X: 1\r\nContent-Length: 2\r\n\r\n"),
	                 0);
	n = h1_build_request(&msg, NULL, NULL, NULL, out, sizeof(out));
	ck_assert_int_gt(n, 0);
	out[n] = 0;
	ck_assert_str_eq(out, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
	                      "Connection: keep-alive\r\n\r\n");
	ck_assert_int_gt(resp("HTTP/1.1 200 OK\r\nConnection: Transfer-Encoding\r\n"
	                      "Transfer-Encoding: chunked\r\n\r\n"),
	                 0);
	n = h1_build_response(&msg, true, out, sizeof(out));
	out[n] = 0;
	ck_assert_str_eq(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	                      "Connection: keep-alive\r\n\r\n");
}
END_TEST

static TCase *tcase(const char *name, int timeout)
{
	return ck_tcase(name, timeout, setup, teardown);
}

/* max_body_size is checked against the payload: chunk sizes, extensions,
 * CRLFs and trailers do not count, and a Content-Length body counts all. */
START_TEST(body_data_counts_payload_without_chunk_framing)
{
	static const char body[] =
	    "5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n";
	struct h1_msg m;
	struct h1_body_state b;
	bool done = false;
	int64_t k;

	memset(&m, 0, sizeof(m));
	m.body = H1_BODY_CHUNKED;
	h1_body_init(&b, &m);
	for (size_t i = 0; i < sizeof(body) - 1; i++) {
		k = h1_body_feed(&b, body + i, 1, &done);
		ck_assert_int_eq(k, 1);
	}
	ck_assert(done);
	ck_assert_uint_eq(b.data, 21);
	m.body = H1_BODY_LENGTH;
	m.content_length = 7;
	h1_body_init(&b, &m);
	k = h1_body_feed(&b, "abcdefgh", 8, &done);
	ck_assert_int_eq(k, 7);
	ck_assert(done);
	ck_assert_uint_eq(b.data, 7);
}
END_TEST

static Suite *h1_suite(void)
{
	Suite *s = suite_create("h1");
	TCase *tl = tcase("request_line", 10), *th = tcase("headers", 10);
	TCase *tf = tcase("framing", 10), *tm = tcase("limits", 10), *tr = tcase("response", 10);
	TCase *ti = tcase("incremental", 60), *tb = tcase("body", 30), *tw = tcase("build", 10);
	TCase *tx = tcase("smuggling", 60);

	TCase *t15 = tcase("issue15", 30);

	tcase_add_test(t15, a_field_line_of_max_field_passes_and_one_more_is_431);
	tcase_add_test(t15, a_long_name_or_status_line_is_431_before_its_end);
	tcase_add_test(t15, an_http10_upgrade_is_ignored_and_stays_hop_by_hop);
	tcase_add_test(t15, a_response_coding_other_than_chunked_is_flagged);
	tcase_add_test(t15, dechunking_keeps_the_payload_only_at_any_split);
	tcase_add_test(t15, bodiless_answers_go_without_framing_and_1xx_without_connection);
	tcase_add_test(t15, connection_naming_framing_fields_never_drops_them);
	suite_add_tcase(s, t15);
	tcase_add_test(tl, character_classes_match_their_rfc_definitions);
	tcase_add_test(tl, a_simple_get_parses_into_slices_of_the_buffer);
	tcase_add_test(tl, an_incomplete_head_asks_for_more);
	tcase_add_test(tl, head_length_leaves_the_next_bytes_alone);
	tcase_add_test(tl, the_method_must_be_a_token);
	tcase_add_test(tl, the_request_line_has_single_spaces);
	tcase_add_test(tl, origin_form_is_the_target_of_normal_methods);
	tcase_add_test(tl, absolute_form_is_accepted_for_http_and_https);
	tcase_add_test(tl, authority_form_is_only_for_connect);
	tcase_add_test(tl, asterisk_form_is_only_for_options);
	tcase_add_test(tl, target_bytes_are_visible_ascii);
	tcase_add_test(tl, the_version_is_http_1_0_or_1_1);
	tcase_add_test(tl, empty_lines_before_the_request_line_are_skipped);
	tcase_add_test(tl, http_1_1_needs_exactly_one_host);
	suite_add_tcase(s, tl);

	tcase_add_test(th, no_whitespace_between_name_and_colon);
	tcase_add_test(th, obs_fold_is_refused);
	tcase_add_test(th, line_endings_are_cr_lf_and_bare_lf_is_refused);
	tcase_add_test(th, a_bare_cr_is_refused);
	tcase_add_test(th, nul_and_control_characters_are_refused);
	tcase_add_test(th, header_names_are_tokens);
	tcase_add_test(th, a_bad_byte_anywhere_in_a_long_value_or_target_is_refused);
	tcase_add_test(th, values_are_trimmed_of_surrounding_whitespace);
	tcase_add_test(th, interned_ids_are_case_insensitive);
	tcase_add_test(th, more_than_16_headers_spill_and_release_frees_them);
	tcase_add_test(th, an_error_after_a_spill_leaves_no_spill);
	tcase_add_test(th, hop_by_hop_headers_are_marked);
	tcase_add_test(th, connection_never_makes_the_framing_hop_by_hop);
	tcase_add_test(th, wipe_zeroes_exactly_the_credential_and_cookie_values);
	suite_add_tcase(s, th);

	tcase_add_test(tf, content_length_gives_a_length_body);
	tcase_add_test(tf, identical_content_lengths_are_one);
	tcase_add_test(tf, different_content_lengths_are_refused);
	tcase_add_test(tf, content_length_is_digits_only);
	tcase_add_test(tf, content_length_is_bounded);
	tcase_add_test(tf, chunked_transfer_encoding_gives_a_chunked_body);
	tcase_add_test(tf, transfer_encoding_with_content_length_is_refused);
	tcase_add_test(tf, a_request_transfer_encoding_must_end_with_chunked);
	tcase_add_test(tf, other_transfer_codings_before_chunked_are_501);
	tcase_add_test(tf, chunked_twice_is_refused);
	tcase_add_test(tf, transfer_encoding_in_http_1_0_is_refused);
	tcase_add_test(tf, connect_with_a_body_is_refused);
	tcase_add_test(tf, connection_close_and_http_1_0_set_close);
	tcase_add_test(tf, expect_100_continue_sets_continue_in_http_1_1);
	tcase_add_test(tf, upgrade_needs_connection_upgrade_and_an_upgrade_header);
	suite_add_tcase(s, tf);

	tcase_add_test(tm, a_request_line_of_max_line_bytes_passes_and_one_more_is_414);
	tcase_add_test(tm, a_request_line_past_max_line_ending_at_a_space_is_414_at_once);
	tcase_add_test(tm, a_field_line_past_max_field_ending_at_its_colon_is_431_at_once);
	tcase_add_test(tm, a_head_of_max_head_bytes_passes_and_one_more_is_431);
	tcase_add_test(tm, max_hdrs_headers_pass_and_one_more_is_431);
	tcase_add_test(tm, zero_limits_take_the_defaults);
	suite_add_tcase(s, tm);

	tcase_add_test(tr, a_response_has_status_reason_and_length);
	tcase_add_test(tr, the_reason_may_be_empty);
	tcase_add_test(tr, the_status_is_three_digits);
	tcase_add_test(tr, the_response_version_is_http_1_0_or_1_1);
	tcase_add_test(tr, bodyless_statuses_and_head_answers_have_no_body);
	tcase_add_test(tr, a_response_without_length_is_close_delimited);
	tcase_add_test(tr, a_101_response_upgrades);
	tcase_add_test(tr, response_content_lengths_follow_the_request_rules);
	suite_add_tcase(s, tr);

	tcase_add_loop_test(ti, every_split_of_a_head_gives_the_answer_of_one_call, 0,
	                    ARRAY_SIZE(samples));
	tcase_add_loop_test(ti, byte_at_a_time_feeding_matches_one_call, 0, ARRAY_SIZE(samples));
	tcase_add_test(ti, a_moved_buffer_keeps_the_slices_valid);
	suite_add_tcase(s, ti);

	tcase_add_test(tb, a_length_body_takes_its_bytes_and_leaves_the_next_message);
	tcase_add_test(tb, a_close_body_takes_everything_and_a_none_body_nothing);
	tcase_add_test(tb, chunked_bodies_with_extensions_trailers_and_any_hex);
	tcase_add_test(tb, body_data_counts_payload_without_chunk_framing);
	tcase_add_test(tb, a_chunked_body_leaves_the_next_message);
	tcase_add_test(tb, a_chunk_size_past_2_62_is_refused);
	tcase_add_test(tb, malformed_chunks_are_refused);
	tcase_add_test(tb, an_error_is_final);
	tcase_add_test(tb, chunk_lines_and_trailers_are_bounded);
	tcase_add_loop_test(tb, every_split_of_a_chunked_body_gives_the_same_result, 0,
	                    ARRAY_SIZE(bodies));
	suite_add_tcase(s, tb);

	tcase_add_test(tw, the_request_upstream_drops_hop_by_hop_and_adds_forwarding_headers);
	tcase_add_test(tw, the_request_upstream_gets_xff_when_it_had_none);
	tcase_add_test(tw, an_absolute_form_request_goes_up_in_origin_form_with_its_host);
	tcase_add_test(tw, the_request_upstream_has_one_content_length_and_plain_chunked);
	tcase_add_test(tw, the_request_upstream_keeps_upgrade_when_upgrading);
	tcase_add_test(tw, a_head_that_does_not_fit_is_enospc);
	tcase_add_test(tw, the_response_to_the_client_drops_hop_by_hop);
	tcase_add_test(tw, the_response_to_the_client_keeps_what_frames_it);
	tcase_add_test(tw, a_built_request_parses_back_to_the_same_request);
	suite_add_tcase(s, tw);

	tcase_add_test(tx, every_smuggling_case_gets_its_status);
	suite_add_tcase(s, tx);
	return s;
}

int main(void)
{
	return ck_run(h1_suite());
}
