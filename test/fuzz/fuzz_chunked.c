/* libFuzzer harness for the chunked body decoder (h1_body_feed() on an
 * H1_BODY_CHUNKED body, core/h1.c), checked against a slow reference:
 *
 *   make fuzz FUZZ=chunked SECS=300
 *
 * The input is the bytes after a head that said "Transfer-Encoding:
 * chunked": chunks, the last chunk, trailers, then perhaps the next message.
 * ref_chunked() below reads the same grammar (RFC 9112 7.1, with the bounds
 * core/h1.h documents) another way: over the whole buffer at once, one
 * grammar rule per function, no state machine. It says where the body ends,
 * or which byte is the first that no valid body can have there. Then, for
 * every offset k, feeding [0, k) and then [k, n) must give exactly what that
 * answer implies for each call (consumed bytes, done, -400, payload bytes),
 * and so must feeding one byte at a time.
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

enum { REF_MORE, REF_DONE, REF_BAD };

/* What the whole buffer is: a complete body of <at> bytes (DONE), a body
 * whose byte <at> is invalid (BAD), or the valid start of a body (MORE).
 * <data> is the payload read (up to the end of the buffer or the body). */
struct ref {
	int kind;
	size_t at;
	uint64_t data;
};

/* The reference reads the buffer from <i>; each rule returns true to go on
 * (with *i past what it read) or false with r set (MORE, BAD, DONE). */
struct ref_in {
	const uint8_t *b;
	size_t n;
	struct ref r;
};

static bool ref_stop(struct ref_in *in, int kind, size_t at)
{
	in->r.kind = kind;
	in->r.at = at;
	return false;
}

