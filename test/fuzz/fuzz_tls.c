/* libFuzzer harness for the TLS listener (tls/: conn.c, hello.c, ctx.c,
 * sni.c, ticket.c, mem.c, wolf.c), fed as core/xprt/tls.c feeds it:
 *
 *   make fuzz FUZZ=tls SECS=300
 *
 * One server context, built once: an ECDSA and an RSA certificate for
 * localhost (test/fuzz/tls/, committed, valid until 2126), ALPN h2 and
 * http/1.1, TLS 1.2 and 1.3, session tickets, and an SNI store holding a
 * certificate for *.fuzz.test. Each input is what one client sends: the
 * first byte says how it arrives (bits 0-6: a seed for the sizes of the
 * receives, 0 = one receive; bit 7: the peer's end of stream after the last
 * one), the rest is the ciphertext. Each receive is lent to the session
 * with tls_conn_feed() and driven with tls_conn_handshake(), then, once
 * the handshake is done, tls_conn_read() until it wants more, and taken
 * back (fed NULL), exactly as tls_on_recv() does; what the session writes
 * goes to an out callback that keeps it. wolfSSL itself is the build in
 * build/wolfssl, not instrumented: the fuzzer is guided by tls/'s code.
 *
 * What it checks, beyond the sanitizers and LeakSanitizer:
 * - every call answers what tls.h says it may: -EAGAIN (and then nothing
 *   fed is left pending), 0, or a failure with its reason set, the same
 *   failure on every later call;
 * - what the session wrote is a sequence of whole TLS records;
 * - once the connection is freed (and the session pool drained, so ASan
 *   sees a use after free), tls/ holds what it held before: no byte of the
 *   connection is left counted.
 *
 * Randomness is a fixed stream restarted for each input (tls__rand_block()
 * is defined here instead of tls/rand.c), so a run is reproducible and the
 * server answers a given ClientHello with the same bytes every time. That
 * makes whole-handshake seeds possible: run the harness with
 * FUZZ_TLS_SEEDS=DIR and it writes, into DIR, what a tls/ client sends
 * this server in complete handshakes (TLS 1.3 and 1.2, ECDSA and RSA, with
 * SNI and ALPN), then a request and close_notify, and exits
 * (test/fuzz/seeds.py does this).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tls/tls-int.h" /* the code under test (linked by the Makefile); tls__rand_block() */

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);                    \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#define CERTS "test/fuzz/tls/" /* from the top of the tree, where make runs it */

/* ---- randomness: a fixed stream per side ---- */

static uint64_t server_rng, client_rng, *rng = &server_rng;

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

int tls__rand_block(unsigned char *out, unsigned int sz)
{
	while (sz) {
		uint64_t v = splitmix(rng);
		unsigned n = sz < 8 ? sz : 8;

		memcpy(out, &v, n);
		out += n;
		sz -= n;
	}
	return 0;
}

/* ---- what the session writes ---- */

struct wire {
	char *buf;
	size_t len, cap;
};

static int wire_out(void *arg, const char *data, size_t len)
{
	struct wire *w = arg;

	if (w->len + len > w->cap) {
		w->cap = (w->len + len) * 2;
		w->buf = realloc(w->buf, w->cap);
		CHECK(w->buf);
	}
	memcpy(w->buf + w->len, data, len);
	w->len += len;
	return 0;
}

/* Whole records: a known type, version 3.x, a length TLS allows. */
static void check_records(const struct wire *w)
{
	const uint8_t *p = (const uint8_t *)w->buf;
	size_t off = 0;

	while (off < w->len) {
		size_t n;

		CHECK(w->len - off >= 5);
		CHECK(p[off] >= 20 && p[off] <= 23 && p[off + 1] == 3);
		n = (size_t)p[off + 3] << 8 | p[off + 4];
		CHECK(n > 0 && n <= 16384 + 256);
		CHECK(w->len - off - 5 >= n);
		off += 5 + n;
	}
}

/* ---- the server ---- */

static struct tls_ctx *server;
static struct tls_sni *store;
static uint64_t held_idle; /* what tls/ holds with no connection */

