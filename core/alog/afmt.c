/* Access log records as text (afmt.h).
 *
 * Text lines write an absent value as "-" and escape a string's bytes
 * outside 0x21..0x7e, '"' and '\' as \xHH (as nginx does), so a line is
 * always one line and split on spaces; JSON writes absent values as null
 * and escapes '"', '\', control bytes and bytes from 0x7f on (\u00HH), so
 * every line is one valid ASCII JSON object.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "config/logfmt.h"
#include "core/alog/afmt.h"

struct out {
	char *p;
	size_t n, cap;
	bool json;
};

static inline void put(struct out *o, const char *s, size_t n)
{
	if (n > o->cap - o->n)
		n = o->cap - o->n;
	memcpy(o->p + o->n, s, n);
	o->n += n;
}

static inline void put_c(struct out *o, char ch)
{
	if (o->n < o->cap)
		o->p[o->n++] = ch;
}

static void put_u64(struct out *o, uint64_t v)
{
	char b[24];
	int i = sizeof(b);

	do {
		b[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(o, b + i, sizeof(b) - i);
}

static void put_none(struct out *o)
{
	if (o->json)
		put(o, "null", 4);
	else
		put_c(o, '-');
}

static void put_hex(struct out *o, const char *pre, unsigned char ch)
{
	static const char hx[] = "0123456789abcdef";

	put(o, pre, strlen(pre));
	put_c(o, hx[ch >> 4]);
	put_c(o, hx[ch & 15]);
}

/* Whether a byte is written as it is, bit 0 for text ('!'..'~' but '"'
 * and '\\'), bit 1 for JSON (' '..'~' but '"' and '\\'). */
#define PL_T(c) ((c) > 0x20 && (c) < 0x7f && (c) != '"' && (c) != '\\')
#define PL(c)   (PL_T(c) | ((PL_T(c) || (c) == ' ') << 1))
#define PL4(c)  PL(c), PL(c + 1), PL(c + 2), PL(c + 3)
#define PL16(c) PL4(c), PL4(c + 4), PL4(c + 8), PL4(c + 12)
#define PL64(c) PL16(c), PL16(c + 16), PL16(c + 32), PL16(c + 48)
static const unsigned char plain_tab[256] = {PL64(0), PL64(64)}; /* from 0x80 on: 0 */

static inline bool plain(unsigned char ch, bool json)
{
	return plain_tab[ch] >> json & 1;
}

/* A string's bytes, escaped for the format (no quotes): runs of plain
 * bytes are copied at once. */
static void put_esc(struct out *o, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;
		unsigned char ch;

		while (j < n && plain((unsigned char)s[j], o->json))
			j++;
		put(o, s + i, j - i);
		if (j == n)
			return;
		ch = (unsigned char)s[j];
		if (o->json && (ch == '"' || ch == '\\')) {
			put_c(o, '\\');
			put_c(o, (char)ch);
		} else {
			put_hex(o, o->json ? "\\u00" : "\\x", ch);
		}
		i = j + 1;
	}
}

/* A string value: quoted in JSON, "-" (null) when empty. */
static void put_str(struct out *o, const char *s, size_t n)
{
	if (!n) {
		put_none(o);
		return;
	}
	if (o->json)
		put_c(o, '"');
	put_esc(o, s, n);
	if (o->json)
		put_c(o, '"');
}

static void put_lit(struct out *o, const char *s)
{
	put_str(o, s, strlen(s));
}

void afmt_time(int64_t wall_ms, char *out)
{
	static __thread time_t last = -1;
	static __thread char head[24];
	time_t sec = (time_t)(wall_ms / 1000);
	unsigned ms = (unsigned)(wall_ms % 1000);
	struct tm tm;

	if (sec != last) { /* one gmtime_r a second */
		gmtime_r(&sec, &tm);
		strftime(head, sizeof(head), "%Y-%m-%dT%H:%M:%S", &tm);
		last = sec;
	}
	memcpy(out, head, 19);
	out[19] = '.';
	out[20] = (char)('0' + ms / 100);
	out[21] = (char)('0' + ms / 10 % 10);
	out[22] = (char)('0' + ms % 10);
	out[23] = 'Z';
	out[24] = '\0';
}

