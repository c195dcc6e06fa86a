/* libFuzzer harness for the request side of the HTTP/1.1 parser
 * (core/parse/h1.c), checked against a slow reference:
 *
 *   make fuzz FUZZ=req SECS=300
 *
 * The first byte picks the limits (tiny, small, the proxy's defaults, or
 * a field bound below the head's); the rest is what a client sent.
 * ref_req() below reads the same head another way, rule by rule from RFC
 * 9112 and 9110 (request line and its three target forms, field lines,
 * Host, Content-Length, Transfer-Encoding, Connection, Expect, Upgrade)
 * with the strict choices and bounds core/parse/h1.h documents, over the
 * whole buffer at once, and says what h1_parse() must answer: the status,
 * 0 for more, or the head with its method, target, version, host and path
 * (the authority of an absolute-form target), every field with its
 * hop-by-hop mark, the flags, the body kind and the length. fuzz_resp does
 * the same for response heads, fuzz_h1 checks splits and what the proxy
 * sends on.
 *
 * The bounds, as h1.c applies them: nothing at or past max_head is looked
 * at (431 once a head needs it); the request line (after the empty lines
 * skipped before it) is refused with 414 when it runs past max_line bytes
 * before its CR; a field line is refused with 431 when the run of its name,
 * colon, OWS and value bytes goes past max_field bytes, or when it would be
 * field number max_hdrs + 1.
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

/* ---- byte classes, from the RFCs ---- */

