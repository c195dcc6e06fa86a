/* Unit tests for tls/ (tls/tls.h): a client and a server tls_conn talk in
 * memory, each one's out callback filling the other's inbox, with no socket
 * anywhere. The certificates are made for this run by test/certs/mkcerts.sh
 * into a temporary folder (openssl, under a second).
 *
 * Every test runs in its own process; the fixture's teardown asserts that
 * tls/ holds no byte any more (tls_mem_held() == 0) once the test has freed
 * what it made.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tls/tls.h"
#include "test/unit/ck.h"

/* The ticket key ring's statics: its callback is tested directly. */
#include "tls/ticket.c"
/* wolfSSL's random source and its read-ahead buffer. */
#include "tls/rand.c"

#include <wolfssl/wolfcrypt/curve25519.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>

/* The most an idle server connection may hold (see the memory TCase):
 * measured 2,544 bytes with TLS 1.3 at the time of writing (the issue's
 * budget for a whole idle TLS connection is 3,800). */
#define TLS_TEST_IDLE_MAX 3000

static char certdir[PATH_MAX];
static char errbuf[512];

/* <name> in the certificate folder (a few rotating buffers). */
static const char *cf(const char *name)
{
	static char paths[8][PATH_MAX + 32];
	static unsigned i;
	char *p = paths[i++ % ARRAY_SIZE(paths)];

	snprintf(p, PATH_MAX + 32, "%s/%s", certdir, name);
	return p;
}

/* --- an in-memory wire --- */

struct inbox {
	char *buf;
	size_t len, cap;
	unsigned records; /* out() calls */
	bool fail;        /* out() refuses */
};

static int box_out(void *arg, const char *data, size_t len)
{
	struct inbox *b = arg;

	if (b->fail)
		return -ENOBUFS;
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2;
		b->buf = realloc(b->buf, b->cap);
		FAIL_IF(!b->buf, "out of memory");
	}
	memcpy(b->buf + b->len, data, len);
	b->len += len;
	b->records++;
	return 0;
}

/* One side: its connection and the bytes on their way to it. */
struct end {
	struct tls_conn *t;
	struct inbox in;
	size_t chunk; /* feed at most this much at a time (0 = all) */
	int rc;       /* the last handshake result */
};

struct pair {
	struct end c, s;
};

/* Lends <e> its inbox (up to e->chunk bytes) and, once the call that
 * follows has run, drops what it consumed. */
static void end_feed(struct end *e)
{
	size_t n = e->chunk && e->chunk < e->in.len ? e->chunk : e->in.len;

	/* FAIL_IF, not ck_assert: these run in the measurement loops. */
	FAIL_IF(tls_conn_feed(e->t, e->in.buf, n) != 0, "feed");
}

static void end_consumed(struct end *e, size_t fed)
{
	size_t used = fed - tls_conn_pending_in(e->t);

	if (used) {
		memmove(e->in.buf, e->in.buf + used, e->in.len - used);
		e->in.len -= used;
	}
	/* The bytes moved: take them back (end_feed() lends them again). */
	FAIL_IF(tls_conn_feed(e->t, NULL, 0) != 0, "feed");
}

static int end_handshake(struct end *e)
{
	size_t fed = e->chunk && e->chunk < e->in.len ? e->chunk : e->in.len;

	end_feed(e);
	e->rc = tls_conn_handshake(e->t);
	end_consumed(e, fed);
	return e->rc;
}

/* Both sides' handshakes until both are done, one fails, or nothing moves.
 * Returns 0 when both are established, else the first failure. */
static int pair_handshake(struct pair *p)
{
	unsigned rounds;

	p->c.rc = p->s.rc = -EAGAIN;
	for (rounds = 0; rounds < 100000; rounds++) {
		if (p->c.rc == -EAGAIN)
			end_handshake(&p->c);
		if (p->c.rc != 0 && p->c.rc != -EAGAIN)
			return p->c.rc;
		if (p->s.rc == -EAGAIN)
			end_handshake(&p->s);
		if (p->s.rc != 0 && p->s.rc != -EAGAIN)
			return p->s.rc;
		if (p->c.rc == 0 && p->s.rc == 0)
			return 0;
		if (!p->c.in.len && !p->s.in.len)
			return -EDEADLK;
	}
	return -ETIMEDOUT;
}

/* Reads what <e> can give into <buf>; returns the count or a failure. */
static ssize_t end_read(struct end *e, char *buf, size_t cap)
{
	size_t got = 0, fed;
	ssize_t n;

	for (;;) {
		fed = e->chunk && e->chunk < e->in.len ? e->chunk : e->in.len;
		end_feed(e);
		n = tls_conn_read(e->t, buf + got, cap - got);
		end_consumed(e, fed);
		if (n == -EAGAIN && e->in.len)
			continue;
		if (n <= 0)
			return got ? (ssize_t)got : n;
		got += n;
		if (got == cap)
			return got;
	}
}

static struct tls_ctx *ctx_or_fail(const struct tls_ctx_opts *o)
{
	struct tls_ctx *c = tls_ctx_new(o, errbuf, sizeof(errbuf));

	ck_assert_msg(c != NULL, "tls_ctx_new: %s", errbuf);
	return c;
}

/* A server context: ECDSA (and RSA if <rsa>) for localhost. */
static struct tls_ctx *server_ctx(struct tls_ctx_opts *o, bool rsa)
{
	o->client = false;
	if (!o->certs[0].cert) {
		o->certs[0].cert = cf("ecdsa.pem");
		o->certs[0].key = cf("ecdsa.key");
		if (rsa) {
			o->certs[1].cert = cf("rsa.pem");
			o->certs[1].key = cf("rsa.key");
		}
	}
	return ctx_or_fail(o);
}

/* A client context that verifies the server against the test CA. */
static struct tls_ctx *client_ctx(struct tls_ctx_opts *o)
{
	o->client = true;
	if (!o->ca)
		o->ca = cf("ca.pem");
	if (o->verify == TLS_VERIFY_NONE && o->ca)
		o->verify = TLS_VERIFY_REQUIRED;
	return ctx_or_fail(o);
}

static void pair_open(struct pair *p, struct tls_ctx *cc, struct tls_ctx *sc, const char *sni)
{
	memset(p, 0, sizeof(*p));
	p->c.t = tls_conn_new(cc, sni, box_out, &p->s.in);
	p->s.t = tls_conn_new(sc, NULL, box_out, &p->c.in);
	ck_assert_ptr_nonnull(p->c.t);
	ck_assert_ptr_nonnull(p->s.t);
}

static void pair_close(struct pair *p)
{
	tls_conn_free(p->c.t);
	tls_conn_free(p->s.t);
	free(p->c.in.buf);
	free(p->s.in.buf);
	memset(p, 0, sizeof(*p));
}

/* <from> writes <msg>, <to> reads it back whole. */
static void pair_send(struct end *from, struct end *to, const char *msg, size_t len)
{
	char *buf = malloc(len + 1);
	ssize_t n;

	ck_assert_int_eq(tls_conn_write(from->t, msg, len), (ssize_t)len);
	n = end_read(to, buf, len);
	ck_assert_int_eq(n, (ssize_t)len);
	ck_assert(memcmp(buf, msg, len) == 0);
	free(buf);
}

static void exchange_both_ways(struct pair *p)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

	pair_send(&p->c, &p->s, req, sizeof(req) - 1);
	pair_send(&p->s, &p->c, resp, sizeof(resp) - 1);
}

/* --- fixture --- */

static void setup(void)
{
	ck_assert_uint_eq(tls_mem_held(), 0);
}

static void teardown(void)
{
	struct tls_mem_stats st;

	tls_mem_stats(&st);
	ck_assert_msg(st.held == 0, "tls/ still holds %llu bytes (%llu allocs, %llu releases)",
	              (unsigned long long)st.held, (unsigned long long)st.allocs,
	              (unsigned long long)st.releases);
}

/* --- handshakes --- */

START_TEST(a_tls13_handshake_completes_and_data_flows_both_ways)
{
	struct tls_ctx_opts so = {0}, co = {0};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	struct pair p;

	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), 0);
	ck_assert(tls_conn_is_established(p.s.t));
	ck_assert_uint_eq(tls_conn_version(p.s.t), 13);
	ck_assert_uint_eq(tls_conn_version(p.c.t), 13);
	ck_assert_str_eq(tls_conn_cipher(p.s.t), "TLS13-AES128-GCM-SHA256");
	ck_assert_str_eq(tls_conn_sni(p.s.t), "localhost");
	ck_assert_str_eq(tls_conn_cert_type(p.s.t), "ecdsa");
	ck_assert(!tls_conn_resumed(p.s.t));
	exchange_both_ways(&p);
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

/* A thread's WOLFSSL blocks come back from its session pool: the second
 * pair of sessions reuses the first pair's, wiped, and nothing is held but
 * what the pool keeps (not counted as held) until it is drained. */
