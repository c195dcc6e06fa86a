/* libFuzzer harness for the HTTP/1.1 parser (core/h1.c):
 *
 *   make fuzz FUZZ=h1 SECS=300
 *
 * The first byte picks what the rest is: bit 0 a response head (bit 1: to a
 * HEAD request) or a request head, each with what follows it as the body;
 * bits 2-3 both set, a chunked body alone. The second byte picks a split
 * point. Seeds are in test/fuzz/corpus/h1/ (tools to remake them:
 * test/fuzz/seeds.py). What it checks, beyond the sanitizers:
 * - one call, a split into two calls (the second in a moved buffer) and
 *   byte-at-a-time feeding give the same answer and the same message;
 * - a prefix never answers what the whole does not;
 * - every slice lies inside the head, head_len is what was returned;
 * - the body framer gives the same result for one call and any split;
 * - a head h1_build_request()/h1_build_response() writes parses again with
 *   the same framing (body kind, length), method, host, status and
 *   connection: what the next hop reads is what the proxy read. An
 *   absolute-form target goes up in origin-form with Host set from its
 *   authority (RFC 9112 3.2.2, see h1_build_request()): the rebuilt target
 *   is the received path ("/" when there is none) and the rebuilt Host is
 *   the authority the request was routed by.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse/h1.c" /* the code under test: its one include here */

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);                    \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static const struct h1_limits lim = {.max_line = 512, .max_head = 2048, .max_hdrs = 24};
static const struct h1_limits wide = {.max_line = 1 << 16, .max_head = 1 << 20, .max_hdrs = 4096};

static void in_head(struct h1_str s, const char *b, uint32_t head_len)
{
	if (!s.p)
		return;
	CHECK(s.p >= b && s.p + s.len <= b + head_len);
}

static int parse(bool resp, bool head_req, const struct h1_limits *l, const char *b, size_t n,
                 struct h1_msg *m)
{
	struct h1_parser p;

	h1_parser_init(&p, resp, l);
	if (head_req)
		p.flags |= H1_F_HEAD_REQ;
	return h1_parse(&p, b, n, m);
}

/* <a> (in buffer <ba>) and <b> (in <bb>) describe the same head. */
static void same_msg(const struct h1_msg *a, const char *ba, const struct h1_msg *b, const char *bb)
{
	uint32_t i;

	CHECK(a->nhdrs == b->nhdrs && a->flags == b->flags && a->body == b->body);
	CHECK(a->content_length == b->content_length && a->head_len == b->head_len);
	CHECK(a->status == b->status && a->minor == b->minor);
	CHECK(a->method.len == b->method.len && a->target.len == b->target.len);
	CHECK(a->host.len == b->host.len);
	CHECK(!a->method.len || a->method.p - ba == b->method.p - bb);
	for (i = 0; i < a->nhdrs; i++) {
		CHECK(a->hdrs[i].name.p - ba == b->hdrs[i].name.p - bb);
		CHECK(a->hdrs[i].value.p - ba == b->hdrs[i].value.p - bb);
		CHECK(a->hdrs[i].value.len == b->hdrs[i].value.len);
		CHECK(a->hdrs[i].id == b->hdrs[i].id && a->hdrs[i].hop == b->hdrs[i].hop);
	}
}

static void check_slices(const struct h1_msg *m, const char *b)
{
	uint32_t i;

	in_head(m->method, b, m->head_len);
	in_head(m->target, b, m->head_len);
	in_head(m->reason, b, m->head_len);
	in_head(m->host, b, m->head_len);
	for (i = 0; i < m->nhdrs; i++) {
		in_head(m->hdrs[i].name, b, m->head_len);
		in_head(m->hdrs[i].value, b, m->head_len);
		CHECK(m->hdrs[i].id == h1_hdr_lookup(m->hdrs[i].name.p, m->hdrs[i].name.len));
	}
}

/* Incremental answers equal one call's. */
static void check_splits(bool resp, bool hr, const char *b, size_t n, size_t k, int want,
                         const struct h1_msg *wm)
{
	struct h1_parser p;
	struct h1_msg m;
	char *b2 = malloc(n ? n : 1);
	size_t j;
	int r;

	memcpy(b2, b, n);
	h1_parser_init(&p, resp, &lim);
	if (hr)
		p.flags |= H1_F_HEAD_REQ;
	r = h1_parse(&p, b, k, &m);
	CHECK(r == 0 || r == want);
	r = h1_parse(&p, b2, n, &m);
	CHECK(r == want);
	if (r > 0)
		same_msg(wm, b, &m, b2);
	h1_msg_release(&m);
	free(b2);

	if (n > 600)
		return;
	h1_parser_init(&p, resp, &lim);
	if (hr)
		p.flags |= H1_F_HEAD_REQ;
	for (j = 0, r = 0; j <= n && r == 0; j++)
		r = h1_parse(&p, b, j, &m);
	CHECK(r == want);
	if (r > 0)
		same_msg(wm, b, &m, b);
	h1_msg_release(&m);

	r = parse(resp, hr, &lim, b, k, &m);
	CHECK(r == 0 || r == want);
	h1_msg_release(&m);
}

