/* TLS with wolfSSL, transport-independent: wolfSSL never touches a socket.
 * A tls_ctx is one certificate set (an RSA and/or an ECDSA certificate, a
 * chain allowed) with its protocol settings, built at config load and then
 * shared read-only by the workers. A tls_conn is one connection's TLS state:
 * ciphertext goes in with tls_conn_feed(), records come out through the
 * <out> callback, plaintext is read and written with tls_conn_read() and
 * tls_conn_write(). Nothing ever blocks: -EAGAIN means "feed me more".
 *
 * A server tls_conn holds almost nothing until its ClientHello is complete:
 * then it picks the context (SNI hook, then RSA or ECDSA by what the client
 * offers) and creates the wolfSSL session. After the handshake, what wolfSSL
 * needed only for the handshake is released.
 *
 * Every byte wolfSSL and this module allocate is counted: tls_mem_stats().
 *
 * Thread safety: a tls_ctx is refcounted (atomics) and read-only once built;
 * a tls_conn belongs to one thread at a time.
 */
#ifndef RINGLB_TLS_TLS_H
#define RINGLB_TLS_TLS_H

#include <sys/types.h>
#include "tls/tls-t.h"

/* --- contexts (tls/ctx.c) --- */

/* Builds a context from <o>. Returns NULL with a message in <err> naming
 * the file and what is wrong (missing, unreadable, not PEM, key does not
 * match the certificate, two keys of one type, a bad cipher list...). The
 * caller holds one reference. */
struct tls_ctx *tls_ctx_new(const struct tls_ctx_opts *o, char *err, size_t errlen);

/* Takes one more reference on <c>; returns <c>. */
struct tls_ctx *tls_ctx_get(struct tls_ctx *c);

/* Drops a reference; the last one frees the context. NULL is ignored.
 * Connections hold references: a context outlives its config generation
 * while a connection made from it is up. */
void tls_ctx_free(struct tls_ctx *c);

/* Sets the SNI hook of a server context, before any connection uses it. */
void tls_ctx_set_sni(struct tls_ctx *c, tls_sni_fn fn, void *arg);

/* The DNS names (SANs, else the CN) of every certificate of <c>, each
 * passed to <fn>; for the SNI store. Returns 0 or -errno. */
int tls_ctx_names(const struct tls_ctx *c, void (*fn)(void *arg, const char *name), void *arg);

/* Whether the PEM private key in <key> belongs to the certificate in <cert>
 * (both load as a server context): 0, or -EINVAL with why in <why>. */
int tls_pair_check(const char *cert, const char *key, char *why, size_t len);

/* --- connections (tls/conn.c) --- */

/* A connection of context <c> (server or client, as <c> is), taking a
 * reference on <c>. <sni> is the name a client sends (NULL for none; ignored
 * by servers). Records go to <out>(<arg>). NULL on allocation failure. */
struct tls_conn *tls_conn_new(struct tls_ctx *c, const char *sni, tls_out_fn out, void *arg);

/* Frees <t> and everything it holds, without sending anything. */
void tls_conn_free(struct tls_conn *t);

/* Lends <len> received ciphertext bytes to <t> for the calls that follow,
 * replacing what was lent before. The caller keeps the bytes unchanged
 * until tls_conn_pending_in() is 0, as it is after any call that returned
 * -EAGAIN; the bytes still pending are the last ones lent, and feeding
 * again gives them back (feed them again, moved or with more, later).
 * Returns 0. */
int tls_conn_feed(struct tls_conn *t, const void *data, size_t len);

/* Fed bytes not consumed yet. */
size_t tls_conn_pending_in(const struct tls_conn *t);

/* The transport saw the peer's end of stream (a read of 0). */
void tls_conn_feed_eof(struct tls_conn *t);

/* Drives the handshake. Returns 0 when done (also on later calls), -EAGAIN
 * when it needs more input, or on failure -EPROTO (see tls_conn_reason()),
 * -ENOMEM, -EPIPE (the out callback failed) or -ECONNRESET (the peer closed).
 * A fatal alert, if any, has been sent through <out>. */
int tls_conn_handshake(struct tls_conn *t);

/* Reads up to <cap> plaintext bytes. Returns their count, 0 at the peer's
 * close_notify, -EAGAIN, or a failure as tls_conn_handshake() (a close
 * without close_notify is -ECONNRESET, TLS_R_TRUNCATED). Runs the handshake
 * first if it is not done. */
ssize_t tls_conn_read(struct tls_conn *t, void *buf, size_t cap);

/* Encrypts <len> bytes: all of them go out through <out> before it returns.
 * Returns <len>, -EAGAIN before the handshake is done, or a failure. */
ssize_t tls_conn_write(struct tls_conn *t, const void *buf, size_t len);

/* At most how many bytes of records tls_conn_write() makes of <len>
 * bytes, so the caller can reserve the room before it writes. */
size_t tls_conn_out_bound(struct tls_conn *t, size_t len);
/* Sends close_notify (once). Returns 0 or a failure. */
int tls_conn_shutdown(struct tls_conn *t);

/* Marks the connection failed with <r> (e.g. TLS_R_TIMEOUT from the
 * caller's handshake timer); later calls return -EPROTO. */