START_TEST(session_objects_are_pooled_per_thread_and_reused)
{
	struct tls_ctx_opts so = {0}, co = {0};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	struct tls_pool_stats a, b, c;
	struct pair p;

	tls_session_pool_drain();
	tls_session_pool_stats(&a);
	for (int i = 0; i < 3; i++) {
		pair_open(&p, cc, sc, "localhost");
		ck_assert_int_eq(pair_handshake(&p), 0);
		exchange_both_ways(&p);
		pair_close(&p);
	}
	tls_session_pool_stats(&b);
	ck_assert_uint_eq(b.pooled - a.pooled, 6); /* two sessions a pair */
	ck_assert_uint_eq(b.reused - a.reused, 4); /* the second and third pairs */
	ck_assert_uint_eq(b.idle - a.idle, 2);
	ck_assert_uint_gt(tls_mem_held(), 0); /* the contexts */
	tls_session_pool_drain();
	tls_session_pool_stats(&c);
	ck_assert_uint_eq(c.idle, a.idle);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

START_TEST(a_tls12_handshake_completes_and_data_flows_both_ways)
{
	struct tls_ctx_opts so = {0}, co = {.max_version = 12};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	struct pair p;

	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), 0);
	ck_assert_uint_eq(tls_conn_version(p.s.t), 12);
	ck_assert_str_eq(tls_conn_cipher(p.s.t), "ECDHE-ECDSA-AES128-GCM-SHA256");
	exchange_both_ways(&p);
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

START_TEST(a_large_write_arrives_whole_in_several_records)
{
	struct tls_ctx_opts so = {0}, co = {0};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	size_t len = 100000, i;
	char *big = malloc(len);
	struct pair p;

	for (i = 0; i < len; i++)
		big[i] = (char)(i * 7 + i / 251);
	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), 0);
	p.c.in.records = 0;
	pair_send(&p.s, &p.c, big, len);
	ck_assert_uint_ge(p.c.in.records, 7); /* 16 KiB records at most */
	pair_send(&p.c, &p.s, big, len);
	free(big);
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

/* Reads into <out> at <*got> until the session wants more, with only
 * what was fed last; returns the last result (-EAGAIN when all is read). */
static ssize_t read_fed(struct end *e, char *out, size_t cap, size_t *got)
{
	ssize_t n;

	do {
		n = tls_conn_read(e->t, out + *got, cap - *got < 4096 ? cap - *got : 4096);
		if (n > 0)
			*got += (size_t)n;
	} while (n > 0 && *got < cap);
	return n;
}

/* core/xprt/tls.c's stall: reading stops mid-buffer (no plaintext buffer),
 * the ciphertext still pending is moved into other buffers (held), the
 * originals are gone, and later the held pieces are fed in order: the
 * plaintext is whole, what the session had decrypted already first. */
START_TEST(pending_ciphertext_moved_and_fed_again_later_reads_whole)
{
	struct tls_ctx_opts so = {0}, co = {0};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	size_t len = 100000, got = 0, pend, half, i;
	char *big = malloc(len), *out = malloc(len + 1), *held_a, *held_b; /* room for no more */
	struct pair p;
	ssize_t n;

	for (i = 0; i < len; i++)
		big[i] = (char)(i * 7 + i / 251);
	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), 0);
	ck_assert_int_eq(tls_conn_write(p.s.t, big, len), (ssize_t)len);
	/* One read of 1,000 bytes: a record decrypted, the rest still fed. */
	tls_conn_feed(p.c.t, p.c.in.buf, p.c.in.len);
	n = tls_conn_read(p.c.t, out, 1000);
	ck_assert_int_eq(n, 1000);
	got = 1000;
	pend = tls_conn_pending_in(p.c.t);
	ck_assert_uint_gt(pend, 0);
	ck_assert_uint_lt(pend, p.c.in.len);
	/* Held: the pending bytes in two buffers of their own, cut inside a
	 * record; the received buffer is given back (overwritten here). */
	half = pend / 2 + 7;
	held_a = malloc(half);
	held_b = malloc(pend - half);
	memcpy(held_a, p.c.in.buf + p.c.in.len - pend, half);
	memcpy(held_b, p.c.in.buf + p.c.in.len - pend + half, pend - half);
	tls_conn_feed(p.c.t, NULL, 0);
	memset(p.c.in.buf, 0xa5, p.c.in.len);
	/* Nothing fed: what the session decrypted already, then -EAGAIN. */
	ck_assert_int_eq(read_fed(&p.c, out, len + 1, &got), -EAGAIN);
	ck_assert_uint_gt(got, 1000);
	/* Later, the held pieces in order, each consumed whole. */
	tls_conn_feed(p.c.t, held_a, half);
	ck_assert_int_eq(read_fed(&p.c, out, len + 1, &got), -EAGAIN);
	ck_assert_uint_eq(tls_conn_pending_in(p.c.t), 0);
	tls_conn_feed(p.c.t, held_b, pend - half);
	ck_assert_int_eq(read_fed(&p.c, out, len + 1, &got), -EAGAIN);
	ck_assert_uint_eq(tls_conn_pending_in(p.c.t), 0);
	tls_conn_feed(p.c.t, NULL, 0);
	ck_assert_uint_eq(got, len);
	ck_assert(memcmp(out, big, len) == 0);
	free(held_a);
	free(held_b);
	free(big);
	free(out);
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

START_TEST(alpn_http11_is_negotiated)
{
	struct tls_ctx_opts so = {.alpn = "http/1.1"}, co = {.alpn = "h2,http/1.1"};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	const char *proto;
	struct pair p;
	size_t len = 0;

	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), 0);
	proto = tls_conn_alpn(p.s.t, &len);
	ck_assert_ptr_nonnull(proto);
	ck_assert_int_eq(len, 8);
	ck_assert(memcmp(proto, "http/1.1", 8) == 0);
	proto = tls_conn_alpn(p.c.t, &len);
	ck_assert_ptr_nonnull(proto);
	ck_assert(len == 8 && memcmp(proto, "http/1.1", 8) == 0);
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

START_TEST(an_h2_only_client_is_refused_with_no_application_protocol)
{
	struct tls_ctx_opts so = {.alpn = "http/1.1"}, co = {.alpn = "h2"};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	struct pair p;

	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), -EPROTO);
	ck_assert_str_eq(tls_reason_name(tls_conn_reason(p.s.t)), "no_application_protocol");
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

START_TEST(a_client_without_alpn_still_connects_to_an_alpn_server)
{
	struct tls_ctx_opts so = {.alpn = "http/1.1"}, co = {0};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	struct pair p;
	size_t len;

	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), 0);
	ck_assert_ptr_null(tls_conn_alpn(p.s.t, &len));
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

START_TEST(min_version_13_refuses_a_tls12_only_client_with_protocol_version)
{
	struct tls_ctx_opts so = {.min_version = 13}, co = {.max_version = 12};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	struct pair p;

	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), -EPROTO);
	ck_assert_int_eq(tls_conn_reason(p.s.t), TLS_R_VERSION);
	ck_assert_str_eq(tls_reason_name(tls_conn_reason(p.s.t)), "protocol_version");
	/* The server's alert reached the client, which names it the same. */
	ck_assert_int_eq(tls_conn_handshake(p.c.t), -EAGAIN);
	ck_assert_int_eq(end_handshake(&p.c), -EPROTO);
	ck_assert_int_eq(tls_conn_reason(p.c.t), TLS_R_VERSION);
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

