/* The HTTP/1.1 parser: one pass over the head's bytes, a state machine whose
 * states each run a tight loop over a character class of h1_cls[], resumed
 * where the previous call stopped. A header line is interpreted when its CR
 * LF is seen; the framing is decided when the head ends. See core/h1.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse/h1.h"
#include "core/mem/pool.h"

/* Character classes. */
#define C_T 0x01 /* tchar: header names, methods, list tokens */
#define C_V 0x02 /* field value: HTAB, SP, VCHAR, obs-text */
#define C_U 0x04 /* VCHAR: request-target, version */
#define C_X 0x08 /* hex digit */
#define C_D 0x10 /* digit */
#define C_H 0x20 /* host: unreserved, sub-delims, ':', '[', ']', '%' */
#define C_W 0x40 /* OWS: SP, HTAB */

/* clang-format off */
#define ___ 0
#define OWS (C_V | C_W)
#define VU_ (C_V | C_U)             /* VCHAR, no token */
#define VUH (C_V | C_U | C_H)       /* VCHAR, host, no token */
#define TVU (C_T | C_V | C_U)       /* token, no host */
#define TUH (C_T | C_V | C_U | C_H) /* token, host */
#define TXH (TUH | C_X)             /* hex letter */
#define DIG (TXH | C_D)
#define OBS C_V                     /* obs-text */
static const uint8_t h1_cls[256] = {
	___, ___, ___, ___, ___, ___, ___, ___, ___, OWS, ___, ___, ___, ___, ___, ___, /* 0x00 */
	___, ___, ___, ___, ___, ___, ___, ___, ___, ___, ___, ___, ___, ___, ___, ___, /* 0x10 */
	OWS, TUH, VU_, TVU, TUH, TUH, TUH, TUH, VUH, VUH, TUH, TUH, VUH, TUH, TUH, VU_, /* 0x20 */
	DIG, DIG, DIG, DIG, DIG, DIG, DIG, DIG, DIG, DIG, VUH, VUH, VU_, VUH, VU_, VU_, /* 0x30 */
	VU_, TXH, TXH, TXH, TXH, TXH, TXH, TUH, TUH, TUH, TUH, TUH, TUH, TUH, TUH, TUH, /* 0x40 */
	TUH, TUH, TUH, TUH, TUH, TUH, TUH, TUH, TUH, TUH, TUH, VUH, VU_, VUH, TVU, TUH, /* 0x50 */
	TVU, TXH, TXH, TXH, TXH, TXH, TXH, TUH, TUH, TUH, TUH, TUH, TUH, TUH, TUH, TUH, /* 0x60 */
	TUH, TUH, TUH, TUH, TUH, TUH, TUH, TUH, TUH, TUH, TUH, VU_, TVU, VU_, TUH, ___, /* 0x70 */
	OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, /* 0x80 */
	OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, /* 0x90 */
	OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, /* 0xa0 */
	OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, /* 0xb0 */
	OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, /* 0xc0 */
	OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, /* 0xd0 */
	OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, /* 0xe0 */
	OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, OBS, /* 0xf0 */
};
#undef ___
#undef OWS
#undef VU_
#undef VUH
#undef TVU
#undef TUH
#undef TXH
#undef DIG
#undef OBS
/* clang-format on */

/* Parser states. */
enum {
	S_START,    /* request: before the request line (empty lines skipped) */
	S_START_LF, /* request: the LF of an empty line */
	S_METHOD,
	S_TARGET,
	S_VERSION,
	S_R_VERSION, /* response: status line */
	S_R_STATUS,
	S_R_REASON,
	S_RL_LF, /* the LF of the start line */
	S_HDR,   /* start of a header line, or the CR of the empty line */
	S_NAME,
	S_OWS,
	S_VALUE,
	S_HDR_LF,
	S_END_LF,
	S_DONE,
	S_ERROR,
};

/* pflags: what the head said so far. */
#define H1__P_STARTED    0x0001
#define H1__P_CL         0x0002 /* Content-Length seen: p->cl */
#define H1__P_TE         0x0004 /* Transfer-Encoding seen */
#define H1__P_TE_CHUNKED 0x0008 /* chunked among its codings */
#define H1__P_TE_LAST    0x0010 /* chunked is the last coding so far */
#define H1__P_TE_OTHER   0x0020 /* a coding other than chunked */
#define H1__P_C_CLOSE    0x0040 /* Connection: close */
#define H1__P_C_KA       0x0080 /* Connection: keep-alive */
#define H1__P_C_UPGRADE  0x0100 /* Connection: upgrade */
#define H1__P_C_OTHER    0x0200 /* Connection lists other names */
#define H1__P_UPGRADE    0x0400 /* Upgrade header */
#define H1__P_EXPECT     0x0800 /* Expect: 100-continue */

/* Header names by length, then their ids (0 ends a list). */
static const char *const h1_names[H1_H_NHDR] = {
    [H1_H_OTHER] = "",
    [H1_H_HOST] = "host",
    [H1_H_CONTENT_LENGTH] = "content-length",
    [H1_H_TRANSFER_ENCODING] = "transfer-encoding",
    [H1_H_CONNECTION] = "connection",
    [H1_H_KEEP_ALIVE] = "keep-alive",
    [H1_H_TE] = "te",
    [H1_H_TRAILER] = "trailer",
    [H1_H_UPGRADE] = "upgrade",
    [H1_H_PROXY_CONNECTION] = "proxy-connection",
    [H1_H_EXPECT] = "expect",
    [H1_H_AUTHORIZATION] = "authorization",
    [H1_H_COOKIE] = "cookie",
    [H1_H_SET_COOKIE] = "set-cookie",
    [H1_H_X_FORWARDED_FOR] = "x-forwarded-for",
    [H1_H_X_FORWARDED_PROTO] = "x-forwarded-proto",
    [H1_H_X_REAL_IP] = "x-real-ip",
    [H1_H_VIA] = "via",
    [H1_H_CONTENT_TYPE] = "content-type",
    [H1_H_USER_AGENT] = "user-agent",
    [H1_H_ACCEPT] = "accept",
    [H1_H_DATE] = "date",
    [H1_H_SERVER] = "server",
    [H1_H_CACHE_CONTROL] = "cache-control",
    [H1_H_ACCEPT_ENCODING] = "accept-encoding",
    [H1_H_CONTENT_ENCODING] = "content-encoding",
    [H1_H_PROXY_AUTHORIZATION] = "proxy-authorization",
};

