/* libFuzzer harness for the response side of the HTTP/1.1 parser (core/h1.c):
 * a backend's head, how its body is framed, and the head sent to the client.
 *
 *   make fuzz FUZZ=resp SECS=300
 *
 * The first byte holds flags (bit 0: the request was HEAD; bit 1: the
 * proxy's default limits rather than small ones), the second a split point,
 * the rest is what the backend sent. ref_head() below reads the same head
 * another way, line by line from RFC 9112 (status line, fields, the framing
 * rules of 6.3, Connection's hop-by-hop list) with the strict choices
 * core/h1.h lists, and says what h1_parse() must answer: the status, or the
 * head with its status, reason, fields, hop-by-hop marks, flags, body kind and
 * length. Then the body framer must consume what that framing implies, and
 * h1_build_response() must send exactly the end-to-end fields, in order,
 * with one normalised Content-Length, in a head that parses to the same
 * framing. (fuzz_h1 covers splits and moved buffers for both sides.)
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

#define REF_MAX_HDRS 128

/* ---- the reference ---- */

static bool r_tchar(uint8_t c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* field-vchar, SP, HTAB (obs-text included) */
static bool r_vbyte(uint8_t c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool r_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

struct r_field {
	size_t name, name_len, value, value_len;
	bool hop;
};

/* What h1_parse() must answer for the whole buffer. */
struct r_head {
	int ret; /* head length, 0 (more) or -status */
	size_t at;
	unsigned status, minor;
	size_t reason, reason_len;
	struct r_field f[REF_MAX_HDRS];
	unsigned nf;
	bool has_cl, te, te_other, chunked_last, chunked_seen, chunked_twice, close, keep_alive;
	uint64_t cl;
	int body;
	uint32_t flags;
};

struct r_in {
	const uint8_t *b;
	size_t n, max_head;
	unsigned max_hdrs;
	struct r_head *h;
};

/* The decision made at byte <at>: past the head bound, the bound's 431
 * comes first (h1_parse() never looks beyond it). */
static bool r_decide(struct r_in *in, size_t at, int ret)
{
	if (at >= in->max_head)
		ret = -431;
	in->h->ret = ret;
	in->h->at = at;
	return false;
}

static bool r_more(struct r_in *in)
{
	return r_decide(in, in->n, in->n >= in->max_head ? -431 : 0);
}

/* a case-insensitive comparison with a lower-case literal */
static bool r_is(const uint8_t *s, size_t n, const char *lc)
{
	if (strlen(lc) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((s[i] >= 'A' && s[i] <= 'Z' ? s[i] | 0x20 : s[i]) != (uint8_t)lc[i])
			return false;
	return true;
}

/* Calls <fn> on each element of the comma-separated list <v>, empty ones
 * skipped; false when an element is not one token. */
static bool r_list(const uint8_t *v, size_t n, void (*fn)(void *, const uint8_t *, size_t),
                   void *arg)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (r_ows(v[i]) || v[i] == ','))
			i++;
		if (i == n)
			break;
		for (s = i; i < n && v[i] != ','; i++)
			;
		for (e = i; e > s && r_ows(v[e - 1]); e--)
			;
		for (size_t k = s; k < e; k++)
			if (!r_tchar(v[k]))
				return false;
		fn(arg, v + s, e - s);
	}
	return true;
}

static void r_te_one(void *arg, const uint8_t *t, size_t n)
{
	struct r_head *h = arg;

	if (r_is(t, n, "chunked")) {
		h->chunked_twice |= h->chunked_seen;
		h->chunked_seen = h->chunked_last = true;
	} else {
		h->chunked_last = false;
		h->te_other = true;
	}
}

static void r_conn_one(void *arg, const uint8_t *t, size_t n)
{
	struct r_head *h = arg;

	h->close |= r_is(t, n, "close");
	h->keep_alive |= r_is(t, n, "keep-alive");
}

/* Content-Length: DIGITs, or a list of equal ones, at most 2^62, the same
 * in every field. <v> has no leading or trailing OWS. */
static bool r_cl(struct r_head *h, const uint8_t *v, size_t n)
{
	size_t i = 0;

	for (;;) {
		unsigned __int128 x = 0;
		size_t s;

		for (s = i; i < n && v[i] >= '0' && v[i] <= '9'; i++)
			if ((x = x * 10 + (v[i] - '0')) > H1_CL_MAX)
				return false;
		if (i == s || (h->has_cl && x != h->cl))
			return false;
		h->cl = (uint64_t)x;
		h->has_cl = true;
		while (i < n && r_ows(v[i]))
			i++;
		if (i == n)
			return true;
		if (v[i++] != ',')
			return false;
		while (i < n && r_ows(v[i]))
			i++;
	}
}