static bool is_hex(uint8_t c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static unsigned hex_val(uint8_t c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* tchar (RFC 9110 5.6.2) */
static bool is_tchar(uint8_t c)
{
	return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A field value byte, and what ringlb allows in a chunk extension: HTAB,
 * SP, VCHAR, obs-text. */
static bool is_vbyte(uint8_t c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* CR LF at *i. */
static bool ref_crlf(struct ref_in *in, size_t *i)
{
	for (int k = 0; k < 2; k++, (*i)++) {
		if (*i == in->n)
			return ref_stop(in, REF_MORE, *i);
		if (in->b[*i] != "\r\n"[k])
			return ref_stop(in, REF_BAD, *i);
	}
	return true;
}

/* chunk-size [BWS ";" chunk-ext] CRLF, with a size of at most H1_CHUNK_MAX
 * and at most H1_CHUNK_LINE bytes before the CR. The line is read as if
 * unbounded first; then, if the answer lies past the bound (a bad byte, the
 * CR, or the end of the buffer), the first byte past the bound is the bad
 * one instead. */
static bool ref_size_line(struct ref_in *in, size_t *i, uint64_t *size)
{
	const uint8_t *b = in->b;
	size_t start = *i, j = *i, n = in->n, ws;
	unsigned __int128 v = 0;
	bool bad = false;

	for (; j < n && is_hex(b[j]); j++) {
		v = v * 16 + hex_val(b[j]);
		if (v > H1_CHUNK_MAX) {
			bad = true;
			break;
		}
	}
	if (!bad && j < n && j == start) {
		bad = true; /* no digit */
	} else if (!bad && j < n) {
		for (ws = j; j < n && (b[j] == ' ' || b[j] == '\t');)
			j++;
		if (j < n && b[j] == ';') {
			for (j++; j < n && b[j] != '\r' && !bad; j++)
				bad = !is_vbyte(b[j]);
			j -= bad;
		} else if (j < n) {
			bad = j > ws || b[j] != '\r'; /* BWS without an extension, a stray byte */
		}
	}
	if (j > start + H1_CHUNK_LINE)
		return ref_stop(in, REF_BAD, start + H1_CHUNK_LINE);
	if (bad)
		return ref_stop(in, REF_BAD, j);
	if (j == n)
		return ref_stop(in, REF_MORE, j);
	*size = (uint64_t)v;
	*i = j;
	return ref_crlf(in, i);
}

/* chunk-data CRLF */
static bool ref_data(struct ref_in *in, size_t *i, uint64_t size)
{
	if (in->n - *i < size) {
		in->r.data += in->n - *i;
		return ref_stop(in, REF_MORE, in->n);
	}
	in->r.data += size;
	*i += size;
	return ref_crlf(in, i);
}

/* One trailer field line: a token, ':', a value, CRLF. */
static bool ref_field(struct ref_in *in, size_t *i)
{
	size_t j = *i;

	while (j < in->n && is_tchar(in->b[j]))
		j++;
	if (j == in->n)
		return ref_stop(in, REF_MORE, j);
	if (j == *i || in->b[j] != ':')
		return ref_stop(in, REF_BAD, j);
	for (j++; j < in->n && in->b[j] != '\r'; j++)
		if (!is_vbyte(in->b[j]))
			return ref_stop(in, REF_BAD, j);
	*i = j;
	return ref_crlf(in, i);
}

/* The trailer section from <i> to its empty line: at most H1_TRAILER_NHDRS
 * fields and H1_TRAILER_MAX bytes (every byte, the final CRLF included).
 * The byte bound is applied last, as for the size line. */
static void ref_trailers(struct ref_in *in, size_t i)
{
	size_t start = i;

	for (unsigned nf = 0;; nf++) {
		if (i == in->n) {
			ref_stop(in, REF_MORE, i);
			break;
		}
		if (in->b[i] == '\r') {
			if (ref_crlf(in, &i))
				ref_stop(in, REF_DONE, i);
			break;
		}
		if (nf == H1_TRAILER_NHDRS) {
			ref_stop(in, REF_BAD, i);
			break;
		}
		if (!ref_field(in, &i))
			break;
	}
	if (in->r.at > start + H1_TRAILER_MAX) {
		in->r.kind = REF_BAD;
		in->r.at = start + H1_TRAILER_MAX;
	}
}

static struct ref ref_chunked(const uint8_t *b, size_t n)
{
	struct ref_in in = {b, n, {REF_MORE, 0, 0}};
	size_t i = 0;
	uint64_t size;

	for (;;) {
		if (!ref_size_line(&in, &i, &size))
			return in.r;
		if (size == 0)
			break;
		if (!ref_data(&in, &i, size))
			return in.r;
	}
	ref_trailers(&in, i);
	return in.r;
}

/* What feeding [from, to) answers when the body so far is [0, from), given
 * the whole buffer's answer <r>: -400 once the bad byte is in, the bytes up
 * to the end once it is in, else all of them. */
static int64_t want_feed(const struct ref *r, size_t from, size_t to, bool *done)
{
	*done = r->kind == REF_DONE && r->at <= to;
	if (r->kind == REF_BAD && r->at < to)
		return -400;
	if (*done)
		return (int64_t)(r->at - from);
	return (int64_t)(to - from);
}

static void feed_check(struct h1_body_state *s, const struct ref *r, const char *b, size_t from,
                       size_t to)
{
	bool done = false, wdone;
	int64_t got = h1_body_feed(s, b + from, to - from, &done);
	int64_t want = want_feed(r, from, to, &wdone);

	if (got != want || (got >= 0 && done != wdone)) {
		fprintf(stderr, "feed [%zu, %zu): got %lld done %d, reference %lld done %d\n", from,
		        to, (long long)got, done, (long long)want, wdone);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct h1_msg m = {.body = H1_BODY_CHUNKED};
	struct ref r = ref_chunked(data, size);
	struct h1_body_state s;
	char *b = malloc(size ? size : 1); /* exactly <size>: ASan sees any overread */
	size_t k, end;

	memcpy(b, data, size);
	CHECK(r.at <= size);
	end = r.kind == REF_DONE ? r.at : size;
	for (k = 0; k <= size; k++) {
		bool done = false;

		h1_body_init(&s, &m);
		feed_check(&s, &r, b, 0, k);
		if (s.state == B_ERROR || s.state == B_DONE)
			continue;
		feed_check(&s, &r, b, k, size);
		CHECK(r.kind == REF_BAD || s.data == r.data);
		/* after the end, nothing more is consumed, nor after an error */
		if (r.kind != REF_MORE)
			CHECK(h1_body_feed(&s, b, size, &done) == (r.kind == REF_BAD ? -400 : 0));
	}
	h1_body_init(&s, &m);
	for (k = 0; k < end && s.state != B_ERROR; k++)
		feed_check(&s, &r, b, k, k + 1);
	free(b);
	return 0;
}