#define H1__NAME_MAX 19

static const uint8_t h1_by_len[H1__NAME_MAX + 1][5] = {
    [2] = {H1_H_TE},
    [3] = {H1_H_VIA},
    [4] = {H1_H_HOST, H1_H_DATE},
    [6] = {H1_H_COOKIE, H1_H_ACCEPT, H1_H_EXPECT, H1_H_SERVER},
    [7] = {H1_H_UPGRADE, H1_H_TRAILER},
    [9] = {H1_H_X_REAL_IP},
    [10] = {H1_H_CONNECTION, H1_H_USER_AGENT, H1_H_KEEP_ALIVE, H1_H_SET_COOKIE},
    [12] = {H1_H_CONTENT_TYPE},
    [13] = {H1_H_AUTHORIZATION, H1_H_CACHE_CONTROL},
    [14] = {H1_H_CONTENT_LENGTH},
    [15] = {H1_H_X_FORWARDED_FOR, H1_H_ACCEPT_ENCODING},
    [16] = {H1_H_PROXY_CONNECTION, H1_H_CONTENT_ENCODING},
    [17] = {H1_H_TRANSFER_ENCODING, H1_H_X_FORWARDED_PROTO},
    [19] = {H1_H_PROXY_AUTHORIZATION},
};

static const uint8_t h1_hop_ids[H1_H_NHDR] = {
    [H1_H_CONNECTION] = 1, [H1_H_KEEP_ALIVE] = 1, [H1_H_TE] = 1,
    [H1_H_TRAILER] = 1,    [H1_H_UPGRADE] = 1,    [H1_H_PROXY_CONNECTION] = 1,
};

static inline bool h1__is(uint8_t c, uint8_t cls)
{
	return h1_cls[c] & cls;
}

static inline size_t h1__span(const char *buf, size_t i, size_t end, uint8_t cls)
{
	while (i < end && h1__is((uint8_t)buf[i], cls))
		i++;
	return i;
}

/* Word-at-a-time spans for the long runs (values, targets): a word whose
 * eight bytes are all in the class is skipped at once; any other word (a
 * HTAB in a value, the end of the run) is finished byte by byte. */
#define H1__ONES  UINT64_C(0x0101010101010101)
#define H1__HIGHS UINT64_C(0x8080808080808080)

/* Some byte of x is below n (n <= 128). */
static inline uint64_t h1__less(uint64_t x, uint8_t n)
{
	return (x - H1__ONES * n) & ~x & H1__HIGHS;
}

/* Some byte of x is 0x7f (DEL). */
static inline uint64_t h1__del(uint64_t x)
{
	uint64_t y = x ^ (H1__ONES * 0x7f);

	return (y - H1__ONES) & ~y & H1__HIGHS;
}

static inline uint64_t h1__word(const char *p)
{
	uint64_t x;

	memcpy(&x, p, sizeof(x));
	return x;
}

/* C_V: SP..0x7e and obs-text go by words, HTAB by bytes. */
static inline size_t h1__span_value(const char *buf, size_t i, size_t end)
{
	uint64_t x;

	while (i + 8 <= end) {
		x = h1__word(buf + i);
		if (h1__less(x, 0x20) | h1__del(x))
			break;
		i += 8;
	}
	return h1__span(buf, i, end, C_V);
}

/* C_U: 0x21..0x7e. */
static inline size_t h1__span_vchar(const char *buf, size_t i, size_t end)
{
	uint64_t x;

	while (i + 8 <= end) {
		x = h1__word(buf + i);
		if (h1__less(x, 0x21) | h1__del(x) | (x & H1__HIGHS))
			break;
		i += 8;
	}
	return h1__span(buf, i, end, C_U);
}

static inline uint8_t h1__lc(uint8_t c)
{
	return c | ((uint8_t)(c - 'A') < 26) << 5;
}

/* <s> (any case) equals the lower-case <lc> of length <n>. */
static bool h1__eq_lc(const char *s, size_t len, const char *lc, size_t n)
{
	size_t i;

	if (len != n)
		return false;
	for (i = 0; i < n; i++)
		if (h1__lc((uint8_t)s[i]) != (uint8_t)lc[i])
			return false;
	return true;
}

/* <a> and <b> are equal but for case. */
static bool h1__eq_ci(struct h1_str a, struct h1_str b)
{
	uint32_t i;

	if (a.len != b.len)
		return false;
	for (i = 0; i < a.len; i++)
		if (h1__lc((uint8_t)a.p[i]) != h1__lc((uint8_t)b.p[i]))
			return false;
	return true;
}

#define H1__EQ(str, lit) h1__eq_lc((str).p, (str).len, lit, sizeof(lit) - 1)

static inline struct h1_str h1__str(const char *buf, size_t from, size_t to)
{
	return (struct h1_str){buf + from, (uint32_t)(to - from)};
}

enum h1_hdr_id h1_hdr_lookup(const char *name, size_t len)
{
	const uint8_t *ids;
	uint8_t c0;

	if (len > H1__NAME_MAX || len == 0)
		return H1_H_OTHER;
	c0 = h1__lc((uint8_t)name[0]);
	for (ids = h1_by_len[len]; *ids; ids++)
		if ((uint8_t)h1_names[*ids][0] == c0 && h1__eq_lc(name, len, h1_names[*ids], len))
			return *ids;
	return H1_H_OTHER;
}

const char *h1_hdr_name(enum h1_hdr_id id)
{
	return (unsigned)id < H1_H_NHDR ? h1_names[id] : "";
}

int h1_msg_find(const struct h1_msg *m, enum h1_hdr_id id, uint32_t from)
{
	uint32_t i;

	for (i = from; i < m->nhdrs; i++)
		if (m->hdrs[i].id == id)
			return (int)i;
	return -1;
}