static bool r_alnum(uint8_t c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool r_tchar(uint8_t c) /* RFC 9110 5.6.2 */
{
	return r_alnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool r_vchar(uint8_t c)
{
	return c >= 0x21 && c <= 0x7e;
}

static bool r_vbyte(uint8_t c) /* field-vchar, SP, HTAB, obs-text */
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool r_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

/* host [":" port]: unreserved, sub-delims, ':', '[', ']', '%' (h1.h) */
static bool r_hostc(uint8_t c)
{
	return r_alnum(c) || (c && strchr("-._~!$&'()*+,;=:[]%", c));
}

static bool r_host(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!r_hostc(s[i]))
			return false;
	return true;
}

static uint8_t r_lc(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool r_is(const uint8_t *s, size_t n, const char *lc)
{
	if (strlen(lc) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (r_lc(s[i]) != (uint8_t)lc[i])
			return false;
	return true;
}

static bool r_eq_ci(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	if (an != bn)
		return false;
	for (size_t i = 0; i < an; i++)
		if (r_lc(a[i]) != r_lc(b[i]))
			return false;
	return true;
}

/* ---- the reference ---- */

struct r_field {
	size_t name, name_len, value, value_len;
	bool hop;
};

struct r_req {
	int ret; /* head length, 0 (more) or -status */
	size_t method, method_len, target, target_len;
	size_t host, host_len, path, path_len;
	bool has_host;
	unsigned minor;
	struct r_field f[REF_MAX_HDRS];
	unsigned nf, nhost;
	bool has_cl, te, te_other, chunked_last, chunked_seen, bad_list;
	bool close, keep_alive, c_upgrade, c_other, upgrade, expect;
	uint64_t cl;
	int body;
	uint32_t flags;
};

struct r_in {
	const uint8_t *b;
	size_t n;
	struct h1_limits lim;
	struct r_req *r;
};

/* The answer, decided by looking at byte <at>: h1_parse() never looks at
 * or past max_head, so there it is the bound's 431. Returns false. */
static bool r_decide(struct r_in *in, size_t at, int ret)
{
	in->r->ret = at >= in->lim.max_head ? -431 : ret;
	return false;
}

static bool r_more(struct r_in *in)
{
	return r_decide(in, in->n, 0);
}

/* The elements of a comma-separated list of tokens (empty ones skipped);
 * false when one is not a lone token. */
static bool r_tokens(const uint8_t *v, size_t n,
                     void (*fn)(struct r_req *, const uint8_t *, size_t), struct r_req *r)
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
		if (fn)
			fn(r, v + s, e - s);
	}
	return true;
}

static void r_te_one(struct r_req *r, const uint8_t *t, size_t n)
{
	if (r_is(t, n, "chunked")) {
		r->bad_list |= r->chunked_seen;
		r->chunked_seen = r->chunked_last = true;
	} else {
		r->chunked_last = false;
		r->te_other = true;
	}
}

static void r_conn_one(struct r_req *r, const uint8_t *t, size_t n)
{
	if (r_is(t, n, "close"))
		r->close = true;
	else if (r_is(t, n, "keep-alive"))
		r->keep_alive = true;
	else if (r_is(t, n, "upgrade"))
		r->c_upgrade = true;
	else
		r->c_other = true;
}

/* 1*DIGIT, or a list of equal ones, at most 2^62, equal in every field. */
static bool r_cl(struct r_req *r, const uint8_t *v, size_t n)
{
	size_t i = 0;

	for (;;) {
		unsigned __int128 x = 0;
		size_t s;

		for (s = i; i < n && v[i] >= '0' && v[i] <= '9'; i++)
			if ((x = x * 10 + (v[i] - '0')) > H1_CL_MAX)
				return false;
		if (i == s || (r->has_cl && x != r->cl))
			return false;
		r->cl = (uint64_t)x;
		r->has_cl = true;
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

/* What a field line means once its LF is in: false for a 400. */
static bool r_meaning(struct r_req *r, const uint8_t *b, struct r_field *f)
{
	const uint8_t *name = b + f->name, *v = b + f->value;
	size_t vn = f->value_len;

	if (r_is(name, f->name_len, "content-length"))
		return r_cl(r, v, vn);
	if (r_is(name, f->name_len, "transfer-encoding")) {
		r->te = true;
		return r_tokens(v, vn, r_te_one, r) && !r->bad_list;
	}
	if (r_is(name, f->name_len, "connection"))
		return r_tokens(v, vn, r_conn_one, r);
	if (r_is(name, f->name_len, "upgrade"))
		r->upgrade = true;
	if (r_is(name, f->name_len, "expect") && r_is(v, vn, "100-continue"))
		r->expect = true;
	if (r_is(name, f->name_len, "host")) {
		if (++r->nhost > 1 || !r_host(v, vn))
			return false;
		r->has_host = true;
		r->host = f->value;
		r->host_len = vn;
	}
	return true;
}

/* The target's form for the method (RFC 9112 3.2): 0 or -400. */
static int r_target_form(struct r_in *in)
{
	const uint8_t *t = in->b + in->r->target, *m = in->b + in->r->method;
	size_t n = in->r->target_len, mn = in->r->method_len, c, a, i;

	if (mn == 7 && !memcmp(m, "CONNECT", 7)) { /* host ":" port */
		for (c = n; c > 0 && t[c - 1] != ':'; c--)
			;
		if (c < 2 || n - c < 1 || n - c > 5)
			return -400;
		for (i = c; i < n; i++)
			if (t[i] < '0' || t[i] > '9')
				return -400;
		return r_host(t, c - 1) ? 0 : -400;
	}
	if (t[0] == '/')
		return 0;
	if (n == 1 && t[0] == '*')
		return mn == 7 && !memcmp(m, "OPTIONS", 7) ? 0 : -400;
	if (n > 7 && r_is(t, 7, "http://"))
		a = 7;
	else if (n > 8 && r_is(t, 8, "https://"))
		a = 8;
	else
		return -400;
	for (i = a; i < n && t[i] != '/' && t[i] != '?'; i++)
		;
	return i > a && r_host(t + a, i - a) ? 0 : -400;
}

/* method SP target SP "HTTP/1." DIGIT CR LF, after the empty lines, within
 * max_line before the CR. The line is read as if unbounded; an answer that
 * lies past the bound (a bad byte, the CR, the end) is the bound's 414. */
static bool r_request_line(struct r_in *in, size_t *ip)
{
	const uint8_t *b = in->b;
	size_t n = in->n, i = 0, line, j, bound;
	struct r_req *r = in->r;
	int bad = 0;

	for (; i + 1 < n && b[i] == '\r' && b[i + 1] == '\n'; i += 2)
		;
	if (i < n && b[i] == '\r')
		return i + 1 < n ? r_decide(in, i + 1, -400) : r_more(in);
	line = j = i;
	bound = line + in->lim.max_line;
	for (; j < n && r_tchar(b[j]); j++)
		;
	if (j < n && (b[j] != ' ' || j == line)) {
		bad = -400;
	} else if (j < n) {
		r->method = line;
		r->method_len = j - line;
		r->target = ++j;
		for (; j < n && r_vchar(b[j]); j++)
			;
		if (j < n && (b[j] != ' ' || j == r->target)) {
			bad = -400;
		} else if (j < n) {
			r->target_len = j - r->target;
			if (j <= bound && (bad = r_target_form(in)) < 0)
				return r_decide(in, j, bad);
			j++;
			/* HTTP-version: VCHARs, at most 8 of them looked at past 8 */
			size_t v = j;

			for (; j < n && j < v + 9 && r_vchar(b[j]); j++)
				;
			if (j - v > 8 || (j < n && b[j] != '\r')) {
				bad = -400;
			} else if (j < n) {
				const uint8_t *s = b + v;

				if (j - v != 8 || memcmp(s, "HTTP/", 5) || s[6] != '.' ||
				    s[5] < '0' || s[5] > '9' || s[7] < '0' || s[7] > '9')
					bad = -400;
				else if (s[5] != '1' || (s[7] != '0' && s[7] != '1'))
					bad = -505;
				else
					r->minor = s[7] - '0';
			}
		}
	}
	if (j > bound)
		return r_decide(in, bound, -414);
	if (bad)
		return r_decide(in, j, bad);
	if (j == n)
		return r_more(in);
	/* b[j] is the CR */
	if (j + 1 == n)
		return r_more(in);
	if (b[j + 1] != '\n')
		return r_decide(in, j + 1, -400);
	*ip = j + 2;
	return true;
}

/* token ":" OWS value OWS CR LF: its run (name to the end of the value)
 * at most max_field bytes. */
static bool r_field_line(struct r_in *in, size_t *ip)
{
	const uint8_t *b = in->b;
	size_t i = *ip, n = in->n, e, line = i;
	struct r_req *r = in->r;
	struct r_field *f;
	bool colon = false;

	if (!r_tchar(b[i]))
		return r_decide(in, i, -400);
	if (r->nf >= in->lim.max_hdrs)
		return r_decide(in, i, -431);
	f = &r->f[r->nf];
	f->name = i;
	for (e = i; e < n && r_tchar(b[e]); e++)
		;
	f->name_len = e - i;
	if (e < n && b[e] == ':') {
		colon = true;
		for (e++; e < n && r_ows(b[e]); e++)
			;
		f->value = e;
		for (; e < n && r_vbyte(b[e]); e++)
			;
	}
	if (e - line > in->lim.max_field)
		return r_decide(in, e, -431);
	if (e == n)
		return r_more(in);
	if (!colon || b[e] != '\r')
		return r_decide(in, e, -400);
	for (i = e; i > f->value && r_ows(b[i - 1]); i--)
		;
	f->value_len = i - f->value;
	if (e + 1 == n)
		return r_more(in);
	if (b[e + 1] != '\n')
		return r_decide(in, e + 1, -400);
	r->nf++;
	if (!r_meaning(r, b, f))
		return r_decide(in, e + 1, -400);
	*ip = e + 2;
	return true;
}

/* Hop-by-hop: the fields by name, then those Connection lists (but the
 * framing, Host and the connection's own options); Upgrade stays when
 * upgrading. */
static void r_hop(struct r_req *r, const uint8_t *b)
{
	static const char *const hop[] = {"connection", "keep-alive", "te",
	                                  "trailer",    "upgrade",    "proxy-connection"};
	static const char *const keep[] = {"host",  "content-length", "transfer-encoding",
	                                   "close", "keep-alive",     "upgrade"};

	for (unsigned i = 0; i < r->nf; i++)
		for (unsigned k = 0; k < 6; k++)
			r->f[i].hop |= r_is(b + r->f[i].name, r->f[i].name_len, hop[k]);
	for (unsigned c = 0; c < r->nf; c++) {
		const uint8_t *v = b + r->f[c].value;
		size_t i = 0, s, e, vn = r->f[c].value_len;

		if (!r_is(b + r->f[c].name, r->f[c].name_len, "connection"))
			continue;
		while (i < vn) {
			bool kept = false;

			while (i < vn && (r_ows(v[i]) || v[i] == ','))
				i++;
			for (s = i; i < vn && v[i] != ','; i++)
				;
			for (e = i; e > s && r_ows(v[e - 1]); e--)
				;
			if (e == s)
				continue;
			for (unsigned k = 0; k < 6; k++)
				kept |= r_is(v + s, e - s, keep[k]);
			for (unsigned j = 0; j < r->nf && !kept; j++)
				if (r_eq_ci(b + r->f[j].name, r->f[j].name_len, v + s, e - s))
					r->f[j].hop = true;
		}
	}
	if (r->flags & H1_F_UPGRADE)
		for (unsigned i = 0; i < r->nf; i++)
			if (r_is(b + r->f[i].name, r->f[i].name_len, "upgrade"))
				r->f[i].hop = false;
}

/* The head is complete: framing (RFC 9112 6.3, with h1.h's choices), Host,
 * CONNECT, the flags. 0 or -status. */
static int r_done(struct r_in *in)
{
	struct r_req *r = in->r;
	const uint8_t *t = in->b + r->target;
	bool connect = r->method_len == 7 && !memcmp(in->b + r->method, "CONNECT", 7);
	size_t a, i;

	if (r->te) {
		if (r->has_cl || r->minor == 0 || !r->chunked_last)
			return -400;
		if (r->te_other)
			return -501;
		r->body = H1_BODY_CHUNKED;
	} else {
		r->body = r->has_cl ? H1_BODY_LENGTH : H1_BODY_NONE;
	}
	if (r->minor == 1 && !r->nhost)
		return -400;
	if (connect && (r->has_cl || r->te))
		return -400;
	r->path = r->target;
	r->path_len = r->target_len;
	if (!connect && t[0] != '/' && !(r->target_len == 1 && t[0] == '*')) {
		a = r_lc(t[4]) == 's' ? 8 : 7;
		for (i = a; i < r->target_len && t[i] != '/' && t[i] != '?'; i++)
			;
		r->has_host = true;
		r->host = r->target + a;
		r->host_len = i - a;
		r->path = r->target + i;
		r->path_len = r->target_len - i;
	}
	r->flags = (r->has_cl ? H1_F_HAS_CL : 0) | (r->te_other ? H1_F_TE_OTHER : 0) |
	           (r->close || (r->minor == 0 && !r->keep_alive) ? H1_F_CLOSE : 0) |
	           (r->minor == 1 && r->expect ? H1_F_CONTINUE : 0) |
	           (r->minor == 1 && r->c_upgrade && r->upgrade ? H1_F_UPGRADE : 0);
	r_hop(r, in->b);
	return 0;
}

static void ref_req(struct r_in *in)
{
	size_t i;

	memset(in->r, 0, sizeof(*in->r));
	if (!r_request_line(in, &i))
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
	if (i + 1 == in->n) {
		r_more(in);
		return;
	}
	if (in->b[i + 1] != '\n') {
		r_decide(in, i + 1, -400);
		return;
	}
	if (i + 1 >= in->lim.max_head) {
		r_decide(in, i + 1, -431);
		return;
	}
	in->r->ret = r_done(in);
	if (in->r->ret == 0)
		in->r->ret = (int)(i + 2);
}

/* ---- the checks ---- */

static bool same(struct h1_str s, const char *b, size_t off, size_t len)
{
	return s.len == len && (!len || s.p == b + off);
}

static void check_head(const struct h1_msg *m, const struct r_req *r, const char *b)
{
	CHECK(same(m->method, b, r->method, r->method_len));
	CHECK(same(m->target, b, r->target, r->target_len));
	CHECK(m->minor == r->minor && m->head_len == (uint32_t)r->ret);
	CHECK(same(m->path, b, r->path, r->path_len));
	CHECK(r->has_host ? same(m->host, b, r->host, r->host_len) : !m->host.len);
	CHECK(m->is_head == (r->method_len == 4 && !memcmp(b + r->method, "HEAD", 4)));
	CHECK(m->nhdrs == r->nf);
	for (unsigned i = 0; i < r->nf; i++) {
		CHECK(same(m->hdrs[i].name, b, r->f[i].name, r->f[i].name_len));
		CHECK(same(m->hdrs[i].value, b, r->f[i].value, r->f[i].value_len));
		if (m->hdrs[i].hop != r->f[i].hop) {
			fprintf(stderr, "field %u \"%.*s\": hop %d, the reference %d\n", i,
			        (int)r->f[i].name_len, b + r->f[i].name, m->hdrs[i].hop,
			        r->f[i].hop);
			abort();
		}
	}
	if (m->body != (enum h1_body)r->body || m->flags != r->flags) {
		fprintf(stderr, "body %d flags %#x, the reference body %d flags %#x\n", m->body,
		        m->flags, r->body, r->flags);
		abort();
	}
	CHECK(!r->has_cl || m->content_length == r->cl);
}

static const struct h1_limits limits[4] = {
    {.max_line = 24, .max_head = 160, .max_hdrs = 4, .max_field = 40},
    {.max_line = 512, .max_head = 2048, .max_hdrs = 24},
    {0}, /* the defaults */
    {.max_line = 100, .max_head = 4096, .max_hdrs = 100, .max_field = 64},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct r_req r;
	struct h1_parser p;
	struct h1_msg m;
	struct r_in in;
	size_t n;
	char *b;
	int ret;

	if (size < 1)
		return 0;
	n = size - 1;
	b = malloc(n ? n : 1); /* exactly <n>: ASan sees any overread */
	memcpy(b, data + 1, n);
	h1_parser_init(&p, false, &limits[data[0] % 4]);
	CHECK(p.lim.max_hdrs <= REF_MAX_HDRS);
	in = (struct r_in){(const uint8_t *)b, n, p.lim, &r};
	ref_req(&in);
	ret = h1_parse(&p, b, n, &m);
	if (ret != r.ret) {
		fprintf(stderr, "h1_parse answered %d, the reference %d\n", ret, r.ret);
		abort();
	}
	if (ret > 0)
		check_head(&m, &r, b);
	h1_msg_release(&m);
	free(b);
	return 0;
}
