/* libFuzzer harness for the admin endpoint's requests (core/admin/req.c,
 * the part of core/admin/admin.c that needs no ring):
 *
 *   make fuzz FUZZ=admin SECS=300
 *
 * The first byte says what the process is like: bit 0 admin.token is set
 * (to TOKEN below), bit 1 ringlb is ready, bit 2 the worker drains. The
 * second seeds the sizes of the receives the rest arrives in. The rest is
 * what a client sends on one connection: it goes into a buffer of the
 * worker's size as admin_data() does (a receive that overflows it is a 431
 * that closes), and after each receive every complete request is taken with
 * admin_req_next() and answered with admin_req_answer(), as process() does,
 * until one answer closes the connection.
 *
 * What it checks, beyond the sanitizers:
 * - each decision equals what ref_decide() below says: a slow reference of
 *   the documented protocol (core/admin/admin.h) over the same head read by
 *   h1_parse(): the answer's status and line, or the action with its pool,
 *   address and verb percent-decoded another way, the bytes taken, whether
 *   the input is dropped, the token compared another way;
 * - every answer parses back as an HTTP/1.1 response head (h1_parse()) with
 *   that status, its own reason, Content-Length equal to the body sent (no
 *   body after HEAD), Connection: close exactly when the connection ends;
 * - an Authorization or Cookie value the request carried is zero in the
 *   buffer once it was read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/admin/req.h" /* the code under test: linked by the Makefile */
#include "core/parse/h1.h"

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);                    \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define TOKEN "s3cr3t-t0ken"
#define CAP   (ADMIN_HEAD_MAX + ADMIN_BODY_MAX) /* admin_data()'s buffer */

/* ---- the reference ---- */

/* What ref_decide() expects. */
struct want {
	enum admin_do what;
	int status;
	uint32_t used;
	bool drop, unauthorized;
	int action;
	char pool[128], addr[128];
};

/* The header named <name> (any case), first of them, or NULL. */
static const struct h1_hdr *ref_field(const struct h1_msg *m, const char *name)
{
	for (uint32_t i = 0; i < m->nhdrs; i++)
		if (m->hdrs[i].name.len == strlen(name) &&
		    !strncasecmp(m->hdrs[i].name.p, name, m->hdrs[i].name.len))
			return &m->hdrs[i];
	return NULL;
}

/* "Bearer" SP, any more spaces, then exactly the token. */
static bool ref_token_ok(const char *tok, const struct h1_msg *m)
{
	const struct h1_hdr *h = ref_field(m, "authorization");
	char v[ADMIN_HEAD_MAX + 1];
	const char *p;

	if (!tok)
		return true;
	if (!h)
		return false;
	memcpy(v, h->value.p, h->value.len);
	v[h->value.len] = '\0';
	if (strncasecmp(v, "bearer ", 7) != 0 || memchr(v, '\0', h->value.len))
		return false;
	for (p = v + 7; *p == ' ';)
		p++;
	return strcmp(p, tok) == 0;
}

static int ref_hex(char c)
{
	const char *d = "0123456789abcdef0123456789ABCDEF", *f = c ? strchr(d, c) : NULL;

	return f ? (int)((f - d) % 16) : -1;
}

/* [s, s + n) percent-decoded into a C string of at most 127 bytes. */
static bool ref_decode(const char *s, size_t n, char *out)
{
	size_t o = 0;

	while (n) {
		int c = (unsigned char)*s;

		if (c == '%') {
			if (n < 3 || ref_hex(s[1]) < 0 || ref_hex(s[2]) < 0)
				return false; /* an escape is '%' and two hex digits */
			c = ref_hex(s[1]) * 16 + ref_hex(s[2]);
			s += 2;
			n -= 2;
		}
		if (c == 0 || o == 127)
			return false;
		out[o++] = (char)c;
		s++;
		n--;
	}
	out[o] = '\0';
	return true;
}

/* POST /backends/POOL/ADDR/VERB with <r> after "/backends/". */
static void ref_backend(struct want *w, const char *r, size_t n)
{
	static const char *const verbs[] = {"enable", "drain", "disable"};
	size_t first = n, last = n;

	for (size_t i = 0; i < n; i++)
		if (r[i] == '/') {
			first = first == n ? i : first;
			last = i;
		}
	w->status = 404;
	if (first == n || first == 0 || last == first || last == first + 1)
		return;
	if (!ref_decode(r, first, w->pool) ||
	    !ref_decode(r + first + 1, last - first - 1, w->addr)) {
		w->status = 400;
		return;
	}
	for (int v = 0; v < 3; v++)
		if (n - last - 1 == strlen(verbs[v]) &&
		    !memcmp(r + last + 1, verbs[v], n - last - 1)) {
			w->what = ADMIN_DO_BACKEND;
			w->action = v;
		}
}