void h1_parser_init(struct h1_parser *p, bool response, const struct h1_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->response = response;
	p->state = response ? S_R_VERSION : S_START;
	if (lim)
		p->lim = *lim;
	if (!p->lim.max_line)
		p->lim.max_line = H1_DEF_MAX_LINE;
	if (!p->lim.max_head)
		p->lim.max_head = H1_DEF_MAX_HEAD;
	if (!p->lim.max_hdrs)
		p->lim.max_hdrs = H1_DEF_MAX_HDRS;
	if (!p->lim.max_field)
		p->lim.max_field = p->lim.max_head;
	if (p->lim.max_head > INT_MAX) /* the head length is returned as an int */
		p->lim.max_head = INT_MAX;
}

static void h1__msg_init(struct h1_msg *m)
{
	m->method = m->target = m->reason = m->host = m->path = (struct h1_str){NULL, 0};
	m->is_head = m->is_connect = false;
	m->status = 0;
	m->minor = 0;
	m->flags = 0;
	m->body = H1_BODY_NONE;
	m->content_length = 0;
	m->hdrs = m->inline_hdrs;
	m->nhdrs = 0;
	m->cap = H1_INLINE_HDRS;
	m->head_len = 0;
}

void h1_msg_release(struct h1_msg *m)
{
	if (m->hdrs && m->hdrs != m->inline_hdrs)
		free(m->hdrs);
	m->hdrs = m->inline_hdrs;
	m->nhdrs = 0;
	m->cap = H1_INLINE_HDRS;
}

void h1_msg_wipe(struct h1_msg *m, char *buf)
{
	uint32_t i;

	for (i = 0; i < m->nhdrs; i++) {
		struct h1_hdr *h = &m->hdrs[i];

		if (h->id == H1_H_AUTHORIZATION || h->id == H1_H_COOKIE ||
		    h->id == H1_H_PROXY_AUTHORIZATION)
			pool_wipe(buf + (h->value.p - buf), h->value.len);
	}
}

static void h1__move(struct h1_str *s, uintptr_t from, uintptr_t to)
{
	if (s->p)
		s->p = (const char *)((uintptr_t)s->p - from + to);
}

/* The buffer moved from <from> to <to> (same bytes): moves every slice. */
static void h1__rebase(struct h1_msg *m, const char *from, const char *to)
{
	uintptr_t f = (uintptr_t)from, t = (uintptr_t)to;
	uint32_t i;

	h1__move(&m->method, f, t);
	h1__move(&m->target, f, t);
	h1__move(&m->reason, f, t);
	h1__move(&m->host, f, t);
	h1__move(&m->path, f, t);
	for (i = 0; i < m->nhdrs; i++) {
		h1__move(&m->hdrs[i].name, f, t);
		h1__move(&m->hdrs[i].value, f, t);
	}
}

/* "HTTP/1.0" or "HTTP/1.1": the minor; another HTTP/x.y: -505; else -400. */
static int h1__version(const char *s, size_t n)
{
	if (n != 8 || memcmp(s, "HTTP/", 5) || !h1__is(s[5], C_D) || s[6] != '.' ||
	    !h1__is(s[7], C_D))
		return -400;
	if (s[5] == '1' && (s[7] == '0' || s[7] == '1'))
		return s[7] - '0';
	return -505;
}

/* host [":" port] of an authority, nothing else (no userinfo). */
static bool h1__host_ok(const char *s, size_t n)
{
	return h1__span(s, 0, n, C_H) == n;
}

/* authority-form, for CONNECT: host ":" port. */
static bool h1__authority_ok(struct h1_str t)
{
	size_t c = t.len, port;

	while (c > 0 && t.p[c - 1] != ':')
		c--;
	if (c < 2) /* no colon, or an empty host */
		return false;
	port = t.len - c;
	if (port == 0 || port > 5 || h1__span(t.p, c, t.len, C_D) != t.len)
		return false;
	return h1__host_ok(t.p, c - 1);
}

/* absolute-form: "http://" or "https://", a non-empty authority, then a
 * path, a query or nothing. */
static bool h1__absolute_ok(struct h1_str t)
{
	size_t i, a;

	if (t.len > 7 && h1__eq_lc(t.p, 7, "http://", 7))
		i = 7;
	else if (t.len > 8 && h1__eq_lc(t.p, 8, "https://", 8))
		i = 8;
	else
		return false;
	a = i;
	while (i < t.len && t.p[i] != '/' && t.p[i] != '?')
		i++;
	return i > a && h1__host_ok(t.p + a, i - a);
}

/* The request-target form the method allows (RFC 9112 3.2). */
static int h1__target(const struct h1_msg *m)
{
	struct h1_str t = m->target;

	if (m->is_connect)
		return h1__authority_ok(t) ? 0 : -400;
	if (t.p[0] == '/')
		return 0;
	if (t.len == 1 && t.p[0] == '*')
		return m->method.len == 7 && !memcmp(m->method.p, "OPTIONS", 7) ? 0 : -400;
	return h1__absolute_ok(t) ? 0 : -400;
}

static void h1__method(struct h1_msg *m)
{
	m->is_head = m->method.len == 4 && !memcmp(m->method.p, "HEAD", 4);
	m->is_connect = m->method.len == 7 && !memcmp(m->method.p, "CONNECT", 7);
}

/* The next element of a comma-separated list of tokens in v from *i
 * (RFC 9110 5.6.1: empty elements skipped). Returns 1 with *tok, 0 at the
 * end, -400 if an element is not a lone token. */
static int h1__list_next(struct h1_str v, size_t *i, struct h1_str *tok)
{
	size_t j = *i, s;

	for (;;) {
		j = h1__span(v.p, j, v.len, C_W);
		if (j == v.len) {
			*i = j;
			return 0;
		}
		if (v.p[j] != ',')
			break;
		j++;
	}
	s = j;
	j = h1__span(v.p, j, v.len, C_T);
	if (j == s)
		return -400;
	*tok = h1__str(v.p, s, j);
	j = h1__span(v.p, j, v.len, C_W);
	if (j < v.len && v.p[j] != ',')
		return -400;
	*i = j;
	return 1;
}