START_TEST(no_cipher_in_common_is_classified_as_no_shared_cipher)
{
	struct tls_ctx_opts so = {.ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384"};
	struct tls_ctx_opts co = {.max_version = 12, .ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256"};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	struct pair p;

	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), -EPROTO);
	ck_assert_str_eq(tls_reason_name(tls_conn_reason(p.s.t)), "no_shared_cipher");
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

/* _i: 0 TLS 1.3, 1 TLS 1.2 */
START_TEST(a_client_hello_fed_one_byte_at_a_time_completes)
{
	struct tls_ctx_opts so = {0}, co = {.max_version = _i ? 12 : 0};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	struct pair p;

	pair_open(&p, cc, sc, "localhost");
	p.s.chunk = 1;
	p.c.chunk = 1;
	ck_assert_int_eq(pair_handshake(&p), 0);
	exchange_both_ways(&p);
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

#define G(s)                                                                                       \
	{                                                                                          \
		s, sizeof(s) - 1                                                                   \
	}
static const struct {
	const char *data;
	size_t len;
} garbage[] = {
    G("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),        /* plain HTTP on the TLS port */
    G("\x16\x03\x01\x00\x00"),                     /* an empty record */
    G("\x16\x03\x01\x7f\xff"),                     /* a record too long for a ClientHello */
    G("\x17\x03\x03\x00\x10xxxxxxxxxxxxxxxx"),     /* application data first */
    G("\x16\x03\x01\x00\x05\x02\x00\x00\x01\x00"), /* a ServerHello */
    G("\x16\x03\x01\x00\x08\x01\x00\x00\x04\x03\x03\x00\x00"), /* a truncated ClientHello */
    G("\x80\x2e\x01\x00\x02\x00\x15\x00\x00\x00\x10"),         /* SSLv2 */
    G("\x16\x03\x03\x00\x06\x01\x00\x00\x02\x03\x03"),         /* a ClientHello cut short */
};

START_TEST(garbage_instead_of_a_client_hello_fails_as_bad_record)
{
	struct tls_ctx_opts so = {0};
	struct tls_ctx *sc = server_ctx(&so, false);
	struct inbox out = {0};
	struct tls_conn *t = tls_conn_new(sc, NULL, box_out, &out);

	ck_assert_int_eq(tls_conn_feed(t, garbage[_i].data, garbage[_i].len), 0);
	ck_assert_int_eq(tls_conn_handshake(t), -EPROTO);
	ck_assert_str_eq(tls_reason_name(tls_conn_reason(t)), "bad_record");
	ck_assert_uint_eq(tls_conn_pending_in(t), 0);
	/* It stays failed, and says so the same way. */
	ck_assert_int_eq(tls_conn_handshake(t), -EPROTO);
	ck_assert_int_eq(tls_conn_read(t, errbuf, sizeof(errbuf)), -EPROTO);
	tls_conn_free(t);
	free(out.buf);
	tls_ctx_free(sc);
}
END_TEST

/* Random bytes and ClientHellos cut or flipped at random: the server fails
 * or waits, and never crashes or leaks (ASan watches). */
START_TEST(mangled_client_hellos_fail_cleanly)
{
	struct tls_ctx_opts so = {0}, co = {0};
	struct tls_ctx *sc = server_ctx(&so, true), *cc = client_ctx(&co);
	struct inbox hello = {0}, out = {0};
	struct tls_conn *c, *t;
	unsigned seed = 12345, i, k;
	char *buf;
	int rc;

	c = tls_conn_new(cc, "localhost", box_out, &hello);
	ck_assert_int_eq(tls_conn_handshake(c), -EAGAIN);
	tls_conn_free(c);
	buf = malloc(hello.len);
	for (i = 0; i < 2000; i++) {
		memcpy(buf, hello.buf, hello.len);
		for (k = 0; k < 1 + i % 4; k++)
			buf[5 + rand_r(&seed) % (hello.len - 5)] ^= (char)(1 + rand_r(&seed) % 255);
		if (i % 3 == 0)
			buf[rand_r(&seed) % 5] ^= (char)(1 + rand_r(&seed) % 255);
		t = tls_conn_new(sc, NULL, box_out, &out);
		ck_assert_int_eq(tls_conn_feed(t, buf, 1 + rand_r(&seed) % hello.len), 0);
		rc = tls_conn_handshake(t);
		ck_assert(rc == -EAGAIN || rc == -EPROTO);
		tls_conn_free(t);
		out.len = 0;
	}
	free(buf);
	free(hello.buf);
	free(out.buf);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

START_TEST(the_peer_closing_in_the_handshake_is_closed_in_handshake)
{
	struct tls_ctx_opts so = {0};
	struct tls_ctx *sc = server_ctx(&so, false);
	struct inbox out = {0};
	struct tls_conn *t = tls_conn_new(sc, NULL, box_out, &out);

	ck_assert_int_eq(tls_conn_feed(t, "\x16\x03\x01", 3), 0);
	ck_assert_int_eq(tls_conn_handshake(t), -EAGAIN);
	tls_conn_feed_eof(t);
	ck_assert_int_eq(tls_conn_handshake(t), -ECONNRESET);
	ck_assert_int_eq(tls_conn_reason(t), TLS_R_CLOSED);
	tls_conn_free(t);
	free(out.buf);
	tls_ctx_free(sc);
}
END_TEST

START_TEST(close_notify_reads_as_end_of_stream_and_a_bare_close_as_truncated)
{
	struct tls_ctx_opts so = {0}, co = {0};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	struct pair p;
	char buf[16];

	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), 0);
	exchange_both_ways(&p);
	ck_assert_int_eq(tls_conn_shutdown(p.c.t), 0);
	ck_assert_int_eq(tls_conn_shutdown(p.c.t), 0); /* once only */
	ck_assert_int_eq(end_read(&p.s, buf, sizeof(buf)), 0);
	ck_assert_int_eq(end_read(&p.s, buf, sizeof(buf)), 0);
	pair_close(&p);

	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), 0);
	exchange_both_ways(&p);
	tls_conn_feed_eof(p.s.t);
	ck_assert_int_eq(end_read(&p.s, buf, sizeof(buf)), -ECONNRESET);
	ck_assert_int_eq(tls_conn_reason(p.s.t), TLS_R_TRUNCATED);
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

START_TEST(an_out_callback_that_refuses_fails_the_connection_as_io)
{
	struct tls_ctx_opts so = {0}, co = {0};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	struct pair p;

	pair_open(&p, cc, sc, "localhost");
	p.c.in.fail = true; /* the server's records go nowhere */
	ck_assert_int_eq(pair_handshake(&p), -EPIPE);
	ck_assert_int_eq(tls_conn_reason(p.s.t), TLS_R_IO);
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

START_TEST(a_failure_set_by_the_caller_sticks)
{
	struct tls_ctx_opts so = {0};
	struct tls_ctx *sc = server_ctx(&so, false);
	struct inbox out = {0};
	struct tls_conn *t = tls_conn_new(sc, NULL, box_out, &out);

	tls_conn_fail(t, TLS_R_TIMEOUT);
	ck_assert_int_eq(tls_conn_handshake(t), -ETIMEDOUT);
	ck_assert_str_eq(tls_reason_name(tls_conn_reason(t)), "timeout");
	tls_conn_free(t);
	tls_ctx_free(sc);
}
END_TEST

/* --- certificates --- */

START_TEST(the_client_picks_ecdsa_or_rsa_by_what_it_offers)
{
	struct tls_ctx_opts so = {0}, co = {.max_version = 12}, ro = {0};
	struct tls_ctx *sc = server_ctx(&so, true), *cc = client_ctx(&co), *rc;
	struct pair p;

	ro.max_version = 12;
	ro.ciphers = "ECDHE-RSA-AES128-GCM-SHA256";
	rc = client_ctx(&ro);
	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), 0);
	ck_assert_str_eq(tls_conn_cert_type(p.s.t), "ecdsa");
	pair_close(&p);

	pair_open(&p, rc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), 0);
	ck_assert_str_eq(tls_conn_cert_type(p.s.t), "rsa");
	ck_assert_str_eq(tls_conn_cipher(p.s.t), "ECDHE-RSA-AES128-GCM-SHA256");
	exchange_both_ways(&p);
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
	tls_ctx_free(rc);
}
END_TEST

START_TEST(an_rsa_only_server_serves_tls13)
{
	struct tls_ctx_opts so = {0}, co = {0};
	struct tls_ctx *sc, *cc = client_ctx(&co);
	struct pair p;

	so.certs[0].cert = cf("rsa.pem");
	so.certs[0].key = cf("rsa.key");
	sc = server_ctx(&so, false);
	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), 0);
	ck_assert_str_eq(tls_conn_cert_type(p.s.t), "rsa");
	ck_assert_uint_eq(tls_conn_version(p.s.t), 13);
	exchange_both_ways(&p);
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

static struct tls_ctx *sni_other, *sni_wild;
static unsigned sni_calls;

static struct tls_ctx *pick_by_name(void *arg, const char *name)
{
	sni_calls++;
	ck_assert_ptr_eq(arg, &sni_calls);
	if (strcmp(name, "other.test") == 0)
		return tls_ctx_get(sni_other);
	if (strlen(name) > 13 && strcmp(name + strlen(name) - 13, ".example.test") == 0)
		return tls_ctx_get(sni_wild);
	return NULL;
}

START_TEST(the_sni_hook_picks_the_context_by_name)
{
	struct tls_ctx_opts so = {0}, oo = {0}, wo = {0}, co = {0};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	const char *names[] = {"other.test", "www.example.test", "localhost", "unknown.test"};
	struct pair p;
	unsigned i;

	oo.certs[0].cert = cf("other.pem");
	oo.certs[0].key = cf("other.key");
	wo.certs[0].cert = cf("wild.pem");
	wo.certs[0].key = cf("wild.key");
	sni_other = server_ctx(&oo, false);
	sni_wild = server_ctx(&wo, false);
	tls_ctx_set_sni(sc, pick_by_name, &sni_calls);
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		pair_open(&p, cc, sc, names[i]);
		/* The client checks the name: it connects only if the server
		 * chose the certificate for it. */
		ck_assert_int_eq(pair_handshake(&p), i < 3 ? 0 : -EPROTO);
		ck_assert_str_eq(tls_conn_sni(p.s.t), names[i]);
		if (i < 3)
			exchange_both_ways(&p);
		else
			ck_assert_int_eq(tls_conn_reason(p.c.t), TLS_R_BAD_CERT);
		pair_close(&p);
	}
	ck_assert_uint_eq(sni_calls, 4);
	/* The context outlives its last outside reference while a connection
	 * holds it. */
	pair_open(&p, cc, sc, "other.test");
	ck_assert_int_eq(pair_handshake(&p), 0);
	tls_ctx_free(sni_other);
	exchange_both_ways(&p);
	pair_close(&p);
	tls_ctx_free(sni_wild);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

static void collect_name(void *arg, const char *name)
{
	char *all = arg;

	strcat(all, name);
	strcat(all, ";");
}

