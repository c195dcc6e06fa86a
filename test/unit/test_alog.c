/* Unit tests for the access log: templates (config/logfmt.c), the line
 * formats (core/alog/afmt.c) and a worker's ring (core/alog/alog.c,
 * included to reach its consumer): a full ring drops and counts, a record
 * that does not fit before the end wraps behind a pad, and every record
 * comes out once, in order.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "config/logfmt.h"
#include "core/alog/afmt.h"
#include "core/alog/alog.c"
#include "test/unit/ck.h"

#define WALL 1765061937123LL /* 2025-12-06T22:58:57.123Z */

static char out[AFMT_MAX];

/* A record of an HTTP request with <target>. */
static void http_rec(struct alog_rec *r, struct alog_str *s, const char *target, size_t tlen)
{
	memset(r, 0, sizeof(*r));
	r->kind = ALOG_HTTP;
	r->status = 200;
	r->minor = 1;
	r->term[0] = r->term[1] = '-';
	r->ms[ALOG_MS_REQUEST] = 1;
	r->ms[ALOG_MS_CONNECT] = 2;
	r->ms[ALOG_MS_RESPONSE] = ALOG_NO_MS;
	r->ms[ALOG_MS_TOTAL] = 4;
	r->bytes_in = 78;
	r->bytes_out = 131;
	r->client.family = AF_INET;
	r->client.port = 5678;
	memcpy(r->client.a, "\x0a\x00\x00\xfe", 4);
	memset(s, 0, ALOG_NSTR * sizeof(*s));
	s[ALOG_S_METHOD] = (struct alog_str){"GET", 3};
	s[ALOG_S_TARGET] = (struct alog_str){target, (uint32_t)tlen};
	s[ALOG_S_POOL] = (struct alog_str){"app", 3};
}

/* <r> with <s>'s strings laid out after it, as alog_emit() does. */
static const struct alog_rec *flat(struct alog_rec *r, const struct alog_str *s)
{
	static char buf[4096] __attribute__((aligned(8)));
	struct alog_rec *f = (struct alog_rec *)buf;
	char *p = f->str;

	*f = *r;
	for (unsigned i = 0; i < ALOG_NSTR; i++) {
		f->slen[i] = (uint16_t)s[i].n;
		if (s[i].n)
			memcpy(p, s[i].s, s[i].n);
		p += s[i].n;
	}
	return f;
}

static size_t fmt(const char *spec, const struct alog_rec *r)
{
	struct logfmt f;
	char why[128];
	size_t n;

	ck_assert_int_eq(logfmt_compile(spec, &f, why, sizeof(why)), 0);
	n = afmt_record(&f, r, "web", WALL, out, sizeof(out));
	out[n] = '\0';
	return n;
}

START_TEST(an_unknown_field_names_itself)
{
	struct logfmt f;
	char why[128];

	ck_assert_int_eq(logfmt_compile("%{client} %{stauts}", &f, why, sizeof(why)), -EINVAL);
	ck_assert_str_eq(why, "unknown field %{stauts}");
	ck_assert_int_eq(logfmt_compile("100% %{status}", &f, why, sizeof(why)), -EINVAL);
	ck_assert_int_eq(logfmt_compile("%{status", &f, why, sizeof(why)), -EINVAL);
	ck_assert_int_eq(logfmt_compile("txt", &f, why, sizeof(why)), -EINVAL);
	ck_assert_str_eq(why, "no %{field}");
	ck_assert_int_eq(logfmt_compile("json", &f, why, sizeof(why)), 0);
	ck_assert_int_eq(f.kind, LOGFMT_JSON);
	ck_assert_int_eq(logfmt_compile("text", &f, why, sizeof(why)), 0);
	ck_assert_int_eq(f.kind, LOGFMT_TEXT);
}
END_TEST

START_TEST(a_template_writes_its_text_and_fields)
{
	struct alog_rec r;
	struct alog_str s[ALOG_NSTR];

	http_rec(&r, s, "/a?b=1", 6);
	fmt("[%{time}] %{client} %{method} %{target} %{status} 100%% %{response_ms} %{sni}",
	    flat(&r, s));
	ck_assert_str_eq(out, "[2025-12-06T22:58:57.123Z] 10.0.0.254:5678 GET /a?b=1 200 100% - -");
}
END_TEST

START_TEST(the_default_text_line)
{
	struct alog_rec r;
	struct alog_str s[ALOG_NSTR];

	http_rec(&r, s, "/", 1);
	fmt("text", flat(&r, s));
	ck_assert_str_eq(out,
	                 "2025-12-06T22:58:57.123Z 10.0.0.254:5678 web app - \"GET / HTTP/1.1\" "
	                 "200 78 131 1/2/-/4 -- - -");
}
END_TEST

START_TEST(text_escapes_what_would_split_a_line)
{
	static const char t[] = "/a b\"c\\d\n\xff";
	struct alog_rec r;
	struct alog_str s[ALOG_NSTR];

	http_rec(&r, s, t, sizeof(t) - 1);
	fmt("%{target}", flat(&r, s));
	ck_assert_str_eq(out, "/a\\x20b\\x22c\\x5cd\\x0a\\xff");
}
END_TEST