/* Content-Length: 1*DIGIT, or a list of identical values (taken as one). */
static int h1__cl(struct h1_parser *p, struct h1_str v)
{
	size_t i = 0, s;
	uint64_t n;

	for (;;) {
		for (s = i, n = 0; i < v.len && h1__is(v.p[i], C_D); i++) {
			if (n > (H1_CL_MAX - (v.p[i] - '0')) / 10)
				return -400;
			n = n * 10 + (v.p[i] - '0');
		}
		if (i == s || ((p->pflags & H1__P_CL) && n != p->cl))
			return -400;
		p->cl = n;
		p->pflags |= H1__P_CL;
		i = h1__span(v.p, i, v.len, C_W);
		if (i == v.len)
			return 0;
		if (v.p[i] != ',')
			return -400;
		i = h1__span(v.p, i + 1, v.len, C_W);
	}
}

/* Transfer-Encoding: codings in order, over all its fields. */
static int h1__te(struct h1_parser *p, struct h1_str v)
{
	struct h1_str tok;
	size_t i = 0;
	int ret;

	p->pflags |= H1__P_TE;
	while ((ret = h1__list_next(v, &i, &tok)) > 0) {
		if (!H1__EQ(tok, "chunked")) {
			p->pflags = (p->pflags | H1__P_TE_OTHER) & ~H1__P_TE_LAST;
			continue;
		}
		if (p->pflags & H1__P_TE_CHUNKED)
			return -400; /* chunked twice */
		p->pflags |= H1__P_TE_CHUNKED | H1__P_TE_LAST;
	}
	return ret;
}

static int h1__conn(struct h1_parser *p, struct h1_str v)
{
	struct h1_str tok;
	size_t i = 0;
	int ret;

	while ((ret = h1__list_next(v, &i, &tok)) > 0) {
		if (H1__EQ(tok, "close"))
			p->pflags |= H1__P_C_CLOSE;
		else if (H1__EQ(tok, "keep-alive"))
			p->pflags |= H1__P_C_KA;
		else if (H1__EQ(tok, "upgrade"))
			p->pflags |= H1__P_C_UPGRADE;
		else
			p->pflags |= H1__P_C_OTHER;
	}
	return ret;
}

/* What a known header says, as soon as its line ends. */
static int h1__known(struct h1_parser *p, struct h1_msg *m, const struct h1_hdr *h)
{
	switch (h->id) {
	case H1_H_CONTENT_LENGTH:
		return h1__cl(p, h->value);
	case H1_H_TRANSFER_ENCODING:
		return h1__te(p, h->value);
	case H1_H_CONNECTION:
		return h1__conn(p, h->value);
	case H1_H_UPGRADE:
		p->pflags |= H1__P_UPGRADE;
		return 0;
	case H1_H_HOST:
		if (p->response)
			return 0;
		if (++p->nhost > 1 || !h1__host_ok(h->value.p, h->value.len))
			return -400;
		m->host = h->value;
		return 0;
	case H1_H_EXPECT:
		if (H1__EQ(h->value, "100-continue"))
			p->pflags |= H1__P_EXPECT;
		return 0;
	default:
		return 0;
	}
}

static int h1__spill(struct h1_msg *m)
{
	uint32_t cap = m->cap * 2;
	struct h1_hdr *h;

	if (m->hdrs == m->inline_hdrs) {
		h = malloc(cap * sizeof(*h));
		if (h)
			memcpy(h, m->inline_hdrs, sizeof(m->inline_hdrs));
	} else {
		h = realloc(m->hdrs, cap * sizeof(*h));
	}
	if (!h)
		return -500;
	m->hdrs = h;
	m->cap = cap;
	return 0;
}

/* The header line [p->line, p->vend) ended with CR LF: stores and reads it. */
static int h1__hdr(struct h1_parser *p, const char *buf, struct h1_msg *m)
{
	struct h1_hdr *h;

	if (m->nhdrs == m->cap && h1__spill(m) < 0)
		return -500;
	h = &m->hdrs[m->nhdrs++];
	h->name = h1__str(buf, p->line, p->colon);
	h->value = h1__str(buf, p->mark, p->vend);
	h->id = h1_hdr_lookup(h->name.p, h->name.len);
	h->hop = h1_hop_ids[h->id];
	return h->id ? h1__known(p, m, h) : 0;
}

/* Marks hop-by-hop every header a Connection field names (RFC 9110 7.6.1),
 * except the framing, which is never dropped on a client's word. */
static void h1__conn_hop(struct h1_msg *m)
{
	struct h1_str tok;
	uint32_t i, j;
	size_t k;
	int c = -1;

	while ((c = h1_msg_find(m, H1_H_CONNECTION, c + 1)) >= 0) {
		for (k = 0; h1__list_next(m->hdrs[c].value, &k, &tok) > 0;) {
			i = h1_hdr_lookup(tok.p, tok.len);
			if (i == H1_H_HOST || i == H1_H_CONTENT_LENGTH ||
			    i == H1_H_TRANSFER_ENCODING || H1__EQ(tok, "close") ||
			    H1__EQ(tok, "keep-alive") || H1__EQ(tok, "upgrade"))
				continue;
			for (j = 0; j < m->nhdrs; j++)
				if (m->hdrs[j].id == i && (i || h1__eq_ci(m->hdrs[j].name, tok)))
					m->hdrs[j].hop = 1;
		}
	}
}

/* Content-Length and Transfer-Encoding decide the body (RFC 9112 6.3). */
static int h1__framing(const struct h1_parser *p, struct h1_msg *m)
{
	uint32_t f = p->pflags;

	if (f & H1__P_CL) {
		m->flags |= H1_F_HAS_CL;
		m->content_length = p->cl;
	}
	if (f & H1__P_TE_OTHER)
		m->flags |= H1_F_TE_OTHER;
	if (!(f & H1__P_TE)) {
		m->body = f & H1__P_CL ? H1_BODY_LENGTH : H1_BODY_NONE;
		return 0;
	}
	if ((f & H1__P_CL) || m->minor == 0)
		return -400;
	if (f & H1__P_TE_LAST)
		m->body = H1_BODY_CHUNKED;
	else if (p->response)
		m->body = H1_BODY_CLOSE;
	else
		return -400;
	return !p->response && (f & H1__P_TE_OTHER) ? -501 : 0;
}