static void put_addr(struct out *o, const struct alog_addr *a, bool port)
{
	char b[INET6_ADDRSTRLEN];

	/* IPv4 by hand: glibc's inet_ntop() goes through sprintf() */
	if (a->family != AF_INET && (!a->family || !inet_ntop(a->family, a->a, b, sizeof(b)))) {
		put_none(o);
		return;
	}
	if (o->json)
		put_c(o, '"');
	if (port && a->family == AF_INET6)
		put_c(o, '[');
	if (a->family == AF_INET) {
		for (int i = 0; i < 4; i++) {
			if (i)
				put_c(o, '.');
			put_u64(o, a->a[i]);
		}
	} else {
		put(o, b, strlen(b));
	}
	if (port) {
		put(o, a->family == AF_INET6 ? "]:" : ":", a->family == AF_INET6 ? 2 : 1);
		put_u64(o, a->port);
	}
	if (o->json)
		put_c(o, '"');
}

static void put_ms(struct out *o, uint32_t ms)
{
	if (ms == ALOG_NO_MS)
		put_none(o);
	else
		put_u64(o, ms);
}

/* The offset of string <i> of <r>. */
static const char *str_of(const struct alog_rec *r, unsigned i, size_t *n)
{
	size_t off = 0;

	for (unsigned k = 0; k < i; k++)
		off += r->slen[k];
	*n = r->slen[i];
	return r->str + off;
}

static void put_field(struct out *o, unsigned f, const struct alog_rec *r, const char *listener,
                      int64_t wall_ms)
{
	static const unsigned strs[LF_NFIELDS] = {
	    [LF_METHOD] = ALOG_S_METHOD + 1,   [LF_TARGET] = ALOG_S_TARGET + 1,
	    [LF_SNI] = ALOG_S_SNI + 1,         [LF_POOL] = ALOG_S_POOL + 1,
	    [LF_BACKEND] = ALOG_S_BACKEND + 1,
	};
	bool http = r->kind == ALOG_HTTP;
	char t[25];
	size_t n;
	const char *s;

	if (strs[f]) {
		s = str_of(r, strs[f] - 1, &n);
		put_str(o, s, n);
		return;
	}
	switch (f) {
	case LF_TIME:
		afmt_time(wall_ms, t);
		put_str(o, t, strlen(t));
		break;
	case LF_CLIENT:
		put_addr(o, &r->client, true);
		break;
	case LF_CLIENT_ADDR:
		put_addr(o, &r->client, false);
		break;
	case LF_CLIENT_PORT:
		if (r->client.family)
			put_u64(o, r->client.port);
		else
			put_none(o);
		break;
	case LF_LISTENER:
		put_lit(o, listener);
		break;
	case LF_VERSION:
		put_lit(o, !http ? "TCP" : r->minor ? "HTTP/1.1" : "HTTP/1.0");
		break;
	case LF_STATUS:
		if (r->status)
			put_u64(o, r->status);
		else
			put_none(o);
		break;
	case LF_BYTES_IN:
		put_u64(o, r->bytes_in);
		break;
	case LF_BYTES_OUT:
		put_u64(o, r->bytes_out);
		break;
	case LF_REQUEST_MS:
	case LF_CONNECT_MS:
	case LF_RESPONSE_MS:
	case LF_TOTAL_MS:
		put_ms(o, r->ms[f - LF_REQUEST_MS]);
		break;
	case LF_TERMINATION:
		put_str(o, r->term, 2);
		break;
	case LF_TLS_VERSION:
		put_lit(o, r->tls == 13 ? "TLSv1.3" : r->tls == 12 ? "TLSv1.2" : "");
		break;
	case LF_TYPE:
		put_lit(o, http ? "http" : "tcp");
		break;
	}
}

static size_t record_json(struct out *o, const struct alog_rec *r, const char *listener,
                          int64_t wall_ms)
{
	put_c(o, '{');
	for (unsigned f = 0; f < LF_NFIELDS; f++) {
		const char *name = logfmt_field_name(f);

		if (f == LF_CLIENT)
			continue; /* client_addr and client_port say it */
		if (f != LF_TIME)
			put_c(o, ',');
		put_c(o, '"');
		put(o, name, strlen(name));
		put(o, "\":", 2);
		put_field(o, f, r, listener, wall_ms);
	}
	put_c(o, '}');
	return o->n;
}

size_t afmt_record(const struct logfmt *f, const struct alog_rec *r, const char *listener,
                   int64_t wall_ms, char *buf, size_t cap)
{
	struct out o = {buf, 0, cap, f->kind == LOGFMT_JSON};

	if (f->kind == LOGFMT_JSON)
		return record_json(&o, r, listener, wall_ms);
	for (unsigned i = 0; i < f->nsteps; i++) {
		const struct logfmt_step *st = &f->steps[i];

		if (st->field == LF_LITERAL)
			put(&o, f->text + st->off, st->len);
		else
			put_field(&o, st->field, r, listener, wall_ms);
	}
	return o.n;
}