static void setup(void)
{
	static const struct tls_cert_opts wild = {CERTS "wild.pem", CERTS "wild.key"};
	struct tls_ctx_opts o = {
	    .certs = {{CERTS "ecdsa.pem", CERTS "ecdsa.key"}, {CERTS "rsa.pem", CERTS "rsa.key"}},
	    .alpn = "h2,http/1.1",
	};
	char err[512];
	struct tls_ctx *c;

	server = tls_ctx_new(&o, err, sizeof(err));
	if (!server) {
		fprintf(stderr, "fuzz_tls: %s (run from the top of the tree)\n", err);
		exit(1);
	}
	store = tls_sni_new(&o, &wild, 1, 1, 0, NULL, NULL, err, sizeof(err));
	if (!store) {
		fprintf(stderr, "fuzz_tls: %s\n", err);
		exit(1);
	}
	tls_ctx_set_sni(server, tls_sni_hook, store);
	c = tls_sni_lookup(store, "a.fuzz.test"); /* loaded now: it stays (one entry) */
	CHECK(c);
	tls_ctx_free(c);
	held_idle = tls_mem_held();
}

/* What a call may answer (tls.h); a failure has its reason. */
static bool failed(struct tls_conn *t, long r)
{
	if (r == -EAGAIN) {
		CHECK(tls_conn_pending_in(t) == 0);
		return false;
	}
	CHECK(r < 0);
	CHECK(r == -EPROTO || r == -ENOMEM || r == -EPIPE || r == -ECONNRESET);
	CHECK(tls_conn_reason(t) != TLS_R_NONE && strcmp(tls_reason_name(tls_conn_reason(t)), "?"));
	CHECK(tls_conn_handshake(t) == r); /* and stays failed */
	return true;
}

/* One receive, as tls_on_recv() handles it: false once the connection
 * failed or the peer closed. The first time the handshake is done, the
 * server answers (tls_conn_write()). */
static bool receive(struct tls_conn *t, const uint8_t *p, size_t n, bool eof, bool *answered)
{
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	static char plain[16384];
	long r = 0;
	bool bad;

	tls_conn_feed(t, p, n);
	if (eof)
		tls_conn_feed_eof(t);
	if (!tls_conn_is_established(t)) {
		r = tls_conn_handshake(t);
		CHECK(r != 0 || (tls_conn_is_established(t) && tls_conn_version(t) >= 12));
	}
	while (r == 0) {
		r = tls_conn_read(t, plain, sizeof(plain));
		if (r == 0) { /* close_notify */
			CHECK(tls_conn_read(t, plain, sizeof(plain)) == 0);
			tls_conn_feed(t, NULL, 0);
			return false;
		}
		r = r > 0 ? 0 : r;
	}
	bad = failed(t, r);
	tls_conn_feed(t, NULL, 0); /* nothing stays lent */
	if (!bad && tls_conn_is_established(t) && !*answered) {
		*answered = true;
		CHECK(tls_conn_write(t, resp, sizeof(resp) - 1) == (ssize_t)(sizeof(resp) - 1));
	}
	return !bad;
}

static void serve(const uint8_t *data, size_t size)
{
	struct wire w = {0};
	struct tls_conn *t;
	uint32_t seed = data[0] & 0x7f;
	size_t off = 1;
	bool eof = data[0] & 0x80, up = true, answered = false;

	server_rng = 1;
	rng = &server_rng;
	t = tls_conn_new(server, NULL, wire_out, &w);
	CHECK(t);
	while (up && off < size) {
		size_t n = size - off;

		if (seed) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % (n < 600 ? n : 600);
		}
		up = receive(t, data + off, n, eof && off + n == size, &answered);
		off += n;
	}
	if (up && tls_conn_is_established(t))
		CHECK(tls_conn_shutdown(t) == 0);
	check_records(&w);
	tls_conn_free(t);
	tls_session_pool_drain();
	free(w.buf);
	if (tls_mem_held() != held_idle) {
		fprintf(stderr, "tls/ holds %llu bytes, %llu before the connection\n",
		        (unsigned long long)tls_mem_held(), (unsigned long long)held_idle);
		abort();
	}
}