/* What a field line means, once its LF is in. */
static bool r_field_meaning(struct r_head *h, const uint8_t *b, const struct r_field *f)
{
	const uint8_t *name = b + f->name, *v = b + f->value;

	if (r_is(name, f->name_len, "content-length"))
		return r_cl(h, v, f->value_len);
	if (r_is(name, f->name_len, "transfer-encoding")) {
		h->te = true;
		return r_list(v, f->value_len, r_te_one, h) && !h->chunked_twice;
	}
	if (r_is(name, f->name_len, "connection"))
		return r_list(v, f->value_len, r_conn_one, h);
	return true;
}

/* "HTTP/" DIGIT "." DIGIT SP 3DIGIT [SP reason] CRLF */
static bool r_status_line(struct r_in *in, size_t *ip)
{
	const uint8_t *b = in->b;
	size_t i = 0, n = in->n;
	struct r_head *h = in->h;

	for (; i < n && b[i] != ' '; i++)
		if (i == 8 || b[i] <= 0x20 || b[i] >= 0x7f)
			return r_decide(in, i, -400);
	if (i == n)
		return r_more(in);
	if (i != 8 || memcmp(b, "HTTP/", 5) || b[6] != '.' || b[5] < '0' || b[5] > '9' ||
	    b[7] < '0' || b[7] > '9')
		return r_decide(in, i, -400);
	if (b[5] != '1' || (b[7] != '0' && b[7] != '1'))
		return r_decide(in, i, -505);
	h->minor = b[7] - '0';
	for (i = 9; i < n && i < 12; i++)
		if (b[i] < '0' || b[i] > '9')
			return r_decide(in, i, -400);
	if (i == n)
		return r_more(in);
	if (b[i] != ' ' && b[i] != '\r')
		return r_decide(in, i, -400);
	h->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
	if (h->status < 100)
		return r_decide(in, i, -400);
	h->reason = i + (b[i] == ' ');
	for (i = h->reason; i < n && b[i] != '\r'; i++)
		if (!r_vbyte(b[i]))
			return r_decide(in, i, -400);
	h->reason_len = i - h->reason;
	if (i + 1 >= n)
		return r_more(in);
	if (b[i + 1] != '\n')
		return r_decide(in, i + 1, -400);
	*ip = i + 2;
	return true;
}

/* token ":" OWS value OWS CRLF */
static bool r_field_line(struct r_in *in, size_t *ip)
{
	const uint8_t *b = in->b;
	size_t i = *ip, n = in->n, e;
	struct r_head *h = in->h;
	struct r_field *f;

	if (!r_tchar(b[i]))
		return r_decide(in, i, -400);
	if (h->nf >= in->max_hdrs)
		return r_decide(in, i, -431);
	f = &h->f[h->nf];
	f->name = i;
	while (i < n && r_tchar(b[i]))
		i++;
	if (i == n)
		return r_more(in);
	if (b[i] != ':')
		return r_decide(in, i, -400);
	f->name_len = i - f->name;
	for (i++; i < n && r_ows(b[i]); i++)
		;
	f->value = i;
	for (; i < n && b[i] != '\r'; i++)
		if (!r_vbyte(b[i]))
			return r_decide(in, i, -400);
	for (e = i; e > f->value && r_ows(b[e - 1]); e--)
		;
	f->value_len = e - f->value;
	if (i + 1 >= n)
		return r_more(in);
	if (b[i + 1] != '\n')
		return r_decide(in, i + 1, -400);
	h->nf++;
	if (!r_field_meaning(h, b, f))
		return r_decide(in, i + 1, -400);
	*ip = i + 2;
	return true;
}

static bool r_eq_ci(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	if (an != bn)
		return false;
	for (size_t i = 0; i < an; i++)
		if ((a[i] >= 'A' && a[i] <= 'Z' ? a[i] | 0x20 : a[i]) !=
		    (b[i] >= 'A' && b[i] <= 'Z' ? b[i] | 0x20 : b[i]))
			return false;
	return true;
}

/* Connection's list element <t> names a field to drop: not the framing's,
 * not Host, not an option of the connection itself. */
static void r_conn_hop(struct r_head *h, const uint8_t *b, const uint8_t *t, size_t n)
{
	static const char *const keep[] = {"host",  "content-length", "transfer-encoding",
	                                   "close", "keep-alive",     "upgrade"};

	for (unsigned k = 0; k < sizeof(keep) / sizeof(keep[0]); k++)
		if (r_is(t, n, keep[k]))
			return;
	for (unsigned j = 0; j < h->nf; j++)
		if (r_eq_ci(b + h->f[j].name, h->f[j].name_len, t, n))
			h->f[j].hop = true;
}