/* The path's route for a request that was read whole. */
static void ref_route(struct want *w, const struct admin_view *v, const struct h1_msg *m)
{
	char path[ADMIN_HEAD_MAX + 1] = "", meth[16] = "";
	bool get, post;

	snprintf(meth, sizeof(meth), "%.*s", (int)m->method.len, m->method.p);
	get = !strcmp(meth, "GET") || !strcmp(meth, "HEAD");
	post = !strcmp(meth, "POST");
	if (m->path.len)
		memcpy(path, m->path.p, m->path.len);
	path[m->path.len] = '\0';
	path[strcspn(path, "?")] = '\0';
	w->what = ADMIN_DO_TEXT;
	if (get && !strcmp(path, "/health")) {
		w->status = v->ready && !v->stopping ? 200 : 503;
		return;
	}
	if (!ref_token_ok(v->token, m)) {
		w->status = 401;
		w->unauthorized = true;
		return;
	}
	if (!strcmp(path, "/metrics") || !strcmp(path, "/stats")) {
		w->status = !get ? 405 : v->ready ? 0 : 503;
		if (!w->status)
			w->what = path[1] == 'm' ? ADMIN_DO_METRICS : ADMIN_DO_STATS;
	} else if (!strcmp(path, "/config")) {
		w->status = get ? 0 : 405;
		w->what = get ? ADMIN_DO_CONFIG : ADMIN_DO_TEXT;
	} else if (!strcmp(path, "/reload")) {
		w->status = post ? 0 : 405;
		w->what = post ? ADMIN_DO_RELOAD : ADMIN_DO_TEXT;
	} else if (!strncmp(path, "/backends/", 10) && strlen(path) > 10) {
		w->status = 405;
		if (post)
			ref_backend(w, m->path.p + 10, strlen(path) - 10);
	} else {
		w->status = 404;
	}
}

/* What the request at the start of [b, b + n) must get. */
static void ref_decide(const char *b, uint32_t n, const struct admin_view *v, struct want *w)
{
	const struct h1_limits lim = {.max_head = ADMIN_HEAD_MAX};
	struct h1_parser p;
	struct h1_msg m = {0};
	int r;

	memset(w, 0, sizeof(*w));
	h1_parser_init(&p, false, &lim);
	r = h1_parse(&p, b, n, &m);
	w->what = ADMIN_DO_TEXT;
	w->drop = true;
	if (r == 0) {
		w->status = 431;
		w->drop = n >= ADMIN_HEAD_MAX;
		w->what = w->drop ? ADMIN_DO_TEXT : ADMIN_DO_MORE;
	} else if (r < 0) {
		w->status = r == -414 || r == -431 ? -r : 400;
	} else if (m.body == H1_BODY_CHUNKED) {
		w->status = 411;
	} else if (m.body == H1_BODY_LENGTH && m.content_length > CAP - (uint32_t)r) {
		w->status = 413;
	} else if (m.body == H1_BODY_LENGTH && m.content_length > n - (uint32_t)r) {
		w->what = ADMIN_DO_MORE;
		w->drop = false;
	} else {
		w->drop = false;
		w->used = (uint32_t)r + (m.body == H1_BODY_LENGTH ? (uint32_t)m.content_length : 0);
		ref_route(w, v, &m);
	}
	h1_msg_release(&m);
}

/* ---- the connection ---- */

/* The secrets of the request read from <in>, found in <copy> (the same
 * bytes before admin_req_next()): zero in <in> now. */
static void check_wiped(const char *copy, const char *in, uint32_t n)
{
	const struct h1_limits lim = {.max_head = ADMIN_HEAD_MAX};
	struct h1_parser p;
	struct h1_msg m = {0};

	h1_parser_init(&p, false, &lim);
	CHECK(h1_parse(&p, copy, n, &m) > 0);
	for (uint32_t i = 0; i < m.nhdrs; i++) {
		const struct h1_hdr *h = &m.hdrs[i];

		if (h->id != H1_H_AUTHORIZATION && h->id != H1_H_COOKIE)
			continue;
		for (uint32_t k = 0; k < h->value.len; k++)
			CHECK(in[h->value.p - copy + k] == '\0');
	}
	h1_msg_release(&m);
}