/* What routing looks at: an absolute-form target names the host itself,
 * and a recipient uses it in place of the Host header (RFC 9112 3.2.2);
 * the path is what follows the authority (empty when nothing does: read
 * as "/"). The target was checked by h1__target(). */
static void h1__route_parts(struct h1_msg *m)
{
	struct h1_str t = m->target;
	size_t i, a;

	m->path = t;
	if (m->is_connect || t.p[0] == '/' || (t.len == 1 && t.p[0] == '*'))
		return;
	a = t.p[4] == 's' || t.p[4] == 'S' ? 8 : 7;
	for (i = a; i < t.len && t.p[i] != '/' && t.p[i] != '?'; i++)
		;
	m->host = (struct h1_str){t.p + a, (uint32_t)(i - a)};
	m->path = (struct h1_str){t.p + i, (uint32_t)(t.len - i)};
}

static int h1__req_done(const struct h1_parser *p, struct h1_msg *m)
{
	uint32_t upg = H1__P_C_UPGRADE | H1__P_UPGRADE;
	int ret = h1__framing(p, m);

	if (ret < 0)
		return ret;
	if (m->minor == 1 && !p->nhost)
		return -400;
	h1__route_parts(m);
	if (m->is_connect && (p->pflags & (H1__P_CL | H1__P_TE)))
		return -400;
	if (m->minor == 1 && (p->pflags & H1__P_EXPECT))
		m->flags |= H1_F_CONTINUE;
	/* An HTTP/1.0 request's Upgrade is ignored (RFC 9110 7.8): it stays
	 * hop-by-hop, and a 101 to it is no answer to anything. */
	if (m->minor == 1 && (p->pflags & upg) == upg)
		m->flags |= H1_F_UPGRADE;
	return 0;
}

static int h1__resp_done(const struct h1_parser *p, struct h1_msg *m)
{
	int ret = h1__framing(p, m);

	if (ret < 0)
		return ret;
	m->flags |= p->flags & H1_F_HEAD_REQ;
	if (!h1_status_has_body(m->status) || (m->flags & H1_F_HEAD_REQ))
		m->body = H1_BODY_NONE;
	else if (m->body == H1_BODY_NONE)
		m->body = H1_BODY_CLOSE;
	if (m->status == 101)
		m->flags |= H1_F_UPGRADE;
	return 0;
}

/* The empty line ended the head: the framing, flags and hop-by-hop marks. */
static int h1__head_done(const struct h1_parser *p, struct h1_msg *m)
{
	uint32_t f = p->pflags;
	int ret = p->response ? h1__resp_done(p, m) : h1__req_done(p, m);
	int u;

	if (ret < 0)
		return ret;
	if ((f & H1__P_C_CLOSE) || (m->minor == 0 && !(f & H1__P_C_KA)))
		m->flags |= H1_F_CLOSE;
	if (f & H1__P_C_OTHER)
		h1__conn_hop(m);
	if (m->flags & H1_F_UPGRADE)
		for (u = -1; (u = h1_msg_find(m, H1_H_UPGRADE, u + 1)) >= 0;)
			m->hdrs[u].hop = 0;
	return 0;
}

/* How far a span of the request line may go: max_line bytes before its CR,
 * so one byte more is one too many. */