START_TEST(ctx_names_lists_the_sans_or_else_the_cn)
{
	struct tls_ctx_opts so = {0}, oo = {0};
	struct tls_ctx *sc = server_ctx(&so, true), *oc;
	char all[256] = "";

	oo.certs[0].cert = cf("other.pem");
	oo.certs[0].key = cf("other.key");
	oc = server_ctx(&oo, false);
	ck_assert_int_eq(tls_ctx_names(sc, collect_name, all), 0);
	/* Both certificates' names, in wolfSSL's order. */
	ck_assert_int_eq(strlen(all), 2 * strlen("localhost;example.test;"));
	ck_assert_ptr_nonnull(strstr(all, "localhost;"));
	ck_assert_ptr_nonnull(strstr(all, "example.test;"));
	all[0] = 0;
	ck_assert_int_eq(tls_ctx_names(oc, collect_name, all), 0);
	ck_assert_str_eq(all, "other.test;");
	tls_ctx_free(sc);
	tls_ctx_free(oc);
}
END_TEST

/* _i: 0 a good certificate, 1 none, 2 one from an unknown CA */
START_TEST(a_required_client_certificate_is_checked)
{
	struct tls_ctx_opts so = {.ca = cf("ca.pem"), .verify = TLS_VERIFY_REQUIRED}, co = {0};
	static const enum tls_reason want[] = {TLS_R_NONE, TLS_R_NO_CERT, TLS_R_UNKNOWN_CA};
	struct tls_ctx *sc = server_ctx(&so, false), *cc;
	struct pair p;

	if (_i == 0) {
		co.certs[0].cert = cf("client.pem");
		co.certs[0].key = cf("client.key");
	} else if (_i == 2) {
		co.certs[0].cert = cf("rogue.pem");
		co.certs[0].key = cf("rogue.key");
	}
	cc = client_ctx(&co);
	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), _i == 0 ? 0 : -EPROTO);
	ck_assert_msg(tls_conn_reason(p.s.t) == want[_i], "reason %s (wolfSSL error %d)",
	              tls_reason_name(tls_conn_reason(p.s.t)), tls_conn_error(p.s.t));
	if (_i == 0)
		exchange_both_ways(&p);
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

START_TEST(an_optional_client_certificate_may_be_absent)
{
	struct tls_ctx_opts so = {.ca = cf("ca.pem"), .verify = TLS_VERIFY_OPTIONAL}, co = {0};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	struct pair p;

	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), 0);
	exchange_both_ways(&p);
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

START_TEST(a_client_refuses_a_server_its_ca_did_not_sign)
{
	struct tls_ctx_opts so = {0}, co = {.ca = cf("rogueca.pem")};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	struct pair p;

	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), -EPROTO);
	ck_assert_int_eq(tls_conn_reason(p.c.t), TLS_R_UNKNOWN_CA);
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

/* --- context errors --- */

static void ctx_fails(struct tls_ctx_opts *o, const char *want1, const char *want2)
{
	struct tls_ctx *c = tls_ctx_new(o, errbuf, sizeof(errbuf));

	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(errbuf, want1), "\"%s\" lacks \"%s\"", errbuf, want1);
	ck_assert_msg(!want2 || strstr(errbuf, want2), "\"%s\" lacks \"%s\"", errbuf, want2);
}

START_TEST(a_mismatched_key_and_certificate_is_a_ctx_error_naming_the_file)
{
	struct tls_ctx_opts o = {0};
	char want[PATH_MAX + 64];

	o.certs[0].cert = cf("ecdsa.pem");
	o.certs[0].key = cf("other.key");
	snprintf(want, sizeof(want), "%s: key does not match certificate", cf("other.key"));
	ctx_fails(&o, want, cf("ecdsa.pem"));
	o.certs[0].key = cf("rsa.key"); /* another type altogether */
	ctx_fails(&o, "rsa.key: key does not match certificate", NULL);
}
END_TEST

START_TEST(bad_certificate_files_are_ctx_errors_naming_the_file)
{
	struct tls_ctx_opts o = {0};
	char junk[PATH_MAX + 16];
	FILE *f;

	o.certs[0].cert = cf("missing.pem");
	o.certs[0].key = cf("ecdsa.key");
	ctx_fails(&o, "missing.pem: cannot open: No such file or directory", NULL);
	o.certs[0].cert = certdir;
	ctx_fails(&o, certdir, "unreadable: is a directory");
	snprintf(junk, sizeof(junk), "%s/junk.pem", certdir);
	f = fopen(junk, "w");
	fputs("not a certificate\n", f);
	fclose(f);
	o.certs[0].cert = junk;
	ctx_fails(&o, "junk.pem: not PEM", NULL);
	o.certs[0].cert = cf("ecdsa.pem");
	o.certs[0].key = cf("ecdsa.pem");
	ctx_fails(&o, "ecdsa.pem: not a PEM PRIVATE KEY", NULL);
	o.certs[0].cert = cf("ecdsa.key");
	o.certs[0].key = cf("ecdsa.key");
	ctx_fails(&o, "ecdsa.key: not a PEM CERTIFICATE", NULL);
	o.certs[0].cert = cf("ecdsa.pem");
	o.certs[0].key = cf("ecdsa.key");
	o.certs[1].cert = cf("other.pem");
	o.certs[1].key = cf("other.key");
	ctx_fails(&o, "other.pem: a second ECDSA certificate", NULL);
}
END_TEST

START_TEST(bad_settings_are_ctx_errors)
{
	struct tls_ctx_opts o = {0};

	ctx_fails(&o, "no certificate given", NULL);
	o.certs[0].cert = cf("ecdsa.pem");
	o.certs[0].key = cf("ecdsa.key");
	o.min_version = 11;
	ctx_fails(&o, "min_version", NULL);
	o.min_version = 13;
	o.max_version = 12;
	ctx_fails(&o, "min <= max", NULL);
	o.min_version = o.max_version = 0;
	o.verify = TLS_VERIFY_REQUIRED;
	ctx_fails(&o, "needs a client_ca", NULL);
	o.verify = TLS_VERIFY_NONE;
	o.ciphers = "NOPE";
	o.ciphersuites = "NOPE-EITHER";
	ctx_fails(&o, "ciphers: no usable cipher", NULL);
}
END_TEST

/* --- resumption --- */

/* _i: 0 TLS 1.3 ticket, 1 TLS 1.2 ticket, 2 TLS 1.2 session cache (tickets off) */
START_TEST(a_second_handshake_resumes_the_session)
{
	struct tls_ctx_opts so = {.no_tickets = _i == 2}, co = {.max_version = _i ? 12 : 0};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	struct tls_sess *sess;
	struct pair p;

	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), 0);
	exchange_both_ways(&p); /* the client reads the TLS 1.3 ticket on the way */
	ck_assert(!tls_conn_resumed(p.s.t));
	sess = tls_conn_session(p.c.t);
	ck_assert_ptr_nonnull(sess);
	pair_close(&p);

	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(tls_conn_set_session(p.c.t, sess), 0);
	ck_assert_int_eq(pair_handshake(&p), 0);
	ck_assert(tls_conn_resumed(p.s.t));
	ck_assert(tls_conn_resumed(p.c.t));
	exchange_both_ways(&p);
	pair_close(&p);
	tls_sess_free(sess);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

START_TEST(with_tickets_and_cache_off_nothing_resumes)
{
	struct tls_ctx_opts so = {.no_tickets = true, .no_session_cache = true}, co = {0};
	struct tls_ctx *sc, *cc;
	struct tls_sess *sess;
	struct pair p;
	unsigned v;

	for (v = 12; v <= 13; v++) {
		co.max_version = v;
		sc = server_ctx(&so, false);
		cc = client_ctx(&co);
		pair_open(&p, cc, sc, "localhost");
		ck_assert_int_eq(pair_handshake(&p), 0);
		exchange_both_ways(&p);
		sess = tls_conn_session(p.c.t);
		pair_close(&p);
		pair_open(&p, cc, sc, "localhost");
		if (sess)
			tls_conn_set_session(p.c.t, sess);
		ck_assert_int_eq(pair_handshake(&p), 0);
		ck_assert(!tls_conn_resumed(p.s.t));
		pair_close(&p);
		tls_sess_free(sess);
		tls_ctx_free(sc);
		tls_ctx_free(cc);
		memset(&so.certs, 0, sizeof(so.certs));
		memset(&co.certs, 0, sizeof(co.certs));
		co.ca = NULL;
		co.verify = TLS_VERIFY_NONE;
	}
}
END_TEST

/* --- session ticket keys (tls/ticket.c) --- */

/* A server context that resumes by ticket only (no session cache: a TLS
 * 1.2 session id cannot stand in for a ticket refused). */
static struct tls_ctx *ticket_server(void)
{
	struct tls_ctx_opts so = {.no_session_cache = true};

	return server_ctx(&so, false);
}

/* A handshake on <sc>, resuming <sess> if not NULL, and one request. Returns
 * whether it resumed; *next, if asked for, gets the session the client
 * leaves with (its ticket as renewed, if it was). */
static bool ticket_handshake(struct tls_ctx *cc, struct tls_ctx *sc, struct tls_sess *sess,
                             struct tls_sess **next)
{
	struct pair p;
	bool resumed;

	pair_open(&p, cc, sc, "localhost");
	if (sess)
		ck_assert_int_eq(tls_conn_set_session(p.c.t, sess), 0);
	ck_assert_int_eq(pair_handshake(&p), 0);
	exchange_both_ways(&p); /* the client reads the TLS 1.3 ticket on the way */
	resumed = tls_conn_resumed(p.s.t);
	ck_assert(resumed == tls_conn_resumed(p.c.t));
	if (next) {
		*next = tls_conn_session(p.c.t);
		ck_assert_ptr_nonnull(*next);
	}
	pair_close(&p);
	return resumed;
}