/* The answer <st> with <body> made, then read back as a client would. */
static void check_answer(int st, const char *body, bool head, bool close, const char *extra)
{
	const struct h1_limits wide = {.max_line = 1 << 16, .max_head = 1 << 16, .max_hdrs = 64};
	size_t blen = strlen(body), len = 0;
	char *out =
	    admin_req_answer(st, "text/plain; charset=utf-8", body, blen, extra, head, close, &len);
	struct h1_parser p;
	struct h1_msg m = {0};
	int r;

	CHECK(out);
	h1_parser_init(&p, true, &wide);
	if (head)
		p.flags |= H1_F_HEAD_REQ;
	r = h1_parse(&p, out, len, &m);
	if (r <= 0) {
		fprintf(stderr, "the answer does not parse (%d):\n%.*s\n", r, (int)len, out);
		abort();
	}
	CHECK(m.status == st && strcmp(admin_req_reason(st), "Unknown") != 0);
	CHECK(m.reason.len == strlen(admin_req_reason(st)) &&
	      !memcmp(m.reason.p, admin_req_reason(st), m.reason.len));
	CHECK((size_t)r + (head ? 0 : blen) == len &&
	      !memcmp(out + len - (head ? 0 : blen), body, head ? 0 : blen));
	CHECK(head ? m.body == H1_BODY_NONE : m.body == H1_BODY_LENGTH && m.content_length == blen);
	CHECK(!!(m.flags & H1_F_CLOSE) == close);
	h1_msg_release(&m);
	free(out);
}

/* The text answer's line: printable, one line. */
static void check_text(const char *t)
{
	CHECK(t && *t);
	for (; *t; t++)
		CHECK((unsigned char)*t >= 0x20 && *t != 0x7f);
}

/* Takes and answers every complete request of <in>; false once an answer
 * closes the connection. */
static bool serve(char *in, uint32_t *len, const struct admin_view *v)
{
	static char copy[CAP];

	for (;;) {
		struct admin_req r;
		struct want w;
		bool close;

		memcpy(copy, in, *len);
		ref_decide(copy, *len, v, &w);
		admin_req_next(in, *len, v, &r);
		if (r.what != w.what || (r.what == ADMIN_DO_TEXT && r.status != w.status) ||
		    r.used != w.used || r.drop != w.drop || r.unauthorized != w.unauthorized) {
			fprintf(stderr,
			        "got what %d status %d used %u drop %d unauth %d, "
			        "the reference what %d status %d used %u drop %d unauth %d\n",
			        r.what, r.status, r.used, r.drop, r.unauthorized, w.what, w.status,
			        w.used, w.drop, w.unauthorized);
			abort();
		}
		if (r.what == ADMIN_DO_MORE)
			return true;
		if (r.what == ADMIN_DO_BACKEND)
			CHECK(r.action == w.action && !strcmp(r.pool, w.pool) &&
			      !strcmp(r.addr, w.addr));
		if (r.what == ADMIN_DO_TEXT)
			check_text(r.text);
		CHECK(!r.drop || admin_req_closes(r.status));
		if (r.drop) {
			check_answer(r.status, "bad request\n", false, true, r.extra);
			return false;
		}
		CHECK(r.used > 0 && r.used <= *len);
		check_wiped(copy, in, *len);
		/* what admin.c answers for the actions that need the worker */
		close = r.close || v->stopping ||
		        (r.what == ADMIN_DO_TEXT && admin_req_closes(r.status));
		check_answer(r.what == ADMIN_DO_TEXT ? r.status : 200, "answer\n", r.head, close,
		             r.extra);
		if (close)
			return false;
		memmove(in, in + r.used, *len - r.used);
		*len -= r.used;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char in[CAP];
	struct admin_view v;
	uint32_t len = 0, seed;
	size_t off = 2;

	if (size < 2)
		return 0;
	v = (struct admin_view){data[0] & 1 ? TOKEN : NULL, data[0] & 2, data[0] & 4};
	seed = data[1] * 2654435761u + 1;
	while (off < size) {
		size_t n = size - off, cut;

		seed = seed * 1103515245u + 12345u;
		cut = (seed >> 16) % 4 ? 1 + (seed >> 8) % 1500 : n; /* a receive */
		n = cut < n ? cut : n;
		if (n > CAP - len)
			return 0; /* admin_data(): a 431 that closes */
		memcpy(in + len, data + off, n);
		len += (uint32_t)n;
		off += n;
		if (!serve(in, &len, &v))
			break;
	}
	return 0;
}