static inline size_t h1__min(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* The HTTP-version from p->mark, spanned from *ip up to <lim>, ended by
 * <term>: 1 with m->minor set and *ip at <term>, 0 when the buffer (<end>)
 * ends first, < 0 (the status) when it is no version. */
static int h1__version_to(const struct h1_parser *p, struct h1_msg *m, const char *buf, size_t *ip,
                          size_t lim, size_t end, char term)
{
	size_t i = h1__span(buf, *ip, h1__min(lim, p->mark + 9), C_U);
	int ret;

	*ip = i;
	if (i - p->mark > 8)
		return -400;
	if (i == end)
		return 0;
	if (buf[i] != term)
		return -400;
	if ((ret = h1__version(buf + p->mark, i - p->mark)) < 0)
		return ret;
	m->minor = (uint8_t)ret;
	return 1;
}

static inline size_t h1__rl_end(const struct h1_parser *p, size_t end)
{
	size_t e = (size_t)p->line + p->lim.max_line + 1;

	return e < end ? e : end;
}

/* A line's CR was seen at buf[i]: the header value ends before its OWS. */
static void h1__value_end(struct h1_parser *p, const char *buf, size_t i)
{
	while (i > p->mark && h1__is(buf[i - 1], C_W))
		i--;
	p->vend = i;
}

static int h1__status(struct h1_parser *p, const char *buf, size_t i, struct h1_msg *m)
{
	const char *s = buf + p->mark;

	if (i - p->mark != 3 || (buf[i] != ' ' && buf[i] != '\r'))
		return -400;
	m->status = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	if (m->status < 100)
		return -400;
	if (buf[i] == '\r') {
		m->reason = h1__str(buf, i, i);
		p->state = S_RL_LF;
	} else {
		p->mark = i + 1;
		p->state = S_R_REASON;
	}
	return 0;
}

/* The state machine, from p->pos up to <end>: each state spans its class,
 * then decides on the byte that stopped it. An error is decided by the
 * first byte that makes the head invalid, so any split of the bytes gives
 * the same answer. Returns the head length, 0 (more), or -STATUS. */
static int h1__run(struct h1_parser *p, const char *buf, size_t end, struct h1_msg *m)
{
	size_t i = p->pos;
	int ret;

	while (i < end) {
		switch (p->state) {
		case S_START:
			if (buf[i] == '\r') {
				p->state = S_START_LF;
				i++;
				break;
			}
			p->line = p->mark = i;
			p->state = S_METHOD;
			break;
		case S_START_LF:
			if (buf[i++] != '\n')
				return -400;
			p->state = S_START;
			break;
		case S_METHOD:
			i = h1__span(buf, i, h1__rl_end(p, end), C_T);
			if (i - p->line > p->lim.max_line)
				return -414;
			if (i == end)
				break;
			if (buf[i] != ' ' || i == p->mark)
				return -400;
			m->method = h1__str(buf, p->mark, i);
			h1__method(m);
			p->mark = ++i;
			p->state = S_TARGET;
			break;
		case S_TARGET:
			i = h1__span_vchar(buf, i, h1__rl_end(p, end));
			if (i - p->line > p->lim.max_line)
				return -414;
			if (i == end)
				break;
			if (buf[i] != ' ' || i == p->mark)
				return -400;
			m->target = h1__str(buf, p->mark, i);
			if ((ret = h1__target(m)) < 0)
				return ret;
			p->mark = ++i;
			p->state = S_VERSION;
			break;
		case S_VERSION:
			ret = h1__version_to(p, m, buf, &i, h1__rl_end(p, end), end, '\r');
			if (i - p->line > p->lim.max_line)
				return -414;
			if (ret <= 0) {
				if (ret < 0)
					return ret;
				break;
			}
			p->state = S_RL_LF;
			i++;
			break;
		case S_R_VERSION:
			if ((ret = h1__version_to(p, m, buf, &i, end, end, ' ')) <= 0) {
				if (ret < 0)
					return ret;
				break;
			}
			p->mark = ++i;
			p->state = S_R_STATUS;
			break;
		case S_R_STATUS:
			i = h1__span(buf, i, h1__min(end, p->mark + 4), C_D);
			if (i - p->mark > 3)
				return -400;
			if (i == end)
				break;
			if ((ret = h1__status(p, buf, i, m)) < 0)
				return ret;
			i++;
			break;
		case S_R_REASON:
			i = h1__span_value(buf, i, end);
			if (i - p->line > p->lim.max_field)
				return -431;
			if (i == end)
				break;
			if (buf[i] != '\r')
				return -400;
			m->reason = h1__str(buf, p->mark, i);
			p->state = S_RL_LF;
			i++;
			break;
		case S_RL_LF:
			if (buf[i++] != '\n')
				return -400;
			p->state = S_HDR;
			break;
		case S_HDR:
			if (buf[i] == '\r') {
				p->state = S_END_LF;
				i++;
				break;
			}
			if (!h1__is(buf[i], C_T)) /* obs-fold, whitespace, CTL, ':' */
				return -400;
			if (m->nhdrs >= p->lim.max_hdrs)
				return -431;
			p->line = i;
			p->state = S_NAME;
			break;
		case S_NAME:
			i = h1__span(buf, i, end, C_T);
			if (i - p->line > p->lim.max_field)
				return -431;
			if (i == end)
				break;
			if (buf[i] != ':')
				return -400;
			p->colon = i++;
			p->state = S_OWS;
			break;
		case S_OWS:
			i = h1__span(buf, i, end, C_W);
			if (i - p->line > p->lim.max_field)
				return -431;
			p->mark = i;
			if (i < end)
				p->state = S_VALUE;
			break;
		case S_VALUE:
			i = h1__span_value(buf, i, end);
			if (i - p->line > p->lim.max_field)
				return -431;
			if (i == end)
				break;
			if (buf[i] != '\r')
				return -400;
			h1__value_end(p, buf, i++);
			p->state = S_HDR_LF;
			break;
		case S_HDR_LF:
			if (buf[i++] != '\n')
				return -400;
			if ((ret = h1__hdr(p, buf, m)) < 0)
				return ret;
			p->state = S_HDR;
			break;
		case S_END_LF:
			if (buf[i++] != '\n')
				return -400;
			p->pos = m->head_len = i;
			ret = h1__head_done(p, m);
			return ret < 0 ? ret : (int)i;
		}
	}
	/* The buffer ended right after a separator of the request line: the
	 * line may already be past max_line, and no byte is left to say so. */
	if ((p->state == S_TARGET || p->state == S_VERSION) && i - p->line > p->lim.max_line)
		return -414;
	/* The same for a field line ending the buffer at its colon. */
	if (p->state == S_OWS && i - p->line > p->lim.max_field)
		return -431;
	p->pos = i;
	return 0;
}

int h1_parse(struct h1_parser *p, const char *buf, size_t len, struct h1_msg *m)
{
	size_t end = len < p->lim.max_head ? len : p->lim.max_head;
	int ret;

	if (!(p->pflags & H1__P_STARTED)) {
		h1__msg_init(m);
		p->pflags |= H1__P_STARTED;
	} else if (buf != p->base) {
		h1__rebase(m, p->base, buf);
	}
	p->base = buf;
	if (p->state == S_DONE)
		return (int)m->head_len;
	if (p->state == S_ERROR)
		return p->err;
	ret = h1__run(p, buf, end, m);
	if (ret == 0 && p->pos >= p->lim.max_head)
		ret = -431;
	if (ret > 0) {
		p->state = S_DONE;
	} else if (ret < 0) {
		p->state = S_ERROR;
		p->err = ret;
		h1_msg_release(m);
	}
	return ret;
}

/* Chunked body states. */
enum {
	B_SIZE0, /* the first hex digit of a chunk size */
	B_SIZE,
	B_SIZE_WS, /* BWS before a ';' */
	B_EXT,
	B_SIZE_LF,
	B_DATA,
	B_DATA_CR,
	B_DATA_LF,
	B_TRL, /* start of a trailer line, or the CR of the last line */
	B_TRL_NAME,
	B_TRL_VALUE,
	B_TRL_LF,
	B_END_LF,
	B_DONE,
	B_ERROR,
};

void h1_body_init(struct h1_body_state *b, const struct h1_msg *m)
{
	memset(b, 0, sizeof(*b));
	b->kind = m->body;
	b->state = B_SIZE0;
	if (m->body == H1_BODY_LENGTH)
		b->left = m->content_length;
}

static inline unsigned h1__hex(uint8_t c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* The chunk-size line: size [BWS ";" ext] CR. */
static int h1__size_byte(struct h1_body_state *b, uint8_t c)
{
	if (h1__is(c, C_X) && b->state == B_SIZE) {
		if (b->left > (H1_CHUNK_MAX - h1__hex(c)) >> 4)
			return -400;
		b->left = b->left << 4 | h1__hex(c);
	} else if (c == ';') {
		b->state = B_EXT;
	} else if (c == ' ' || c == '\t') {
		b->state = B_SIZE_WS;
	} else if (c == '\r' && b->state == B_SIZE) {
		b->state = B_SIZE_LF;
		return 0;
	} else {
		return -400;
	}
	return ++b->line > H1_CHUNK_LINE ? -400 : 0;
}

/* A trailer line's name or value ran from <s> to <i>: counted, bounded. */
static inline int h1__trl_bytes(struct h1_body_state *b, size_t n)
{
	b->line += n;
	return b->line > H1_TRAILER_MAX ? -400 : 0;
}

/* One state's worth of the chunked syntax from buf[i]; returns the next i
 * or -400. */
static int64_t h1__chunk_step(struct h1_body_state *b, const char *buf, size_t i, size_t len)
{
	uint8_t c = buf[i];
	size_t n;

	switch (b->state) {
	case B_SIZE0:
		if (!h1__is(c, C_X))
			return -400;
		b->left = h1__hex(c);
		b->line = 1;
		b->state = B_SIZE;
		return i + 1;
	case B_SIZE:
	case B_SIZE_WS:
		return h1__size_byte(b, c) < 0 ? -400 : (int64_t)i + 1;
	case B_EXT:
		n = h1__span_value(buf, i, len);
		b->line += n - i;
		if (b->line > H1_CHUNK_LINE || (n < len && buf[n] != '\r'))
			return -400;
		if (n == len)
			return n;
		b->state = B_SIZE_LF;
		return n + 1;
	case B_SIZE_LF:
		if (c != '\n')
			return -400;
		b->state = b->left ? B_DATA : B_TRL;
		b->line = 0;
		return i + 1;
	case B_DATA:
		n = h1__min(b->left, len - i);
		b->left -= n;
		b->data += n;
		if (!b->left)
			b->state = B_DATA_CR;
		return i + n;
	case B_DATA_CR:
		if (c != '\r')
			return -400;
		b->state = B_DATA_LF;
		return i + 1;
	case B_DATA_LF:
		if (c != '\n')
			return -400;
		b->state = B_SIZE0;
		return i + 1;
	default:
		return -400;
	}
}

/* The trailer section: header lines, then an empty line (RFC 9112 7.1.2). */
static int64_t h1__trl_step(struct h1_body_state *b, const char *buf, size_t i, size_t len)
{
	uint8_t c = buf[i];
	size_t n;

	switch (b->state) {
	case B_TRL:
		if (c == '\r') {
			b->state = B_END_LF;
		} else {
			if (!h1__is(c, C_T) || ++b->ntrl > H1_TRAILER_NHDRS)
				return -400;
			b->state = B_TRL_NAME;
		}
		return h1__trl_bytes(b, 1) < 0 ? -400 : (int64_t)i + 1;
	case B_TRL_NAME:
	case B_TRL_VALUE:
		n = h1__span(buf, i, len, b->state == B_TRL_NAME ? C_T : C_V);
		if (n < len) {
			if (buf[n] != (b->state == B_TRL_NAME ? ':' : '\r'))
				return -400;
			b->state = b->state == B_TRL_NAME ? B_TRL_VALUE : B_TRL_LF;
			n++;
		}
		return h1__trl_bytes(b, n - i) < 0 ? -400 : (int64_t)n;
	case B_TRL_LF:
	case B_END_LF:
		if (c != '\n')
			return -400;
		b->state = b->state == B_TRL_LF ? B_TRL : B_DONE;
		return h1__trl_bytes(b, 1) < 0 ? -400 : (int64_t)i + 1;
	default:
		return -400;
	}
}

static int64_t h1__chunked(struct h1_body_state *b, const char *buf, size_t len, bool *done)
{
	int64_t i = 0;

	while ((size_t)i < len && b->state < B_DONE) {
		if (b->state < B_TRL)
			i = h1__chunk_step(b, buf, i, len);
		else
			i = h1__trl_step(b, buf, i, len);
		if (i < 0) {
			b->state = B_ERROR;
			break;
		}
	}
	*done = b->state == B_DONE;
	return b->state == B_ERROR ? -400 : i;
}

int64_t h1_body_dechunk(struct h1_body_state *b, char *buf, size_t len, bool *done, size_t *out)
{
	size_t o = 0;
	int64_t i = 0, j;

	while ((size_t)i < len && b->state < B_DONE) {
		bool data = b->state == B_DATA;

		j = b->state < B_TRL ? h1__chunk_step(b, buf, i, len)
		                     : h1__trl_step(b, buf, i, len);
		if (j < 0) {
			b->state = B_ERROR;
			break;
		}
		if (data) {
			memmove(buf + o, buf + i, (size_t)(j - i));
			o += (size_t)(j - i);
		}
		i = j;
	}
	*done = b->state == B_DONE;
	*out = o;
	return b->state == B_ERROR ? -400 : i;
}

int64_t h1_body_feed(struct h1_body_state *b, const char *buf, size_t len, bool *done)
{
	uint64_t n;

	switch (b->kind) {
	case H1_BODY_LENGTH:
		n = h1__min(b->left, len);
		b->left -= n;
		b->data += n;
		*done = !b->left;
		return (int64_t)n;
	case H1_BODY_CHUNKED:
		return h1__chunked(b, buf, len, done);
	case H1_BODY_CLOSE:
		*done = false;
		return (int64_t)len;
	default:
		*done = true;
		return 0;
	}
}

/* The head being written: full once something did not fit. */
struct h1_out {
	char *p;
	size_t left;
	bool full;
};

static void h1__put(struct h1_out *o, const char *s, size_t n)
{
	if (n > o->left) {
		o->full = true;
		o->left = 0;
		return;
	}
	if (n) {
		memcpy(o->p, s, n);
		o->p += n;
		o->left -= n;
	}
}

#define H1__PUTS(o, lit) h1__put(o, lit, sizeof(lit) - 1)

static void h1__put_s(struct h1_out *o, struct h1_str s)
{
	h1__put(o, s.p, s.len);
}

static void h1__put_z(struct h1_out *o, const char *s)
{
	h1__put(o, s, strlen(s));
}

static void h1__put_u64(struct h1_out *o, uint64_t v)
{
	char d[20];
	int n = sizeof(d);

	do
		d[--n] = '0' + v % 10;
	while (v /= 10);
	h1__put(o, d + n, sizeof(d) - n);
}

static void h1__put_hdr(struct h1_out *o, const struct h1_hdr *h)
{
	h1__put_s(o, h->name);
	H1__PUTS(o, ": ");
	h1__put_s(o, h->value);
	H1__PUTS(o, "\r\n");
}

static void h1__put_cl(struct h1_out *o, uint64_t n)
{
	H1__PUTS(o, "Content-Length: ");
	h1__put_u64(o, n);
	H1__PUTS(o, "\r\n");
}

/* The client's headers, as they go upstream. */
static void h1__req_hdrs(const struct h1_msg *m, struct h1_out *o, bool absolute)
{
	bool cl = false, te = false;
	uint32_t i;

	for (i = 0; i < m->nhdrs; i++) {
		const struct h1_hdr *h = &m->hdrs[i];

		if (h->hop)
			continue;
		switch (h->id) {
		case H1_H_HOST:
			if (!absolute) /* else replaced by the target's authority */
				h1__put_hdr(o, h);
			break;
		case H1_H_CONTENT_LENGTH:
			if (!cl)
				h1__put_cl(o, m->content_length);
			cl = true;
			break;
		case H1_H_TRANSFER_ENCODING:
			if (!te)
				H1__PUTS(o, "Transfer-Encoding: chunked\r\n");
			te = true;
			break;
		case H1_H_X_FORWARDED_FOR:
		case H1_H_X_FORWARDED_PROTO:
		case H1_H_X_REAL_IP:
			break;
		default:
			h1__put_hdr(o, h);
		}
	}
}

/* X-Forwarded-For: every value received, then <client_ip>, in one field. */
static void h1__xff(const struct h1_msg *m, const char *client_ip, struct h1_out *o)
{
	bool any = false;
	int i = -1;

	while ((i = h1_msg_find(m, H1_H_X_FORWARDED_FOR, i + 1)) >= 0) {
		if (!m->hdrs[i].value.len || m->hdrs[i].hop)
			continue;
		if (any)
			H1__PUTS(o, ", ");
		else
			H1__PUTS(o, "X-Forwarded-For: ");
		h1__put_s(o, m->hdrs[i].value);
		any = true;
	}
	if (client_ip) {
		if (any)
			H1__PUTS(o, ", ");
		else
			H1__PUTS(o, "X-Forwarded-For: ");
		h1__put_z(o, client_ip);
		any = true;
	}
	if (any)
		H1__PUTS(o, "\r\n");
}

static void h1__put_field(struct h1_out *o, const char *name, const char *value)
{
	if (!value)
		return;
	h1__put_z(o, name);
	h1__put_z(o, value);
	H1__PUTS(o, "\r\n");
}

int h1_build_request(const struct h1_msg *m, const char *client_ip, const char *proto,
                     const char *via, char *out, size_t cap)
{
	struct h1_out o = {out, cap, false};

	/* An absolute-form target goes up in origin-form, with a Host made
	 * from its authority in place of the received one (RFC 9112 3.2.2):
	 * the backend sees the host the request was routed by. */
	bool absolute = m->path.p && m->path.p != m->target.p;

	h1__put_s(&o, m->method);
	H1__PUTS(&o, " ");
	if (absolute) {
		if (!m->path.len || m->path.p[0] != '/')
			H1__PUTS(&o, "/");
		h1__put_s(&o, m->path);
	} else {
		h1__put_s(&o, m->target);
	}
	h1__put_z(&o, m->minor ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
	if (absolute) {
		H1__PUTS(&o, "Host: ");
		h1__put_s(&o, m->host);
		H1__PUTS(&o, "\r\n");
	}
	h1__req_hdrs(m, &o, absolute);
	h1__xff(m, client_ip, &o);
	h1__put_field(&o, "X-Forwarded-Proto: ", proto);
	h1__put_field(&o, "X-Real-IP: ", client_ip);
	h1__put_field(&o, "Via: 1.1 ", via);
	if (m->flags & H1_F_UPGRADE)
		H1__PUTS(&o, "Connection: upgrade\r\n\r\n");
	else
		H1__PUTS(&o, "Connection: keep-alive\r\n\r\n");
	return o.full ? -ENOSPC : (int)(o.p - out);
}

int h1_build_response(const struct h1_msg *m, bool keep_alive, char *out, size_t cap)
{
	struct h1_out o = {out, cap, false};
	/* Neither a Content-Length nor a Transfer-Encoding on 1xx and 204
	 * (RFC 9112 6.1, RFC 9110 8.6): they have no body, whatever the
	 * backend said. */
	bool bodyless = m->status < 200 || m->status == 204, cl = bodyless;
	char st[5] = {' ', '0' + m->status / 100 % 10, '0' + m->status / 10 % 10,
	              '0' + m->status % 10, ' '};
	uint32_t i;

	h1__put_z(&o, m->minor ? "HTTP/1.1" : "HTTP/1.0");
	h1__put(&o, st, sizeof(st));
	h1__put_s(&o, m->reason);
	H1__PUTS(&o, "\r\n");
	for (i = 0; i < m->nhdrs; i++) {
		const struct h1_hdr *h = &m->hdrs[i];

		if (h->hop || (bodyless && h->id == H1_H_TRANSFER_ENCODING))
			continue;
		if (h->id != H1_H_CONTENT_LENGTH)
			h1__put_hdr(&o, h);
		else if (!cl)
			h1__put_cl(&o, m->content_length);
		cl |= h->id == H1_H_CONTENT_LENGTH;
	}
	if (m->flags & H1_F_UPGRADE)
		H1__PUTS(&o, "Connection: upgrade\r\n\r\n");
	else if (m->status < 200) /* an interim answer says nothing of the connection */
		H1__PUTS(&o, "\r\n");
	else if (keep_alive)
		H1__PUTS(&o, "Connection: keep-alive\r\n\r\n");
	else
		H1__PUTS(&o, "Connection: close\r\n\r\n");
	return o.full ? -ENOSPC : (int)(o.p - out);
}
