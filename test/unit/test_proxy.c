/* Unit tests for the PROXY protocol parser and builder (core/parse/proxy.h),
 * written against HAProxy's proxy-protocol.txt: v1 and v2 headers of each
 * kind, every prefix of each (bytes arriving one at a time) is PROXY_MORE,
 * the bytes after a header are never counted as its, the bounds exactly at
 * and one past, each malformation refused (as early as a prefix allows), and
 * built headers parse back to their addresses.
 *
 * Every parse runs on an exactly sized malloc'd copy, so ASan sees any read
 * past the end.
 */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/parse/proxy.c"
#include "test/unit/ck.h"

static int parse(const void *b, size_t n, struct proxy_addr *a)
{
	uint8_t *copy = malloc(n ? n : 1);
	int r;

	memcpy(copy, b, n);
	r = proxy_parse(copy, n, a);
	free(copy);
	return r;
}

/* Every proper prefix of a header of <hlen> bytes is PROXY_MORE, and the
 * whole, with <tail> after it, is <hlen>. */
static void every_prefix_is_more(const uint8_t *h, size_t hlen, const char *tail)
{
	uint8_t buf[2048];
	struct proxy_addr a;

	for (size_t k = 0; k < hlen; k++)
		FAIL_IF(parse(h, k, &a) != PROXY_MORE, "prefix %zu of %zu: %d", k, hlen,
		        parse(h, k, &a));
	memcpy(buf, h, hlen);
	memcpy(buf + hlen, tail, strlen(tail));
	ck_assert_int_eq(parse(buf, hlen + strlen(tail), &a), (int)hlen);
}

#define V2SIG "\r\n\r\n\0\r\nQUIT\n"

