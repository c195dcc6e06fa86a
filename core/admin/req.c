/* The admin endpoint's requests without the ring (req.h): the head read by
 * h1.c, the path routed, the token checked, the answer's bytes made. Pure
 * functions over buffers: nothing here knows a worker or a connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/admin/req.h"
#include "core/parse/h1.h"

const char *admin_req_reason(int st)
{
	switch (st) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 411:
		return "Length Required";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 422:
		return "Unprocessable Content";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Unknown";
	}
}

bool admin_req_closes(int st)
{
	return st >= 400 && st != 401 && st != 404 && st != 405 && st != 422 && st != 503 &&
	       st != 504;
}

char *admin_req_answer(int st, const char *ctype, const char *body, size_t blen, const char *extra,
                       bool head, bool close, size_t *len)
{
	char *out;
	int n;

	n = asprintf(&out,
	             "HTTP/1.1 %d %s\r\nServer: ringlb\r\nContent-Type: %s\r\n"
	             "Content-Length: %zu\r\nCache-Control: no-store\r\n%s%s\r\n",
	             st, admin_req_reason(st), ctype, blen, extra ? extra : "",
	             close ? "Connection: close\r\n" : "");
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	if (!blen || head)
		return out;
	char *all = realloc(out, *len + blen);

	if (!all) {
		free(out);
		return NULL;
	}
	memcpy(all + *len, body, blen);
	*len += blen;
	return all;
}

static void answer(struct admin_req *r, int st, const char *text, const char *extra)
{
	r->what = ADMIN_DO_TEXT;
	r->status = st;
	r->text = text;
	r->extra = extra;
}

/* Whether the request carries the token, compared in constant time: the
 * time depends on the length of what the client sent, never on the token. */
static bool authorized(const char *tok, const struct h1_msg *m)
{
	size_t tlen = tok ? strlen(tok) : 0;
	int i = h1_msg_find(m, H1_H_AUTHORIZATION, 0);
	const char *v;
	size_t n;
	volatile unsigned char d;

	if (!tok)
		return true;
	if (i < 0)
		return false;
	v = m->hdrs[i].value.p;
	n = m->hdrs[i].value.len;
	if (n < 7 || strncasecmp(v, "Bearer ", 7) != 0)
		return false;
	v += 7;
	n -= 7;
	while (n && *v == ' ') {
		v++;
		n--;
	}
	d = tlen != n;
	for (size_t k = 0; k < n; k++)
		d |= (unsigned char)v[k] ^ (unsigned char)tok[k % tlen];
	return d == 0;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Percent-decodes [s, s + n) into <out> (<cap> bytes); false on a bad
 * escape, a NUL or no room. */
static bool url_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int ch = (unsigned char)s[i];

		if (ch == '%') {
			int hi, lo;

			if (i + 2 >= n || (hi = hexval(s[i + 1])) < 0 ||
			    (lo = hexval(s[i + 2])) < 0)
				return false;
			ch = hi * 16 + lo;
			i += 2;
		}
		if (!ch || o + 1 >= cap)
			return false;
		out[o++] = (char)ch;
	}
	out[o] = 0;
	return true;
}

/* POST /backends/POOL/ADDR/ACTION, <rest> after "/backends/". */
static void backends_post(struct admin_req *r, const char *rest, size_t n)
{
	static const char *const actions[] = {"enable", "drain", "disable"};
	const char *s1 = memchr(rest, '/', n),
		   *s2 = s1 ? memrchr(s1 + 1, '/', n - (s1 + 1 - rest)) : NULL;
	int a = -1;

	if (!s1 || !s2 || s2 == s1 + 1 || s1 == rest) {
		answer(r, 404, "not found: POST /backends/POOL/ADDR/drain|disable|enable", NULL);
		return;
	}
	for (unsigned i = 0; i < 3; i++)
		if ((size_t)(rest + n - s2 - 1) == strlen(actions[i]) &&
		    !memcmp(s2 + 1, actions[i], strlen(actions[i])))
			a = (int)i;
	if (!url_decode(rest, (size_t)(s1 - rest), r->pool, sizeof(r->pool)) ||
	    !url_decode(s1 + 1, (size_t)(s2 - s1 - 1), r->addr, sizeof(r->addr))) {
		answer(r, 400, "bad request: bad percent-encoding in the path", NULL);
		return;
	}
	if (a < 0) {
		answer(r, 404, "not found: the action is drain, disable or enable", NULL);
		return;
	}
	r->what = ADMIN_DO_BACKEND;
	r->action = a;
}