/* The hop-by-hop fields by name (Upgrade aside on a 101), then those a
 * Connection field lists. */
static void r_hop(struct r_head *h, const uint8_t *b)
{
	static const char *const hop[] = {"connection", "keep-alive", "te",
	                                  "trailer",    "upgrade",    "proxy-connection"};

	for (unsigned i = 0; i < h->nf; i++) {
		struct r_field *f = &h->f[i];

		for (unsigned k = 0; k < sizeof(hop) / sizeof(hop[0]); k++)
			f->hop |= r_is(b + f->name, f->name_len, hop[k]);
		if (h->status == 101 && r_is(b + f->name, f->name_len, "upgrade"))
			f->hop = false;
	}
	for (unsigned c = 0; c < h->nf; c++) {
		const struct r_field *cf = &h->f[c];
		const uint8_t *v = b + cf->value;
		size_t i = 0, s;

		if (!r_is(b + cf->name, cf->name_len, "connection"))
			continue;
		for (;;) {
			while (i < cf->value_len && (r_ows(v[i]) || v[i] == ','))
				i++;
			for (s = i; i < cf->value_len && r_tchar(v[i]); i++)
				;
			if (i == s)
				break;
			r_conn_hop(h, b, v + s, i - s);
		}
	}
}

/* The framing (RFC 9112 6.3), once the empty line is in. */
static int r_framing(struct r_head *h, bool head_req)
{
	if (h->te && (h->has_cl || h->minor == 0))
		return -400;
	if (head_req || h->status < 200 || h->status == 204 || h->status == 304)
		h->body = H1_BODY_NONE;
	else if (h->te)
		h->body = h->chunked_last ? H1_BODY_CHUNKED : H1_BODY_CLOSE;
	else
		h->body = h->has_cl ? H1_BODY_LENGTH : H1_BODY_CLOSE;
	h->flags = (h->has_cl ? H1_F_HAS_CL : 0) | (head_req ? H1_F_HEAD_REQ : 0) |
	           (h->te_other ? H1_F_TE_OTHER : 0) | (h->status == 101 ? H1_F_UPGRADE : 0) |
	           (h->close || (h->minor == 0 && !h->keep_alive) ? H1_F_CLOSE : 0);
	return 0;
}

static void ref_head(struct r_in *in, bool head_req)
{
	size_t i;

	memset(in->h, 0, sizeof(*in->h));
	if (!r_status_line(in, &i))
		return;
	for (;;) {
		if (i == in->n) {
			r_more(in);
			return;
		}
		if (in->b[i] == '\r')
			break;
		if (!r_field_line(in, &i))
			return;
	}
	if (i + 1 >= in->n) {
		r_more(in);
		return;
	}
	if (in->b[i + 1] != '\n') {
		r_decide(in, i + 1, -400);
		return;
	}
	if (i + 1 >= in->max_head) {
		r_decide(in, i + 1, -431);
		return;
	}
	in->h->ret = r_framing(in->h, head_req);
	if (in->h->ret == 0) {
		in->h->ret = (int)(i + 2);
		r_hop(in->h, in->b);
	}
	in->h->at = i + 1;
}

/* ---- the checks ---- */

static bool same(struct h1_str s, const char *b, size_t off, size_t len)
{
	return s.len == len && (!len || s.p == b + off);
}

static void check_head(const struct h1_msg *m, const struct r_head *h, const char *b)
{
	CHECK(m->status == h->status && m->minor == h->minor);
	CHECK(same(m->reason, b, h->reason, h->reason_len));
	CHECK(m->nhdrs == h->nf);
	for (unsigned i = 0; i < h->nf; i++) {
		CHECK(same(m->hdrs[i].name, b, h->f[i].name, h->f[i].name_len));
		CHECK(same(m->hdrs[i].value, b, h->f[i].value, h->f[i].value_len));
		CHECK(m->hdrs[i].hop == h->f[i].hop);
	}
	CHECK(m->body == (enum h1_body)h->body && m->flags == h->flags);
	CHECK(!h->has_cl || m->content_length == h->cl);
}