START_TEST(json_escapes_quotes_controls_and_high_bytes)
{
	static const char t[] = "/a b\"c\\d\n\x01\xff";
	struct alog_rec r;
	struct alog_str s[ALOG_NSTR];

	http_rec(&r, s, t, sizeof(t) - 1);
	r.client.family = AF_INET6;
	memset(r.client.a, 0, 16);
	r.client.a[15] = 1;
	fmt("json", flat(&r, s));
	ck_assert_ptr_nonnull(strstr(out, "\"target\":\"/a b\\\"c\\\\d\\u000a\\u0001\\u00ff\""));
	ck_assert_ptr_nonnull(strstr(out, "\"client_addr\":\"::1\",\"client_port\":5678,"));
	ck_assert_ptr_nonnull(strstr(out, "\"response_ms\":null,"));
	ck_assert_ptr_nonnull(strstr(out, "\"backend\":null,"));
	ck_assert_ptr_nonnull(strstr(out, "\"status\":200,"));
	ck_assert_msg(out[0] == '{' && out[strlen(out) - 1] == '}', "%s", out);
}
END_TEST

START_TEST(a_tcp_session_has_no_request_fields)
{
	struct alog_rec r;
	struct alog_str s[ALOG_NSTR];

	http_rec(&r, s, "", 0);
	r.kind = ALOG_TCP;
	r.status = 0;
	s[ALOG_S_METHOD].n = 0;
	r.tls = 13;
	s[ALOG_S_SNI] = (struct alog_str){"x.test", 6};
	fmt("%{type} %{method} %{version} %{status} %{tls_version} %{sni}", flat(&r, s));
	ck_assert_str_eq(out, "tcp - TCP - TLSv1.3 x.test");
}
END_TEST

/* ---- the ring ---- */

static struct alog_ring ring;
static _Atomic uint64_t dropped, unwritten;

static void ring_setup(void)
{
	memset(&ring, 0, sizeof(ring));
	ring.size = 4096;
	ring.buf = aligned_alloc(64, ring.size);
	ring.kick_fd = -1;
	ring.dropped = &dropped;
	ring.unwritten = &unwritten;
	dropped = unwritten = 0;
}

static void ring_teardown(void)
{
	free(ring.buf);
}

/* Consumes the ring as the log thread does; returns the records' targets
 * concatenated with ',' into <buf>, and their count. */
static unsigned take(char *buf, size_t len)
{
	uint64_t head = atomic_load(&ring.head), tail = atomic_load(&ring.tail);
	unsigned n = 0;
	size_t o = 0;

	buf[0] = '\0';
	while (head != tail) {
		const struct alog_rec *r = (const void *)(ring.buf + (head & (ring.size - 1)));

		ck_assert_uint_eq(r->len % 8, 0);
		if (r->kind != ALOG_PAD) {
			o += snprintf(buf + o, len - o, "%s%.*s", n ? "," : "",
			              r->slen[ALOG_S_TARGET], r->str + r->slen[ALOG_S_METHOD]);
			n++;
		}
		head += r->len;
	}
	atomic_store(&ring.head, head);
	return n;
}

START_TEST(a_full_ring_drops_and_counts)
{
	struct alog_rec r;
	struct alog_str s[ALOG_NSTR];
	char t[200], got[8192];
	unsigned ok = 0;

	memset(t, 'x', sizeof(t));
	http_rec(&r, s, t, sizeof(t));
	while (alog_emit(&ring, &r, s) == 0)
		ok++;
	ck_assert_uint_gt(ok, 5);
	ck_assert_uint_eq(dropped, 1);
	ck_assert_int_eq(alog_emit(&ring, &r, s), -ENOBUFS);
	ck_assert_uint_eq(dropped, 2);
	ck_assert_uint_eq(take(got, sizeof(got)), ok);
	ck_assert_int_eq(alog_emit(&ring, &r, s), 0); /* room again */
}
END_TEST

START_TEST(records_wrap_behind_a_pad_and_come_out_in_order)
{
	struct alog_rec r;
	struct alog_str s[ALOG_NSTR];
	char t[16], want[8192], got[8192];
	size_t o = 0;

	/* Sizes that do not divide the ring: the end is reached mid-record. */
	for (unsigned i = 0; i < 500; i++) {
		int n = snprintf(t, sizeof(t), "/%u", i * 7919u % 100000u);

		http_rec(&r, s, t, (size_t)n);
		ck_assert_int_eq(alog_emit(&ring, &r, s), 0);
		o += snprintf(want + o, sizeof(want) - o, "%s%s", o ? "," : "", t);
		if (i % 10 == 9) {
			ck_assert_uint_eq(take(got, sizeof(got)), 10);
			ck_assert_str_eq(got, want);
			o = 0;
		}
	}
	ck_assert_uint_eq(dropped, 0);
	ck_assert_uint_gt(atomic_load(&ring.tail), 4 * ring.size); /* it wrapped */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("alog");
	TCase *tf = ck_tcase("formats", 10, NULL, NULL);
	TCase *tr = ck_tcase("ring", 10, ring_setup, ring_teardown);

	tcase_add_test(tf, an_unknown_field_names_itself);
	tcase_add_test(tf, a_template_writes_its_text_and_fields);
	tcase_add_test(tf, the_default_text_line);
	tcase_add_test(tf, text_escapes_what_would_split_a_line);
	tcase_add_test(tf, json_escapes_quotes_controls_and_high_bytes);
	tcase_add_test(tf, a_tcp_session_has_no_request_fields);
	tcase_add_test(tr, a_full_ring_drops_and_counts);
	tcase_add_test(tr, records_wrap_behind_a_pad_and_come_out_in_order);
	suite_add_tcase(s, tf);
	suite_add_tcase(s, tr);
	return ck_run(s);
}