/* The body framer: one call and a split at <k> agree. */
static void check_body(const struct h1_msg *m, const char *b, size_t n, size_t k)
{
	struct h1_body_state s1, s2;
	bool d1 = false, d2 = false;
	int64_t r1, r2a, r2b = 0;

	h1_body_init(&s1, m);
	h1_body_init(&s2, m);
	r1 = h1_body_feed(&s1, b, n, &d1);
	CHECK(r1 < 0 ? r1 == -400 : (size_t)r1 <= n);
	CHECK(r1 < 0 || d1 || (size_t)r1 == n);
	if (k > n)
		k = n;
	r2a = h1_body_feed(&s2, b, k, &d2);
	if (r2a >= 0 && !d2)
		r2b = h1_body_feed(&s2, b + r2a, n - (size_t)r2a, &d2);
	if (r1 < 0)
		CHECK(r2a < 0 || r2b < 0);
	else
		CHECK(r2a >= 0 && r2b >= 0 && r2a + r2b == r1 && d1 == d2);
}

static bool same_str(struct h1_str a, struct h1_str b)
{
	return a.len == b.len && (!a.len || !memcmp(a.p, b.p, a.len));
}

/* The target the next hop must read for request <m>: the received one, or
 * for an absolute-form target its path in origin-form (<buf> holds it). */
static struct h1_str next_hop_target(const struct h1_msg *m, char *buf, size_t cap)
{
	bool absolute = m->path.p && m->path.p != m->target.p;
	size_t n = 0;

	if (!absolute)
		return m->target;
	CHECK(m->path.p > m->target.p && m->path.p + m->path.len == m->target.p + m->target.len);
	CHECK(m->host.len > 0 && m->host.p > m->target.p && m->host.p + m->host.len == m->path.p);
	if (!m->path.len || m->path.p[0] != '/')
		buf[n++] = '/';
	CHECK(n + m->path.len <= cap);
	memcpy(buf + n, m->path.p, m->path.len);
	return (struct h1_str){buf, (uint32_t)(n + m->path.len)};
}

/* What goes to the next hop parses to the same framing. */
static void check_rebuild(bool resp, bool hr, const struct h1_msg *m)
{
	static char out[1 << 16], want_target[1 << 16];
	bool ka = !(m->flags & H1_F_CLOSE) && m->body != H1_BODY_CLOSE;
	struct h1_msg again;
	struct h1_str target = {0};
	char *copy;
	int n, r;

	if (resp) {
		n = h1_build_response(m, ka, out, sizeof(out));
	} else {
		n = h1_build_request(m, "192.0.2.1", "https", "ringlb", out, sizeof(out));
		target = next_hop_target(m, want_target, sizeof(want_target));
	}
	CHECK(n > 0);
	copy = malloc((size_t)n);
	memcpy(copy, out, (size_t)n);
	r = parse(resp, hr, &wide, copy, (size_t)n, &again);
	if (r != n) {
		fprintf(stderr, "rebuilt head does not parse (%d):\n%.*s\n", r, n, out);
		abort();
	}
	CHECK(again.body == m->body);
	CHECK(m->body != H1_BODY_LENGTH || again.content_length == m->content_length);
	CHECK(again.status == m->status && again.minor == m->minor);
	CHECK((again.flags & H1_F_UPGRADE) == (m->flags & H1_F_UPGRADE));
	if (resp) {
		CHECK(same_str(again.reason, m->reason));
		/* a 1xx but 101 goes without a Connection field */
		CHECK((m->flags & H1_F_UPGRADE) || m->status < 200 ||
		      !(again.flags & H1_F_CLOSE) == ka);
	} else {
		CHECK(same_str(again.method, m->method) && same_str(again.target, target));
		CHECK(same_str(again.path, again.target)); /* never absolute-form again */
		CHECK(same_str(again.host, m->host));
		CHECK((again.flags & H1_F_CONTINUE) == (m->flags & H1_F_CONTINUE));
	}
	h1_msg_release(&again);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h1_msg m;
	bool resp, hr;
	size_t n, k;
	char *b;
	int r;

	if (size < 2)
		return 0;
	resp = data[0] & 1;
	hr = data[0] & 2;
	n = size - 2;
	k = n ? data[1] % (n + 1) : 0;
	b = malloc(n ? n : 1);
	memcpy(b, data + 2, n);
	if ((data[0] & 0x0c) == 0x0c) { /* a chunked body alone */
		memset(&m, 0, sizeof(m));
		m.body = H1_BODY_CHUNKED;
		check_body(&m, b, n, k);
		free(b);
		return 0;
	}
	r = parse(resp, hr, &lim, b, n, &m);
	CHECK(r == 0 || r > 0 || r == -400 || r == -414 || r == -431 || r == -501 || r == -505);
	CHECK(!resp || r != -414);
	if (r > 0) {
		CHECK((uint32_t)r == m.head_len && (size_t)r <= n && (uint32_t)r <= lim.max_head);
		CHECK(m.nhdrs <= lim.max_hdrs);
		check_slices(&m, b);
		check_rebuild(resp, hr, &m);
		check_body(&m, b + r, n - (size_t)r, k);
	} else if (r < 0) {
		CHECK(m.hdrs == m.inline_hdrs && m.nhdrs == 0);
	}
	check_splits(resp, hr, b, n, k, r, &m);
	h1_msg_release(&m);
	free(b);
	return 0;
}