/* Whether the server goes for a full handshake when offered <sess>: its
 * answer to the ClientHello, without the rest. A TLS 1.2 wolfSSL 5.5.4
 * client cannot go on: it sends no session id with its ticket, and then
 * takes any ServerHello for a resumption (fixed in wolfSSL 5.6.4); real
 * clients compare the session id (RFC 5077 3.4) and do the full handshake. */
static bool server_goes_full(struct tls_ctx *cc, struct tls_ctx *sc, struct tls_sess *sess)
{
	struct pair p;
	bool full;

	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(tls_conn_set_session(p.c.t, sess), 0);
	ck_assert_int_eq(end_handshake(&p.c), -EAGAIN);
	ck_assert_int_eq(end_handshake(&p.s), -EAGAIN);
	full = !tls_conn_resumed(p.s.t);
	pair_close(&p);
	return full;
}

static struct tls_ticket_stats ticket_stats(void)
{
	struct tls_ticket_stats st;

	tls_ticket_stats(&st);
	return st;
}

/* _i in these: 0 TLS 1.3, 1 TLS 1.2 */
START_TEST(a_ticket_from_one_context_resumes_on_a_new_one_as_after_a_reload)
{
	struct tls_ctx_opts co = {.max_version = _i ? 12 : 0};
	struct tls_ctx *cc = client_ctx(&co), *a = ticket_server(), *b;
	struct tls_sess *sess;

	ck_assert(!ticket_handshake(cc, a, NULL, &sess));
	tls_ctx_free(a); /* the old generation goes */
	b = ticket_server();
	ck_assert(ticket_handshake(cc, b, sess, NULL));
	ck_assert_uint_eq(ticket_stats().accepted, 1);
	tls_sess_free(sess);
	tls_ctx_free(b);
	tls_ctx_free(cc);
}
END_TEST