START_TEST(v1_tcp4_gives_its_addresses_and_leaves_the_request)
{
	const char *h = "PROXY TCP4 192.168.1.7 10.0.0.1 56324 443\r\n";
	struct proxy_addr a;
	char ip[64];

	every_prefix_is_more((const uint8_t *)h, strlen(h), "GET / HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(parse(h, strlen(h), &a), (int)strlen(h));
	ck_assert_int_eq(a.family, AF_INET);
	ck_assert_int_eq(a.version, 1);
	ck_assert_str_eq(inet_ntop(AF_INET, a.src, ip, sizeof(ip)), "192.168.1.7");
	ck_assert_str_eq(inet_ntop(AF_INET, a.dst, ip, sizeof(ip)), "10.0.0.1");
	ck_assert_uint_eq(a.sport, 56324);
	ck_assert_uint_eq(a.dport, 443);
}
END_TEST

START_TEST(v1_tcp6_gives_its_addresses)
{
	const char *h = "PROXY TCP6 2001:db8::1 ::1 65535 0\r\n";
	struct proxy_addr a;
	char ip[64];

	every_prefix_is_more((const uint8_t *)h, strlen(h), "\x16\x03\x01");
	ck_assert_int_eq(parse(h, strlen(h), &a), (int)strlen(h));
	ck_assert_int_eq(a.family, AF_INET6);
	ck_assert_str_eq(inet_ntop(AF_INET6, a.src, ip, sizeof(ip)), "2001:db8::1");
	ck_assert_str_eq(inet_ntop(AF_INET6, a.dst, ip, sizeof(ip)), "::1");
	ck_assert_uint_eq(a.sport, 65535);
	ck_assert_uint_eq(a.dport, 0);
}
END_TEST

START_TEST(v1_unknown_has_no_addresses)
{
	const char *hs[] = {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ::1 1 2\r\n"};
	struct proxy_addr a;

	for (unsigned i = 0; i < ARRAY_SIZE(hs); i++) {
		every_prefix_is_more((const uint8_t *)hs[i], strlen(hs[i]), "x");
		ck_assert_int_eq(parse(hs[i], strlen(hs[i]), &a), (int)strlen(hs[i]));
		ck_assert_int_eq(a.family, 0);
	}
}
END_TEST

START_TEST(v1_is_at_most_107_bytes)
{
	char h[200];
	struct proxy_addr a;

	/* "PROXY UNKNOWN " padded so that the line with CR LF is 107 bytes. */
	memset(h, 'x', sizeof(h));
	memcpy(h, "PROXY UNKNOWN ", 14);
	memcpy(h + 105, "\r\n", 2);
	ck_assert_int_eq(parse(h, 107, &a), 107);
	memset(h, 'x', sizeof(h));
	memcpy(h, "PROXY UNKNOWN ", 14);
	memcpy(h + 106, "\r\n", 2);
	ck_assert_int_eq(parse(h, 108, &a), PROXY_EBIG);
	ck_assert_int_eq(parse(h, 106, &a), PROXY_EBIG); /* known as soon as it cannot end */
	ck_assert_int_eq(parse(h, 105, &a), PROXY_MORE);
}
END_TEST

static const char *const v1_bad[] = {
    "GET / HTTP/1.1\r\n",
    "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY  TCP4 1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 123456 2\r\n",
    "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n",
    "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n",
    "PROXY TCP4 ::1 ::1 1 2\r\n",
    "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
    "PROXY TCP6 ::g ::1 1 2\r\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
    "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
    "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n",
    "PROXY UNKNOWNX\r\n",
    "PROXY \r\n",
    "PROXY TCP4\r\n",
    "PROXY TCP4 \r\n",
};

START_TEST(malformed_v1_is_refused)
{
	const char *h = v1_bad[_i];
	struct proxy_addr a;
	size_t n = strlen(h);
	int r = parse(h, n, &a);

	ck_assert_msg(r == PROXY_EBAD, "\"%s\": %d", h, r);
	/* And the longer inputs that start with it are refused as well. */
	char buf[256];
	snprintf(buf, sizeof(buf), "%sGET / HTTP/1.1\r\n\r\n", h);
	ck_assert_int_eq(parse(buf, strlen(buf), &a), PROXY_EBAD);
}
END_TEST

START_TEST(a_wrong_first_byte_is_refused_at_once)
{
	struct proxy_addr a;

	ck_assert_int_eq(parse("G", 1, &a), PROXY_EBAD);
	ck_assert_int_eq(parse("\x16", 1, &a), PROXY_EBAD);
	ck_assert_int_eq(parse("PR0", 3, &a), PROXY_EBAD);
	ck_assert_int_eq(parse("PROXY X", 7, &a), PROXY_EBAD);
	ck_assert_int_eq(parse("\r\n\r\n\0\r\nQUIX", 12, &a), PROXY_EBAD);
	ck_assert_int_eq(parse("", 0, &a), PROXY_MORE);
}
END_TEST

/* A v2 header: the fixed part then <body> of <blen> bytes. */
static size_t v2(uint8_t *out, uint8_t vc, uint8_t fam, const void *body, size_t blen)
{
	memcpy(out, V2SIG, 12);
	out[12] = vc;
	out[13] = fam;
	out[14] = (uint8_t)(blen >> 8);
	out[15] = (uint8_t)blen;
	memcpy(out + 16, body, blen);
	return 16 + blen;
}

START_TEST(v2_inet_gives_its_addresses_and_skips_tlvs)
{
	uint8_t body[64] = {10, 1, 2, 3, 192, 168, 0, 1, 0x1f, 0x90, 0x01, 0xbb,
	                    /* TLVs: ALPN "h2", NOOP of length 0, a custom one */
	                    0x01, 0, 2, 'h', '2', 0x04, 0, 0, 0xe0, 0, 3, 1, 2, 3};
	uint8_t h[128];
	size_t n = v2(h, 0x21, 0x11, body, 26);
	struct proxy_addr a;
	char ip[64];

	every_prefix_is_more(h, n, "GET / HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(parse(h, n, &a), (int)n);
	ck_assert_int_eq(a.family, AF_INET);
	ck_assert_int_eq(a.version, 2);
	ck_assert_str_eq(inet_ntop(AF_INET, a.src, ip, sizeof(ip)), "10.1.2.3");
	ck_assert_str_eq(inet_ntop(AF_INET, a.dst, ip, sizeof(ip)), "192.168.0.1");
	ck_assert_uint_eq(a.sport, 8080);
	ck_assert_uint_eq(a.dport, 443);
}
END_TEST

START_TEST(v2_inet6_gives_its_addresses)
{
	uint8_t body[36] = {0};
	uint8_t h[128];
	size_t n;
	struct proxy_addr a;
	char ip[64];

	inet_pton(AF_INET6, "2001:db8::7", body);
	inet_pton(AF_INET6, "::1", body + 16);
	body[32] = 0xff, body[33] = 0xff, body[34] = 0, body[35] = 80;
	n = v2(h, 0x21, 0x21, body, 36);
	every_prefix_is_more(h, n, "\x16\x03\x01\x02\x00");
	ck_assert_int_eq(parse(h, n, &a), (int)n);
	ck_assert_int_eq(a.family, AF_INET6);
	ck_assert_str_eq(inet_ntop(AF_INET6, a.src, ip, sizeof(ip)), "2001:db8::7");
	ck_assert_str_eq(inet_ntop(AF_INET6, a.dst, ip, sizeof(ip)), "::1");
	ck_assert_uint_eq(a.sport, 65535);
	ck_assert_uint_eq(a.dport, 80);
}
END_TEST

START_TEST(v2_local_unspec_and_unix_have_no_addresses)
{
	uint8_t body[300] = {1, 2, 3};
	uint8_t h[400];
	struct proxy_addr a;
	size_t n;

	n = v2(h, 0x20, 0x00, body, 0); /* LOCAL, what HAProxy's health checks send */
	ck_assert_int_eq(parse(h, n, &a), 16);
	ck_assert_int_eq(a.family, 0);
	n = v2(h, 0x20, 0x11, body, 12); /* LOCAL with addresses: ignored */
	ck_assert_int_eq(parse(h, n, &a), 28);
	ck_assert_int_eq(a.family, 0);
	n = v2(h, 0x21, 0x00, body, 3); /* PROXY, UNSPEC: the block is skipped */
	ck_assert_int_eq(parse(h, n, &a), 19);
	ck_assert_int_eq(a.family, 0);
	n = v2(h, 0x21, 0x31, body, 216); /* AF_UNIX */
	ck_assert_int_eq(parse(h, n, &a), 16 + 216);
	ck_assert_int_eq(a.family, 0);
}
END_TEST

START_TEST(v2_is_at_most_16_plus_1024_bytes)
{
	static uint8_t body[1100], h[1200];
	struct proxy_addr a;
	size_t n;

	/* Addresses, then one TLV filling the rest exactly. */
	body[12] = 0xe1;
	body[13] = (1024 - 15) >> 8;
	body[14] = (uint8_t)(1024 - 15);
	n = v2(h, 0x21, 0x11, body, 1024);
	ck_assert_int_eq(parse(h, n, &a), 1040);
	n = v2(h, 0x21, 0x11, body, 1025);
	ck_assert_int_eq(parse(h, 16, &a), PROXY_EBIG); /* known from the length field */
	ck_assert_int_eq(parse(h, n, &a), PROXY_EBIG);
	h[14] = 0xff, h[15] = 0xff; /* the largest length v2 can say */
	ck_assert_int_eq(parse(h, 16, &a), PROXY_EBIG);
}
END_TEST

START_TEST(malformed_v2_is_refused)
{
	uint8_t body[64] = {0}, h[128];
	struct proxy_addr a;
	size_t n;

	n = v2(h, 0x11, 0x11, body, 12); /* version 1 in the binary form */
	ck_assert_int_eq(parse(h, 13, &a), PROXY_EBAD);
	n = v2(h, 0x22, 0x11, body, 12); /* command 2 */
	ck_assert_int_eq(parse(h, n, &a), PROXY_EBAD);
	n = v2(h, 0x21, 0x41, body, 12); /* family 4 */
	ck_assert_int_eq(parse(h, 14, &a), PROXY_EBAD);
	n = v2(h, 0x21, 0x13, body, 12); /* transport 3 */
	ck_assert_int_eq(parse(h, n, &a), PROXY_EBAD);
	n = v2(h, 0x21, 0x12, body, 12); /* DGRAM on a stream */
	ck_assert_int_eq(parse(h, n, &a), PROXY_EBAD);
	n = v2(h, 0x21, 0x11, body, 11); /* shorter than the IPv4 addresses */
	ck_assert_int_eq(parse(h, 16, &a), PROXY_EBAD);
	n = v2(h, 0x21, 0x21, body, 35); /* shorter than the IPv6 addresses */
	ck_assert_int_eq(parse(h, n, &a), PROXY_EBAD);
	body[12] = 0x01, body[13] = 0, body[14] = 5; /* a TLV longer than what is left */
	n = v2(h, 0x21, 0x11, body, 12 + 3 + 4);
	ck_assert_int_eq(parse(h, n, &a), PROXY_EBAD);
	n = v2(h, 0x21, 0x11, body, 12 + 2); /* a TLV cut in its type and length */
	ck_assert_int_eq(parse(h, n, &a), PROXY_EBAD);
}
END_TEST

START_TEST(built_headers_parse_back)
{
	static const char *const ips[][2] = {
	    {"10.9.8.7", "127.0.0.1"},
	    {"2001:db8:1:2:3:4:5:6", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
	    {"::1", "::"}};
	uint8_t out[PROXY_BUILD_MAX];
	struct proxy_addr a, b;

	for (int v = 1; v <= 2; v++) {
		for (unsigned i = 0; i < ARRAY_SIZE(ips); i++) {
			memset(&a, 0, sizeof(a));
			a.family = strchr(ips[i][0], ':') ? AF_INET6 : AF_INET;
			inet_pton(a.family, ips[i][0], a.src);
			inet_pton(a.family, ips[i][1], a.dst);
			a.sport = 65535;
			a.dport = (uint16_t)(i + 1);
			size_t n = proxy_build(v, &a, out);
			ck_assert_uint_gt(n, 0);
			every_prefix_is_more(out, n, "");
			ck_assert_int_eq(parse(out, n, &b), (int)n);
			ck_assert_int_eq(b.family, a.family);
			ck_assert_int_eq(b.version, v);
			ck_assert_int_eq(memcmp(a.src, b.src, 16), 0);
			ck_assert_int_eq(memcmp(a.dst, b.dst, 16), 0);
			ck_assert_uint_eq(b.sport, a.sport);
			ck_assert_uint_eq(b.dport, a.dport);
		}
		memset(&a, 0, sizeof(a)); /* no addresses: UNKNOWN, LOCAL */
		size_t n = proxy_build(v, &a, out);
		ck_assert_int_eq(parse(out, n, &b), (int)n);
		ck_assert_int_eq(b.family, 0);
	}
	a.family = AF_INET;
	inet_pton(AF_INET, "1.2.3.4", a.src);
	inet_pton(AF_INET, "5.6.7.8", a.dst);
	a.sport = 1000, a.dport = 80;
	ck_assert_uint_eq(proxy_build(1, &a, out),
	                  strlen("PROXY TCP4 1.2.3.4 5.6.7.8 1000 80\r\n"));
	ck_assert_int_eq(memcmp(out, "PROXY TCP4 1.2.3.4 5.6.7.8 1000 80\r\n", 36), 0);
}
END_TEST

static Suite *proxy_suite(void)
{
	Suite *s = suite_create("proxy");
	TCase *t1 = ck_tcase("v1", 10, NULL, NULL);
	TCase *t2 = ck_tcase("v2", 10, NULL, NULL);
	TCase *tb = ck_tcase("build", 10, NULL, NULL);

	tcase_add_test(t1, v1_tcp4_gives_its_addresses_and_leaves_the_request);
	tcase_add_test(t1, v1_tcp6_gives_its_addresses);
	tcase_add_test(t1, v1_unknown_has_no_addresses);
	tcase_add_test(t1, v1_is_at_most_107_bytes);
	tcase_add_loop_test(t1, malformed_v1_is_refused, 0, ARRAY_SIZE(v1_bad));
	tcase_add_test(t1, a_wrong_first_byte_is_refused_at_once);
	suite_add_tcase(s, t1);
	tcase_add_test(t2, v2_inet_gives_its_addresses_and_skips_tlvs);
	tcase_add_test(t2, v2_inet6_gives_its_addresses);
	tcase_add_test(t2, v2_local_unspec_and_unix_have_no_addresses);
	tcase_add_test(t2, v2_is_at_most_16_plus_1024_bytes);
	tcase_add_test(t2, malformed_v2_is_refused);
	suite_add_tcase(s, t2);
	tcase_add_test(tb, built_headers_parse_back);
	suite_add_tcase(s, tb);
	return s;
}

int main(void)
{
	return ck_run(proxy_suite());
}