/* The body after the head: what its framing says is consumed. */
static void check_body(const struct h1_msg *m, const char *b, size_t n, size_t k)
{
	struct h1_body_state s;
	bool done = false;
	int64_t r, r2 = 0;

	if (m->body == H1_BODY_CHUNKED)
		return; /* fuzz_chunked's business */
	h1_body_init(&s, m);
	if (k > n)
		k = n;
	r = h1_body_feed(&s, b, k, &done);
	if (!done)
		r2 = h1_body_feed(&s, b + r, n - (size_t)r, &done);
	switch (m->body) {
	case H1_BODY_NONE:
		CHECK(r == 0 && r2 == 0 && done);
		break;
	case H1_BODY_LENGTH:
		CHECK((uint64_t)(r + r2) == (m->content_length < n ? m->content_length : n));
		CHECK(done == (m->content_length <= n));
		break;
	default:
		CHECK((size_t)(r + r2) == n && !done);
	}
}

static bool same_text(struct h1_str s, const char *p, size_t len)
{
	return s.len == len && !memcmp(s.p, p, len);
}

/* The head to the client: the end-to-end fields in order, one normalised
 * Content-Length (neither it nor Transfer-Encoding on 1xx and 204), then
 * Connection (none on a 1xx but 101). */
static void check_rebuild(const struct h1_msg *m, bool head_req)
{
	static char out[1 << 17];
	bool ka = !(m->flags & H1_F_CLOSE) && m->body != H1_BODY_CLOSE;
	bool no_cl = m->status < 200 || m->status == 204, cl_done = false;
	bool interim = m->status < 200 && !(m->flags & H1_F_UPGRADE);
	struct h1_parser p;
	struct h1_msg again;
	char num[24];
	uint32_t j = 0;
	int n, r;

	n = h1_build_response(m, ka, out, sizeof(out));
	CHECK(n > 0);
	h1_parser_init(&p, true, &(struct h1_limits){.max_head = sizeof(out), .max_hdrs = 1000});
	if (head_req)
		p.flags |= H1_F_HEAD_REQ;
	r = h1_parse(&p, out, (size_t)n, &again);
	CHECK(r == n);
	CHECK(again.status == m->status && again.minor == m->minor && again.body == m->body);
	CHECK(m->body != H1_BODY_LENGTH || again.content_length == m->content_length);
	CHECK(same_text(again.reason, m->reason.p, m->reason.len));
	for (uint32_t i = 0; i < m->nhdrs; i++) {
		const struct h1_hdr *h = &m->hdrs[i];

		if (h->hop || (h->id == H1_H_CONTENT_LENGTH && (no_cl || cl_done)) ||
		    (h->id == H1_H_TRANSFER_ENCODING && no_cl))
			continue;
		CHECK(j < again.nhdrs);
		if (h->id == H1_H_CONTENT_LENGTH) { /* written as "Content-Length: N" */
			snprintf(num, sizeof(num), "%llu", (unsigned long long)m->content_length);
			CHECK(same_text(again.hdrs[j].name, "Content-Length", 14));
			CHECK(same_text(again.hdrs[j].value, num, strlen(num)));
			cl_done = true;
		} else {
			CHECK(same_text(again.hdrs[j].name, h->name.p, h->name.len));
			CHECK(same_text(again.hdrs[j].value, h->value.p, h->value.len));
		}
		j++;
	}
	if (interim) { /* a 1xx says nothing of the connection */
		CHECK(j == again.nhdrs);
	} else {
		CHECK(j + 1 == again.nhdrs && again.hdrs[j].id == H1_H_CONNECTION);
		CHECK((m->flags & H1_F_UPGRADE) || !(again.flags & H1_F_CLOSE) == ka);
	}
	h1_msg_release(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct r_head h;
	const struct h1_limits small = {.max_head = 2048, .max_hdrs = 24};
	bool head_req, wide;
	struct h1_parser p;
	struct h1_msg m;
	struct r_in in;
	size_t n, k;
	char *b;
	int r;

	if (size < 2)
		return 0;
	head_req = data[0] & 1;
	wide = data[0] & 2;
	n = size - 2;
	k = n ? data[1] % (n + 1) : 0;
	b = malloc(n ? n : 1);
	memcpy(b, data + 2, n);
	h1_parser_init(&p, true, wide ? NULL : &small);
	if (head_req)
		p.flags |= H1_F_HEAD_REQ;
	in = (struct r_in){(const uint8_t *)b, n, p.lim.max_head, p.lim.max_hdrs, &h};
	CHECK(p.lim.max_hdrs <= REF_MAX_HDRS);
	ref_head(&in, head_req);
	r = h1_parse(&p, b, n, &m);
	if (r != h.ret) {
		fprintf(stderr, "h1_parse answered %d, the reference %d (byte %zu)\n", r, h.ret,
		        h.at);
		abort();
	}
	if (r > 0) {
		check_head(&m, &h, b);
		check_body(&m, b + r, n - (size_t)r, k);
		check_rebuild(&m, head_req);
	}
	h1_msg_release(&m);
	free(b);
	return 0;
}