static bool path_is(const struct h1_str *p, const char *s)
{
	return p->len == strlen(s) && !memcmp(p->p, s, p->len);
}

static void route(struct admin_req *r, const struct admin_view *v, const struct h1_msg *m)
{
	static const char unauth[] = "WWW-Authenticate: Bearer realm=\"ringlb\"\r\n";
	static const char allow_get[] = "Allow: GET, HEAD\r\n", allow_post[] = "Allow: POST\r\n";
	bool get = (m->method.len == 3 && !memcmp(m->method.p, "GET", 3)) || m->is_head;
	bool post = m->method.len == 4 && !memcmp(m->method.p, "POST", 4);
	struct h1_str path = m->path;
	const char *q = path.len ? memchr(path.p, '?', path.len) : NULL;

	if (q)
		path.len = (uint32_t)(q - path.p);
	if (path_is(&path, "/health") && get) {
		if (v->stopping)
			answer(r, 503, "draining", NULL);
		else
			answer(r, v->ready ? 200 : 503, v->ready ? "ok" : "starting", NULL);
		return;
	}
	if (!authorized(v->token, m)) {
		r->unauthorized = true;
		answer(r, 401, "unauthorized: Authorization: Bearer TOKEN (admin.token)", unauth);
		return;
	}
	if (path_is(&path, "/metrics") || path_is(&path, "/stats")) {
		if (!get)
			answer(r, 405, "method not allowed", allow_get);
		else if (!v->ready)
			answer(r, 503, "starting", NULL);
		else
			r->what = path.len == 8 ? ADMIN_DO_METRICS : ADMIN_DO_STATS;
	} else if (path_is(&path, "/config")) {
		if (get)
			r->what = ADMIN_DO_CONFIG;
		else
			answer(r, 405, "method not allowed", allow_get);
	} else if (path_is(&path, "/reload")) {
		if (post)
			r->what = ADMIN_DO_RELOAD;
		else
			answer(r, 405, "method not allowed", allow_post);
	} else if (path.len > 10 && !memcmp(path.p, "/backends/", 10)) {
		if (post)
			backends_post(r, path.p + 10, path.len - 10);
		else
			answer(r, 405, "method not allowed", allow_post);
	} else {
		answer(r, 404, "not found: /metrics /stats /config /health /reload /backends/",
		       NULL);
	}
}

void admin_req_next(char *in, uint32_t len, const struct admin_view *v, struct admin_req *r)
{
	const struct h1_limits lim = {.max_head = ADMIN_HEAD_MAX};
	struct h1_parser hp;
	struct h1_msg m;
	uint64_t need;
	int ret;

	memset(r, 0, sizeof(*r));
	memset(&m, 0, sizeof(m));
	h1_parser_init(&hp, false, &lim);
	ret = h1_parse(&hp, in, len, &m);
	if (ret == 0) {
		h1_msg_release(&m);
		if (len >= ADMIN_HEAD_MAX) {
			r->drop = true;
			answer(r, 431, "request header too large", NULL);
		}
		return;
	}
	if (ret < 0) {
		/* Everything the parser refuses is the client's fault here (an
		 * HTTP version we do not speak too): a 4xx, then close. */
		r->drop = true;
		answer(r, -ret < 500 ? -ret : 400, "bad request", NULL);
		return;
	}
	need = (uint64_t)ret + (m.body == H1_BODY_LENGTH ? m.content_length : 0);
	if (m.body == H1_BODY_CHUNKED || need > (uint64_t)ADMIN_HEAD_MAX + ADMIN_BODY_MAX) {
		r->drop = true;
		answer(r, m.body == H1_BODY_CHUNKED ? 411 : 413, "request bodies are not read here",
		       NULL);
		h1_msg_release(&m);
		return;
	}
	if (len < need) {
		h1_msg_release(&m);
		return; /* the body is still coming */
	}
	r->used = (uint32_t)need;
	r->head = m.is_head;
	r->close = (m.flags & H1_F_CLOSE) != 0;
	route(r, v, &m);
	h1_msg_wipe(&m, in); /* the token */
	h1_msg_release(&m);
}