START_TEST(after_one_rotation_an_old_ticket_still_resumes_and_is_renewed)
{
	struct tls_ctx_opts co = {.max_version = _i ? 12 : 0};
	struct tls_ctx *cc = client_ctx(&co), *sc = ticket_server();
	struct tls_sess *old, *renewed;
	uint64_t gen = ticket_stats().generation;

	ck_assert(!ticket_handshake(cc, sc, NULL, &old));
	ck_assert_int_eq(tls_ticket_rotate(), 0);
	ck_assert_uint_eq(ticket_stats().generation, gen + 1);
	ck_assert(ticket_handshake(cc, sc, old, &renewed));
	ck_assert_uint_eq(ticket_stats().renewed, 1);
	ck_assert_uint_eq(ticket_stats().issued, 2);
	/* The renewed ticket is under the current key: one more rotation
	 * leaves it resuming, and the old one not. */
	ck_assert_int_eq(tls_ticket_rotate(), 0);
	ck_assert(ticket_handshake(cc, sc, renewed, NULL));
	ck_assert(server_goes_full(cc, sc, old));
	tls_sess_free(old);
	tls_sess_free(renewed);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

/* The session lifetime is the ticket lifetime the client is told, and the
 * age past which the server refuses a ticket. <long> (300 s) and <brief>
 * (1 s; wolfSSL's TLS 1.2 check counts whole seconds) share the process's
 * ticket keys, so a ticket from <long> is one the client still offers. */
START_TEST(a_ticket_past_the_session_lifetime_gets_a_full_handshake)
{
	struct tls_ctx_opts lo = {.no_session_cache = true}, bo = lo;
	struct tls_ctx_opts co = {.max_version = _i ? 12 : 0};
	struct tls_ctx *cc = client_ctx(&co), *lng, *brief;
	struct tls_sess *sess, *told;
	struct pair p;

	bo.session_lifetime = 1;
	lng = server_ctx(&lo, false);
	brief = server_ctx(&bo, false);
	ck_assert(!ticket_handshake(cc, lng, NULL, &sess));
	ck_assert(!ticket_handshake(cc, brief, NULL, &told));
	ck_assert(!server_goes_full(cc, brief, sess));
	usleep(2500 * 1000);
	ck_assert(server_goes_full(cc, brief, sess));
	ck_assert(!server_goes_full(cc, lng, sess));
	/* Told 1 s, the client no longer offers its ticket. */
	pair_open(&p, cc, brief, "localhost");
	ck_assert_int_eq(tls_conn_set_session(p.c.t, told), -EINVAL);
	pair_close(&p);
	tls_sess_free(sess);
	tls_sess_free(told);
	tls_ctx_free(lng);
	tls_ctx_free(brief);
	tls_ctx_free(cc);
}
END_TEST

START_TEST(after_two_rotations_an_old_ticket_gets_a_full_handshake)
{
	struct tls_ctx_opts co = {.max_version = _i ? 12 : 0};
	struct tls_ctx *cc = client_ctx(&co), *sc = ticket_server();
	struct tls_sess *old, *fresh;

	ck_assert(!ticket_handshake(cc, sc, NULL, &old));
	ck_assert_int_eq(tls_ticket_rotate(), 0);
	ck_assert_int_eq(tls_ticket_rotate(), 0);
	ck_assert(server_goes_full(cc, sc, old));
	ck_assert_uint_ge(ticket_stats().refused, 1);
	ck_assert_uint_eq(ticket_stats().accepted + ticket_stats().renewed, 0);
	if (_i == 0) { /* the whole full handshake, and its ticket works */
		ck_assert(!ticket_handshake(cc, sc, old, &fresh));
		ck_assert(ticket_handshake(cc, sc, fresh, NULL));
		tls_sess_free(fresh);
	}
	tls_sess_free(old);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

START_TEST(with_session_tickets_off_no_ticket_is_issued)
{
	struct tls_ctx_opts so = {.no_tickets = true, .no_session_cache = true};
	struct tls_ctx_opts co = {.max_version = _i ? 12 : 0};
	struct tls_ctx *cc = client_ctx(&co), *sc = server_ctx(&so, false), *on;
	struct tls_sess *sess;
	struct pair p;

	ck_assert(!ticket_handshake(cc, sc, NULL, &sess));
	ck_assert_uint_eq(ticket_stats().issued, 0);
	pair_open(&p, cc, sc, "localhost");
	tls_conn_set_session(p.c.t, sess); /* refused if there is nothing to resume */
	ck_assert_int_eq(pair_handshake(&p), 0);
	ck_assert(!tls_conn_resumed(p.s.t));
	pair_close(&p);
	tls_sess_free(sess);
	/* A ticket from a context with tickets on is not taken either. */
	on = ticket_server();
	ck_assert(!ticket_handshake(cc, on, NULL, &sess));
	ck_assert_uint_eq(ticket_stats().issued, 1);
	ck_assert(server_goes_full(cc, sc, sess));
	ck_assert_uint_eq(ticket_stats().accepted + ticket_stats().renewed, 0);
	tls_sess_free(sess);
	tls_ctx_free(on);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

/* The ring alone, through the callback wolfSSL calls: a made-up ticket. */
struct fake_ticket {
	unsigned char name[WOLFSSL_TICKET_NAME_SZ], iv[WOLFSSL_TICKET_IV_SZ];
	unsigned char mac[WOLFSSL_TICKET_MAC_SZ], body[64];
};

static int fake_seal(struct fake_ticket *t)
{
	int len;

	memset(t, 0, sizeof(*t));
	memcpy(t->body, "a ticket's secret", 17);
	return ticket_cb(NULL, t->name, t->iv, t->mac, 1, t->body, sizeof(t->body), &len, NULL);
}

/* Decrypts a copy of <t>, leaving <t> as it was. */
static int fake_open(const struct fake_ticket *t)
{
	struct fake_ticket c = *t;
	int len, ret;

	ret = ticket_cb(NULL, c.name, c.iv, c.mac, 0, c.body, sizeof(c.body), &len, NULL);
	if (ret == WOLFSSL_TICKET_RET_OK && memcmp(c.body, "a ticket's secret", 17) != 0)
		return -1;
	return ret;
}

START_TEST(the_ring_takes_tickets_under_its_two_newest_keys_by_name)
{
	struct fake_ticket t, bad;
	unsigned char zero[WOLFSSL_TICKET_NAME_SZ] = {0};

	ck_assert_int_eq(fake_seal(&t), WOLFSSL_TICKET_RET_REJECT); /* no key yet */
	ck_assert_int_eq(tls_ticket_init(0), 0);
	ck_assert_uint_eq(ticket_stats().generation, 1);
	ck_assert_int_eq(tls_ticket_init(60000), 0); /* the same key, another interval */
	ck_assert_uint_eq(ticket_stats().generation, 1);
	ck_assert_int_eq(fake_seal(&t), WOLFSSL_TICKET_RET_OK);
	ck_assert(memcmp(t.name, zero, sizeof(zero)) != 0);
	ck_assert(memcmp(t.body, "a ticket's secret", 17) != 0);
	ck_assert_int_eq(fake_open(&t), WOLFSSL_TICKET_RET_OK);
	/* Any byte changed, in the name, the IV, the body or the tag: refused. */
	bad = t;
	bad.name[3] ^= 1;
	ck_assert_int_eq(fake_open(&bad), WOLFSSL_TICKET_RET_REJECT);
	bad = t;
	bad.iv[0] ^= 1;
	ck_assert_int_eq(fake_open(&bad), WOLFSSL_TICKET_RET_REJECT);
	bad = t;
	bad.body[40] ^= 1;
	ck_assert_int_eq(fake_open(&bad), WOLFSSL_TICKET_RET_REJECT);
	bad = t;
	bad.mac[15] ^= 1;
	ck_assert_int_eq(fake_open(&bad), WOLFSSL_TICKET_RET_REJECT);
	ck_assert_int_eq(tls_ticket_rotate(), 0);
	ck_assert_int_eq(fake_open(&t), WOLFSSL_TICKET_RET_OK);
	ck_assert_uint_eq(ticket_stats().renewed, 1);
	ck_assert_int_eq(fake_seal(&bad), WOLFSSL_TICKET_RET_OK);
	ck_assert(memcmp(bad.name, t.name, sizeof(t.name)) != 0);
	ck_assert_int_eq(tls_ticket_rotate(), 0);
	ck_assert_int_eq(fake_open(&t), WOLFSSL_TICKET_RET_REJECT);
	ck_assert_int_eq(fake_open(&bad), WOLFSSL_TICKET_RET_OK);
	tls_ticket_deinit();
	ck_assert_int_eq(fake_open(&bad), WOLFSSL_TICKET_RET_REJECT);
	ck_assert_uint_eq(ticket_stats().generation, 0);
	ck_assert_uint_eq(ticket_stats().issued, 2);
	ck_assert_uint_eq(ticket_stats().accepted, 1);
	ck_assert_uint_eq(ticket_stats().renewed, 2);
	ck_assert_uint_eq(ticket_stats().refused, 6);
}
END_TEST

START_TEST(the_tick_rotates_once_an_interval_has_passed)
{
	uint64_t gen;

	ck_assert_int_eq(tls_ticket_init(60000), 0);
	gen = ticket_stats().generation;
	ck_assert_uint_eq(tls_ticket_tick(1000), 60000); /* starts counting */
	ck_assert_uint_eq(tls_ticket_tick(60999), 1);
	ck_assert_uint_eq(ticket_stats().generation, gen);
	ck_assert_uint_eq(tls_ticket_tick(61000), 60000);
	ck_assert_uint_eq(ticket_stats().generation, gen + 1);
	/* A late tick rotates once, and counts from then. */
	ck_assert_uint_eq(tls_ticket_tick(500000), 60000);
	ck_assert_uint_eq(ticket_stats().generation, gen + 2);
	/* A new interval (a reload) counts from the last rotation. */
	ck_assert_int_eq(tls_ticket_init(120000), 0);
	ck_assert_uint_eq(tls_ticket_tick(510000), 110000);
	ck_assert_int_eq(tls_ticket_init(0), 0);
	ck_assert_uint_eq(tls_ticket_tick(510000), 12 * 3600 * 1000 - 10000);
	ck_assert_uint_eq(ticket_stats().generation, gen + 2);
}
END_TEST

/* --- randomness (tls/rand.c) --- */

/* Every block drawn is new, and what it was taken from is wiped: the
 * read-ahead buffer never holds a byte that was handed out. */
START_TEST(random_blocks_are_handed_out_once_and_wiped)
{
	unsigned char blocks[3 * RAND_AHEAD / 32][32], big[RAND_AHEAD];
	unsigned i, j, k;

	for (i = 0; i < ARRAY_SIZE(blocks); i++) {
		unsigned char *from;

		ck_assert_int_eq(tls__rand_block(blocks[i], sizeof(blocks[i])), 0);
		from = ahead + RAND_AHEAD - ahead_left - sizeof(blocks[i]);
		for (k = 0; k < sizeof(blocks[i]); k++)
			ck_assert_uint_eq(from[k], 0);
		for (j = 0; j < i; j++)
			ck_assert(memcmp(blocks[i], blocks[j], sizeof(blocks[i])) != 0);
	}
	/* A large block comes straight from the kernel; odd sizes are fine. */
	ck_assert_int_eq(tls__rand_block(big, sizeof(big)), 0);
	ck_assert(memcmp(big, big + RAND_AHEAD / 2, 32) != 0);
	ck_assert_int_eq(tls__rand_block(big, 1), 0);
	ck_assert_int_eq(tls__rand_block(big, 0), 0);
}
END_TEST

/* --- memory --- */

START_TEST(every_allocation_is_given_back)
{
	struct tls_ctx_opts so = {.alpn = "http/1.1"}, co = {.alpn = "http/1.1"};
	struct tls_mem_stats st0, st;
	struct tls_ctx *sc, *cc;
	struct pair p;
	unsigned i;

	tls_mem_stats(&st0);
	sc = server_ctx(&so, true);
	cc = client_ctx(&co);
	for (i = 0; i < 4; i++) {
		pair_open(&p, cc, sc, "localhost");
		ck_assert_int_eq(pair_handshake(&p), 0);
		exchange_both_ways(&p);
		pair_close(&p);
	}
	tls_ctx_free(sc);
	tls_ctx_free(cc);
	tls_mem_stats(&st);
	ck_assert_uint_eq(st.held, 0);
	ck_assert_uint_gt(st.allocs, st0.allocs + 100);
	ck_assert_uint_eq(st.allocs, st.releases);
	ck_assert_uint_gt(st.peak, 0);
}
END_TEST

/* What a server tls_conn holds once idle after a handshake and one request
 * and response (TLS 1.3, ECDSA P-256, X25519): the figure of the issue's
 * target. A first exchange warms the contexts up (what wolfSSL makes on
 * first use); the client is freed before counting. */
static uint64_t idle_server_bytes(bool tickets)
{
	struct tls_ctx_opts so = {.alpn = "http/1.1", .no_tickets = !tickets};
	struct tls_ctx_opts co = {.alpn = "http/1.1"};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	uint64_t base, held;
	struct pair p;
	unsigned i;

	for (i = 0; i < 2; i++) {
		base = tls_mem_held();
		pair_open(&p, cc, sc, "localhost");
		ck_assert_int_eq(pair_handshake(&p), 0);
		exchange_both_ways(&p);
		tls_conn_free(p.c.t);
		p.c.t = NULL;
		held = tls_mem_held() - base;
		pair_close(&p);
	}
	tls_ctx_free(sc);
	tls_ctx_free(cc);
	return held;
}

START_TEST(an_idle_server_connection_holds_little)
{
	uint64_t with = idle_server_bytes(true), without = idle_server_bytes(false);

	fprintf(stderr,
	        "idle server tls_conn after one request: %llu bytes (tickets on), "
	        "%llu (tickets off)\n",
	        (unsigned long long)with, (unsigned long long)without);
	ck_assert_uint_lt(with, TLS_TEST_IDLE_MAX);
	ck_assert_uint_lt(without, TLS_TEST_IDLE_MAX);
}
END_TEST

START_TEST(a_connection_without_a_client_hello_holds_only_its_record)
{
	struct tls_ctx_opts so = {0};
	struct tls_ctx *sc = server_ctx(&so, false);
	uint64_t base = tls_mem_held();
	struct inbox out = {0};
	struct tls_conn *t = tls_conn_new(sc, NULL, box_out, &out);

	ck_assert_uint_le(tls_mem_held() - base, 128);
	/* Half a ClientHello: the record's buffer, no WOLFSSL yet. */
	ck_assert_int_eq(tls_conn_feed(t, "\x16\x03\x01\x01\x00\x01\x00", 7), 0);
	ck_assert_int_eq(tls_conn_handshake(t), -EAGAIN);
	ck_assert_uint_le(tls_mem_held() - base, 128 + 5 + 256 + 32);
	tls_conn_free(t);
	tls_ctx_free(sc);
}
END_TEST

/* --- threads --- */

static struct tls_ctx *shared_sc, *shared_cc;

/* Handshakes, a request and a resumption on contexts another thread uses
 * at the same time. */
static void *thread_handshakes(void *arg)
{
	struct tls_sess *sess = NULL;
	struct pair p;
	unsigned i;

	for (i = 0; i < 20; i++) {
		pair_open(&p, shared_cc, shared_sc, "localhost");
		if (sess)
			FAIL_IF(tls_conn_set_session(p.c.t, sess) != 0, "set_session");
		FAIL_IF(pair_handshake(&p) != 0, "handshake");
		FAIL_IF(sess && !tls_conn_resumed(p.s.t), "not resumed");
		exchange_both_ways(&p);
		tls_sess_free(sess);
		sess = tls_conn_session(p.c.t);
		pair_close(&p);
	}
	tls_sess_free(sess);
	return arg;
}

START_TEST(contexts_are_shared_by_threads)
{
	struct tls_ctx_opts so = {.alpn = "http/1.1"}, co = {.alpn = "http/1.1"};
	pthread_t th[3];
	unsigned i;

	co.max_version = _i ? 12 : 0;
	shared_sc = server_ctx(&so, true);
	shared_cc = client_ctx(&co);
	for (i = 0; i < ARRAY_SIZE(th); i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, thread_handshakes, NULL), 0);
	for (i = 0; i < ARRAY_SIZE(th); i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	tls_ctx_free(shared_sc);
	tls_ctx_free(shared_cc);
}
END_TEST

/* Rotations racing handshakes that resume (the control thread's ticks
 * against the workers'). */
static _Atomic bool rotating_done;
static _Atomic unsigned ticket_attempts, ticket_resumed, ticket_cut;

/* One handshake offering <sess> (may be NULL); returns the session the
 * client leaves with, NULL when a TLS 1.2 client could not go on after a
 * refused ticket (see server_goes_full()). */
static struct tls_sess *racing_handshake(struct tls_sess *sess)
{
	struct tls_sess *next = NULL;
	struct pair p;
	int rc;

	pair_open(&p, shared_cc, shared_sc, "localhost");
	if (sess) {
		atomic_fetch_add(&ticket_attempts, 1);
		FAIL_IF(tls_conn_set_session(p.c.t, sess) != 0, "set_session");
	}
	rc = pair_handshake(&p);
	if (rc == 0) {
		exchange_both_ways(&p);
		if (tls_conn_resumed(p.s.t))
			atomic_fetch_add(&ticket_resumed, 1);
		next = tls_conn_session(p.c.t);
		FAIL_IF(!next, "no session");
	} else {
		FAIL_IF(!sess || tls_conn_version(p.c.t) || tls_conn_resumed(p.s.t) ||
		            tls_conn_reason(p.c.t) != TLS_R_BAD_RECORD,
		        "handshake %d", rc);
		atomic_fetch_add(&ticket_cut, 1);
	}
	pair_close(&p);
	return next;
}

/* Rotations done so far: the resuming threads go on until a few have
 * happened (a fast machine finishes 40 handshakes within one). */
static _Atomic unsigned rotations_done;

static void *thread_resumes(void *arg)
{
	struct tls_sess *sess = NULL, *next;
	unsigned i;

	for (i = 0; i < 4000 && (i < 40 || atomic_load(&rotations_done) < 8); i++) {
		next = racing_handshake(sess);
		tls_sess_free(sess);
		sess = next;
	}
	tls_sess_free(sess);
	return arg;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {0, (long)ms * 1000000};

	nanosleep(&ts, NULL);
}

START_TEST(rotating_while_other_threads_resume_is_safe)
{
	struct tls_ctx_opts co = {.max_version = _i ? 12 : 0};
	struct tls_ticket_stats st;
	pthread_t th[2];
	unsigned i, rotations = 0;
	void *ret;

	shared_sc = ticket_server();
	shared_cc = client_ctx(&co);
	atomic_store(&rotations_done, 0);
	for (i = 0; i < ARRAY_SIZE(th); i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, thread_resumes, NULL), 0);
	/* Two rotations at a time, every few handshakes: tickets resume, are
	 * renewed, or are too old. */
	for (i = 0; i < ARRAY_SIZE(th); i++) {
		while (pthread_tryjoin_np(th[i], &ret) == EBUSY) {
			ck_assert_int_eq(tls_ticket_rotate(), 0);
			ck_assert_int_eq(tls_ticket_rotate(), 0);
			rotations += 2;
			atomic_store(&rotations_done, rotations);
			sleep_ms(2);
		}
	}
	tls_ticket_stats(&st);
	fprintf(stderr,
	        "TLS 1.%d, %u rotations: %u of %u tickets resumed (%llu renewed), %llu refusals\n",
	        _i ? 2 : 3, rotations, atomic_load(&ticket_resumed), atomic_load(&ticket_attempts),
	        (unsigned long long)st.renewed, (unsigned long long)st.refused);
	ck_assert_uint_gt(rotations, 2);
	ck_assert_uint_eq(st.accepted + st.renewed, atomic_load(&ticket_resumed));
	if (_i == 0)
		ck_assert_uint_eq(atomic_load(&ticket_cut), 0);
	tls_ctx_free(shared_sc);
	tls_ctx_free(shared_cc);
}
END_TEST

/* Readers of the ring racing a writer: a ticket sealed and opened at once
 * fails only if two rotations came in between. A reader that copied a
 * key half written would seal or open with garbage. */
static void *thread_seal_open(void *arg)
{
	unsigned *torn = arg, n = 0;
	struct fake_ticket t;
	uint64_t g1, g2;
	int s, o;

	while (!atomic_load(&rotating_done) || n < 100) {
		g1 = ticket_stats().generation;
		s = fake_seal(&t);
		o = fake_open(&t);
		g2 = ticket_stats().generation;
		if ((s != WOLFSSL_TICKET_RET_OK || o != WOLFSSL_TICKET_RET_OK) && g2 - g1 < 2)
			(*torn)++;
		n++;
	}
	return NULL;
}

START_TEST(readers_racing_rotations_never_use_a_torn_key)
{
	unsigned torn[2] = {0}, i;
	pthread_t th[2];

	ck_assert_int_eq(tls_ticket_init(0), 0);
	for (i = 0; i < ARRAY_SIZE(th); i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, thread_seal_open, &torn[i]), 0);
	for (i = 0; i < 20000; i++)
		ck_assert_int_eq(tls_ticket_rotate(), 0);
	atomic_store(&rotating_done, true);
	for (i = 0; i < ARRAY_SIZE(th); i++)
		ck_assert_int_eq(pthread_join(th[i], NULL), 0);
	ck_assert_uint_eq(torn[0] + torn[1], 0);
	ck_assert_uint_ge(ticket_stats().issued, 200);
	ck_assert_uint_eq(ticket_stats().generation, 20001);
}
END_TEST

/* --- measurement (CK_RUN_CASE=measure) --- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* CPU per full handshake: both sides run in this process, so the server's
 * share is the time spent in its calls alone. */
/* tls/x25519.c: key shares' public keys by the fixed-base Edwards
 * multiplication must equal wolfSSL's ladder for every private key, and
 * two key pairs made through the wrapped wc_curve25519_make_key() agree on
 * their shared secret. */
static void clamp25519(unsigned char k[32])
{
	k[0] &= 248;
	k[31] &= 127;
	k[31] |= 64;
}

START_TEST(x25519_fixed_base_public_keys_equal_the_ladder)
{
	unsigned char k[32], fast[32], ladder[32];

	ck_assert_int_eq(tls__lib_init(), 0);
	ck_assert(tls__x25519_fast());
	for (unsigned i = 0; i < 2000 + 2; i++) {
		if (i == 0)
			memset(k, 0, sizeof(k)); /* the smallest clamped scalar, 2^254 */
		else if (i == 1)
			memset(k, 0xff, sizeof(k)); /* the largest */
		else
			ck_assert_int_eq(tls__rand_block(k, sizeof(k)), 0);
		clamp25519(k);
		tls__x25519_base(fast, k);
		ck_assert_int_eq(wc_curve25519_make_pub(sizeof(ladder), ladder, sizeof(k), k), 0);
		ck_assert_mem_eq(fast, ladder, sizeof(fast));
	}
}
END_TEST

START_TEST(x25519_key_pairs_made_for_tls_agree_on_a_shared_secret)
{
	curve25519_key a, b;
	unsigned char s1[32], s2[32];
	word32 n1 = sizeof(s1), n2 = sizeof(s2);
	WC_RNG rng;

	ck_assert_int_eq(tls__lib_init(), 0);
	ck_assert_int_eq(wc_InitRng(&rng), 0);
	for (int i = 0; i < 50; i++) {
		ck_assert_int_eq(wc_curve25519_init(&a), 0);
		ck_assert_int_eq(wc_curve25519_init(&b), 0);
		ck_assert_int_eq(wc_curve25519_make_key(&rng, 32, &a), 0);
		ck_assert_int_eq(wc_curve25519_make_key(&rng, 32, &b), 0);
		ck_assert_int_eq(wc_curve25519_shared_secret(&a, &b, s1, &n1), 0);
		ck_assert_int_eq(wc_curve25519_shared_secret(&b, &a, s2, &n2), 0);
		ck_assert_uint_eq(n1, 32);
		ck_assert_mem_eq(s1, s2, 32);
		wc_curve25519_free(&a);
		wc_curve25519_free(&b);
	}
	ck_assert_int_eq(wc_curve25519_make_key(&rng, 31, &a), ECC_BAD_ARG_E);
	wc_FreeRng(&rng);
}
END_TEST

START_TEST(measure_handshake_cpu)
{
	struct tls_ctx_opts so = {.no_tickets = true, .no_session_cache = true}, co = {0};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	double srv = 0, t0, start = now_s();
	unsigned i, n = getenv("TLS_MEASURE_N") ? atoi(getenv("TLS_MEASURE_N")) : 200;
	struct pair p;

	for (i = 0; i < n; i++) {
		pair_open(&p, cc, sc, "localhost");
		p.c.rc = p.s.rc = -EAGAIN;
		while (p.c.rc || p.s.rc) {
			if (p.c.rc == -EAGAIN)
				end_handshake(&p.c);
			if (p.s.rc == -EAGAIN) {
				t0 = now_s();
				end_handshake(&p.s);
				srv += now_s() - t0;
			}
			FAIL_IF(p.c.rc != 0 && p.c.rc != -EAGAIN, "client %d", p.c.rc);
			FAIL_IF(p.s.rc != 0 && p.s.rc != -EAGAIN, "server %d", p.s.rc);
		}
		pair_close(&p);
	}
	fprintf(stderr,
	        "%u full TLS 1.3 handshakes (ECDSA P-256, X25519): server %.1f us each, "
	        "both sides %.1f us\n",
	        n, srv / n * 1e6, (now_s() - start) / n * 1e6);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

/* The key share's public key: the fixed-base multiplication against
 * wolfSSL's ladder (thread CPU time, 5,000 keys each). */
START_TEST(measure_x25519_public_key)
{
	unsigned char k[32], pub[32];
	double t0, t1, t2;
	const int n = 5000;

	ck_assert_int_eq(tls__lib_init(), 0);
	ck_assert_int_eq(tls__rand_block(k, sizeof(k)), 0);
	clamp25519(k);
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		tls__x25519_base(pub, k);
		k[5] ^= pub[3]; /* each key depends on the last */
	}
	t1 = now_s();
	for (int i = 0; i < n; i++) {
		ck_assert_int_eq(wc_curve25519_make_pub(sizeof(pub), pub, sizeof(k), k), 0);
		k[5] ^= pub[3];
	}
	t2 = now_s();
	fprintf(stderr, "X25519 public key: fixed base %.1f us, ladder %.1f us\n",
	        (t1 - t0) / n * 1e6, (t2 - t1) / n * 1e6);
}
END_TEST

START_TEST(measure_bulk_throughput)
{
	struct tls_ctx_opts so = {0}, co = {0};
	struct tls_ctx *sc = server_ctx(&so, false), *cc = client_ctx(&co);
	size_t len = 16384, total = 0, mb = 256;
	char *buf = calloc(1, len), *back = malloc(len);
	double enc = 0, dec = 0, t0;
	struct pair p;

	pair_open(&p, cc, sc, "localhost");
	ck_assert_int_eq(pair_handshake(&p), 0);
	while (total < mb << 20) {
		t0 = now_s();
		FAIL_IF(tls_conn_write(p.s.t, buf, len) != (ssize_t)len, "write");
		enc += now_s() - t0;
		t0 = now_s();
		FAIL_IF(end_read(&p.c, back, len) != (ssize_t)len, "read");
		dec += now_s() - t0;
		total += len;
	}
	fprintf(stderr, "AES-128-GCM, 16 KiB writes: encrypt %.0f MB/s, decrypt %.0f MB/s\n",
	        total / enc / 1e6, total / dec / 1e6);
	free(buf);
	free(back);
	pair_close(&p);
	tls_ctx_free(sc);
	tls_ctx_free(cc);
}
END_TEST

static Suite *tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *th = ck_tcase("handshake", 60, setup, teardown);
	TCase *tc = ck_tcase("certificates", 60, setup, teardown);
	TCase *te = ck_tcase("ctx_errors", 30, setup, teardown);
	TCase *tr = ck_tcase("resumption", 30, setup, teardown);
	TCase *tk = ck_tcase("tickets", 30, setup, teardown);
	TCase *tm = ck_tcase("memory", 60, setup, teardown);
	TCase *tt = ck_tcase("threads", 120, setup, teardown);
	TCase *tx;

	tcase_add_test(th, a_tls13_handshake_completes_and_data_flows_both_ways);
	tcase_add_test(th, session_objects_are_pooled_per_thread_and_reused);
	tcase_add_test(th, a_tls12_handshake_completes_and_data_flows_both_ways);
	tcase_add_test(th, a_large_write_arrives_whole_in_several_records);
	tcase_add_test(th, pending_ciphertext_moved_and_fed_again_later_reads_whole);
	tcase_add_test(th, alpn_http11_is_negotiated);
	tcase_add_test(th, an_h2_only_client_is_refused_with_no_application_protocol);
	tcase_add_test(th, a_client_without_alpn_still_connects_to_an_alpn_server);
	tcase_add_test(th, min_version_13_refuses_a_tls12_only_client_with_protocol_version);
	tcase_add_test(th, no_cipher_in_common_is_classified_as_no_shared_cipher);
	tcase_add_loop_test(th, a_client_hello_fed_one_byte_at_a_time_completes, 0, 2);
	tcase_add_loop_test(th, garbage_instead_of_a_client_hello_fails_as_bad_record, 0,
	                    ARRAY_SIZE(garbage));
	tcase_add_test(th, mangled_client_hellos_fail_cleanly);
	tcase_add_test(th, the_peer_closing_in_the_handshake_is_closed_in_handshake);
	tcase_add_test(th, close_notify_reads_as_end_of_stream_and_a_bare_close_as_truncated);
	tcase_add_test(th, an_out_callback_that_refuses_fails_the_connection_as_io);
	tcase_add_test(th, a_failure_set_by_the_caller_sticks);
	suite_add_tcase(s, th);

	tcase_add_test(tc, the_client_picks_ecdsa_or_rsa_by_what_it_offers);
	tcase_add_test(tc, an_rsa_only_server_serves_tls13);
	tcase_add_test(tc, the_sni_hook_picks_the_context_by_name);
	tcase_add_test(tc, ctx_names_lists_the_sans_or_else_the_cn);
	tcase_add_loop_test(tc, a_required_client_certificate_is_checked, 0, 3);
	tcase_add_test(tc, an_optional_client_certificate_may_be_absent);
	tcase_add_test(tc, a_client_refuses_a_server_its_ca_did_not_sign);
	suite_add_tcase(s, tc);

	tcase_add_test(te, a_mismatched_key_and_certificate_is_a_ctx_error_naming_the_file);
	tcase_add_test(te, bad_certificate_files_are_ctx_errors_naming_the_file);
	tcase_add_test(te, bad_settings_are_ctx_errors);
	suite_add_tcase(s, te);

	tcase_add_loop_test(tr, a_second_handshake_resumes_the_session, 0, 3);
	tcase_add_test(tr, with_tickets_and_cache_off_nothing_resumes);
	suite_add_tcase(s, tr);

	/* _i: 0 TLS 1.3, 1 TLS 1.2 */
	tcase_add_loop_test(tk, a_ticket_from_one_context_resumes_on_a_new_one_as_after_a_reload, 0,
	                    2);
	tcase_add_loop_test(tk, after_one_rotation_an_old_ticket_still_resumes_and_is_renewed, 0,
	                    2);
	tcase_add_loop_test(tk, after_two_rotations_an_old_ticket_gets_a_full_handshake, 0, 2);
	tcase_add_loop_test(tk, a_ticket_past_the_session_lifetime_gets_a_full_handshake, 0, 2);
	tcase_add_loop_test(tk, with_session_tickets_off_no_ticket_is_issued, 0, 2);
	tcase_add_test(tk, the_ring_takes_tickets_under_its_two_newest_keys_by_name);
	tcase_add_test(tk, the_tick_rotates_once_an_interval_has_passed);
	suite_add_tcase(s, tk);

	tcase_add_test(tm, random_blocks_are_handed_out_once_and_wiped);
	tcase_add_test(tm, x25519_fixed_base_public_keys_equal_the_ladder);
	tcase_add_test(tm, x25519_key_pairs_made_for_tls_agree_on_a_shared_secret);
	tcase_add_test(tm, every_allocation_is_given_back);
	tcase_add_test(tm, an_idle_server_connection_holds_little);
	tcase_add_test(tm, a_connection_without_a_client_hello_holds_only_its_record);
	suite_add_tcase(s, tm);

	/* _i: 0 TLS 1.3, 1 TLS 1.2 */
	tcase_add_loop_test(tt, contexts_are_shared_by_threads, 0, 2);
	tcase_add_loop_test(tt, rotating_while_other_threads_resume_is_safe, 0, 2);
	tcase_add_test(tt, readers_racing_rotations_never_use_a_torn_key);
	suite_add_tcase(s, tt);

	/* Measurements print figures; they run only when asked for. */
	if (getenv("CK_RUN_CASE") && strcmp(getenv("CK_RUN_CASE"), "measure") == 0) {
		tx = ck_tcase("measure", 120, setup, teardown);
		tcase_add_test(tx, measure_handshake_cpu);
		tcase_add_test(tx, measure_x25519_public_key);
		tcase_add_test(tx, measure_bulk_throughput);
		suite_add_tcase(s, tx);
	}
	return s;
}

/* Finds test/certs/mkcerts.sh: under $RLB_TOP (set by test/run.sh), else
 * the current folder. */
static int make_certs(void)
{
	const char *top = getenv("RLB_TOP");
	char cmd[2 * PATH_MAX + 64];
	const char *tmp = getenv("TMPDIR");

	snprintf(certdir, sizeof(certdir), "%s/ringlb-tls-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(certdir))
		return -1;
	snprintf(cmd, sizeof(cmd), "%s/test/certs/mkcerts.sh %s", top && *top ? top : ".", certdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void remove_certs(void)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certdir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_tls: could not remove %s\n", certdir);
}

int main(void)
{
	int ret;

	if (make_certs() < 0) {
		fprintf(stderr,
		        "test_tls: cannot make the test certificates (openssl, RLB_TOP?)\n");
		return 1;
	}
	ret = ck_run(tls_suite());
	remove_certs();
	return ret;
}