void tls_conn_fail(struct tls_conn *t, enum tls_reason r);

bool tls_conn_is_established(const struct tls_conn *t);
enum tls_reason tls_conn_reason(const struct tls_conn *t);
/* The wolfSSL error code behind the failure (for debug logs), 0 for none. */
int tls_conn_error(const struct tls_conn *t);
/* 12 or 13 once established, 0 before. */
unsigned tls_conn_version(const struct tls_conn *t);
/* The negotiated cipher's name, "" before. */
const char *tls_conn_cipher(const struct tls_conn *t);
/* The negotiated ALPN protocol (not NUL-terminated), NULL for none. */
const char *tls_conn_alpn(const struct tls_conn *t, size_t *len);
/* Server: the name the client asked for (SNI), NULL for none. */
const char *tls_conn_sni(const struct tls_conn *t);
bool tls_conn_resumed(const struct tls_conn *t);
/* Server: the type of the certificate chosen, "rsa"|"ecdsa", "" before. */
const char *tls_conn_cert_type(const struct tls_conn *t);

/* Client: the session to resume later (NULL if none); the caller owns it. */
struct tls_sess *tls_conn_session(struct tls_conn *t);
/* Client, before the handshake: resume <s> (still owned by the caller). */
int tls_conn_set_session(struct tls_conn *t, struct tls_sess *s);
void tls_sess_free(struct tls_sess *s);

const char *tls_reason_name(enum tls_reason r);

/* --- the SNI certificate store (tls/sni.c) --- */

/* A store of <n> certificates, each used with <base>'s settings, indexed by
 * the names in them; at most <max_entries> contexts (and <max_bytes> of
 * them, 0 = no byte bound) stay loaded. <charge>(<arg>, delta) is told of
 * every byte loaded (> 0, may refuse with < 0) and let go (< 0). Each
 * certificate is loaded once here to check it: NULL with <err> naming the
 * file and what is wrong. */
struct tls_sni *tls_sni_new(const struct tls_ctx_opts *base, const struct tls_cert_opts *certs,
                            unsigned n, unsigned max_entries, uint64_t max_bytes,
                            tls_sni_charge_fn charge, void *charge_arg, char *err, size_t errlen);
void tls_sni_free(struct tls_sni *s);
/* The context for <name> with a reference (tls_ctx_free() it), loading it
 * if needed; NULL when no certificate has the name. */
struct tls_ctx *tls_sni_lookup(struct tls_sni *s, const char *name);
/* tls_sni_lookup() as a tls_sni_fn, <arg> the store. */
struct tls_ctx *tls_sni_hook(void *arg, const char *name);
void tls_sni_stats(struct tls_sni *s, struct tls_sni_stats *st);

/* --- session ticket keys (tls/ticket.c) --- */

/* One key ring for the whole process: every server context with tickets on
 * encrypts its tickets under the ring's current key and takes tickets under
 * the current or the previous one, so a ticket resumes on any worker and
 * across reloads (new contexts), for one to two rotation intervals; one
 * under the previous key is renewed. Any other ticket gets a full
 * handshake. Keys (a 16-byte name, an AES-256-GCM key) come from
 * getrandom() and sit in static memory: nothing is allocated.
 *
 * Thread safety: handshakes on any thread read the ring without ever
 * waiting; tls_ticket_init(), _rotate() and _tick() may be called from any
 * thread and are serialized among themselves (the control thread calls
 * them). */

/* Makes the ring's first key if it has none (a server context with tickets
 * on does this too) and sets the rotation interval tls_ticket_tick() keeps:
 * <rotation_ms>, 0 for the default 12h. Called again, e.g. on a reload, it
 * only sets the interval. Returns 0 or -errno (no randomness). */
int tls_ticket_init(uint64_t rotation_ms);

/* The current key becomes the previous one and a new key the current one;
 * the key before is forgotten. Returns 0 or -errno (the keys stay). */
int tls_ticket_rotate(void);

/* The rotation clock: <now_ms> is a monotonic clock in ms, the same on
 * every call; the first call starts counting. Rotates if an interval has
 * passed since the last rotation, and returns the ms until the next one is
 * due (a poll() timeout). */
uint64_t tls_ticket_tick(uint64_t now_ms);

/* Copies the ring's counters. */
void tls_ticket_stats(struct tls_ticket_stats *st);

/* Forgets and wipes every key (tickets issued before are refused), with
 * the interval and the clock back to their start. Only while no handshake
 * runs. The counters stay. */
void tls_ticket_deinit(void);

/* --- memory (tls/mem.c) --- */

/* Copies the counters of every allocation wolfSSL and tls/ made. */
void tls_mem_stats(struct tls_mem_stats *st);

/* The session pools' counters (tls/mem.c), all threads. */
void tls_session_pool_stats(struct tls_pool_stats *st);

/* Frees the calling thread's pooled session objects (a thread's exit does
 * it too). */
void tls_session_pool_drain(void);

/* Bytes tls/ allocated on the calling thread minus those it freed there:
 * the difference around a call is what the call allocated (a connection's
 * share for the accountant's ssl component). */
int64_t tls_mem_thread(void);

/* Bytes currently held; what the accountant's ssl component reads. */
uint64_t tls_mem_held(void);

#endif