/* ---- whole-handshake seeds (FUZZ_TLS_SEEDS=DIR) ---- */

struct seed_end {
	struct tls_conn *t;
	struct wire in;
	uint64_t *rng;
};

/* Runs <e> on what it was sent; returns its handshake's answer. */
static int seed_step(struct seed_end *e)
{
	int r;

	rng = e->rng;
	tls_conn_feed(e->t, e->in.buf, e->in.len);
	r = tls_conn_handshake(e->t);
	CHECK(tls_conn_pending_in(e->t) == 0 || r < 0);
	tls_conn_feed(e->t, NULL, 0);
	e->in.len = 0;
	return r;
}

/* A client of <co> asking for <sni> talks to the server; what it sent is
 * written to DIR/NAME behind the flag byte 0 (one receive). */
static void seed_write(const char *dir, const char *name, struct tls_ctx_opts *co, const char *sni)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
	struct wire sent = {0}, c2s = {0};
	struct seed_end c = {.rng = &client_rng}, s = {.rng = &server_rng};
	char err[512], path[PATH_MAX];
	struct tls_ctx *cc = tls_ctx_new(co, err, sizeof(err));
	int rc = -EAGAIN, rs = -EAGAIN;
	FILE *f;

	CHECK(cc);
	server_rng = 1;
	client_rng = 77;
	wire_out(&sent, "", 1); /* the flag byte: all in one receive */
	rng = &client_rng;
	c.t = tls_conn_new(cc, sni, wire_out, &c2s);
	rng = &server_rng;
	s.t = tls_conn_new(server, NULL, wire_out, &c.in);
	for (int round = 0; round < 20 && (rc || rs); round++) {
		if (rc == -EAGAIN)
			rc = seed_step(&c);
		wire_out(&sent, c2s.buf, c2s.len);
		wire_out(&s.in, c2s.buf, c2s.len);
		c2s.len = 0;
		if (rs == -EAGAIN)
			rs = seed_step(&s);
	}
	if (rc || rs)
		fprintf(stderr, "fuzz_tls: seed %s: handshake %d %d (%s %s), kept what was sent\n",
		        name, rc, rs, tls_reason_name(tls_conn_reason(c.t)),
		        tls_reason_name(tls_conn_reason(s.t)));
	rng = &client_rng;
	if (!rc && !rs) {
		CHECK(tls_conn_write(c.t, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1));
		CHECK(tls_conn_shutdown(c.t) == 0);
		wire_out(&sent, c2s.buf, c2s.len);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	CHECK(f && fwrite(sent.buf, 1, sent.len, f) == sent.len && fclose(f) == 0);
	tls_conn_free(c.t);
	tls_conn_free(s.t);
	tls_ctx_free(cc);
	free(sent.buf);
	free(c2s.buf);
	free(c.in.buf);
	free(s.in.buf);
}

static void write_seeds(const char *dir)
{
	struct tls_ctx_opts v13 = {.client = true, .alpn = "h2"},
			    v12 = {.client = true, .max_version = 12, .alpn = "http/1.1"},
			    rsa12 = {.client = true,
	                             .max_version = 12,
	                             .ciphers = "ECDHE-RSA-AES128-GCM-SHA256"},
			    chacha = {.client = true,
	                              .ciphersuites = "TLS_CHACHA20_POLY1305_SHA256"},
			    noalpn = {.client = true};

	seed_write(dir, "hs13-localhost-h2", &v13, "localhost");
	seed_write(dir, "hs13-wild-sni", &v13, "a.fuzz.test");
	seed_write(dir, "hs13-chacha-no-sni", &chacha, NULL);
	seed_write(dir, "hs13-unknown-sni", &noalpn, "unknown.test");
	seed_write(dir, "hs12-ecdsa-http11", &v12, "localhost");
	seed_write(dir, "hs12-rsa", &rsa12, "example.test");
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_TLS_SEEDS");

	setup();
	if (dir) {
		write_seeds(dir);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 1)
		serve(data, size);
	return 0;
}
