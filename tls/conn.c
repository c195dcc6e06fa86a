/* TLS connections: one WOLFSSL driven by the bytes the caller feeds and
 * writing its records through the caller's out callback. No socket, no
 * blocking: wolfSSL's recv callback answers WANT_READ when the fed bytes
 * are used up, its send callback always takes everything.
 *
 * A server connection starts without a WOLFSSL. Its first record, the
 * ClientHello, is read in place when it arrives whole (or gathered into a
 * buffer of its exact size when it arrives in pieces), peeked at
 * (tls/hello.c) to pick the context by SNI and the certificate by what
 * the client accepts, and then replayed to the new WOLFSSL. A connection
 * that never sends a ClientHello holds only its struct tls_conn.
 */
#include <limits.h>
#include <string.h>

#include "core/base/fault.h"
#include "tls/tls-int.h"

#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

enum {
	TC_HELLO,     /* server: waiting for the ClientHello, no WOLFSSL yet */
	TC_HANDSHAKE, /* WOLFSSL created, handshake in progress */
	TC_OPEN,      /* established */
	TC_CLOSED,    /* the peer's close_notify was read */
	TC_FAILED,
};

#define REC_HDR 5

struct tls_conn {
	WOLFSSL *ssl;
	struct tls_ctx *ctx; /* a reference */
	tls_out_fn out;
	void *out_arg;
	const uint8_t *in; /* the fed bytes not consumed yet (borrowed) */
	size_t in_len;
	uint8_t *hello; /* server: the ClientHello record gathered, then replayed */
	uint16_t hello_len, hello_off;
	uint8_t hdr[REC_HDR]; /* server: its header, while it arrives */
	uint8_t hdr_len;
	uint8_t state;
	uint8_t reason;             /* enum tls_reason */
	uint8_t slot;               /* server: TLS_SLOT_* of the certificate chosen */
	uint8_t alpn_off, alpn_len; /* the protocol chosen, in ctx->alpn */
	bool eof;                   /* the peer's end of stream was fed */
	bool out_failed;
	bool shut_sent;
	int ret;   /* the negative errno returned since TC_FAILED */
	int werr;  /* wolfSSL's error code behind it */
	char *sni; /* server: the name received; client: the name sent */
};

static const char *const reason_names[TLS_R_COUNT] = {
    [TLS_R_NONE] = "none",
    [TLS_R_BAD_RECORD] = "bad_record",
    [TLS_R_VERSION] = "protocol_version",
    [TLS_R_NO_SHARED_CIPHER] = "no_shared_cipher",
    [TLS_R_NO_ALPN] = "no_application_protocol",
    [TLS_R_UNKNOWN_CA] = "unknown_ca",
    [TLS_R_BAD_CERT] = "bad_certificate",
    [TLS_R_NO_CERT] = "certificate_required",
    [TLS_R_DECRYPT] = "decrypt_error",
    [TLS_R_PEER_ALERT] = "peer_alert",
    [TLS_R_CLOSED] = "closed_in_handshake",
    [TLS_R_TRUNCATED] = "truncated",
    [TLS_R_IO] = "io",
    [TLS_R_NOMEM] = "no_memory",
    [TLS_R_TIMEOUT] = "timeout",
    [TLS_R_INTERNAL] = "internal",
};

const char *tls_reason_name(enum tls_reason r)
{
	return r < TLS_R_COUNT ? reason_names[r] : "?";
}

/* --- wolfSSL's I/O callbacks --- */

static int tls__io_recv(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct tls_conn *t = arg;
	size_t n;

	if (t->hello) {
		n = t->hello_len - t->hello_off;
		n = n < (size_t)sz ? n : (size_t)sz;
		memcpy(buf, t->hello + t->hello_off, n);
		t->hello_off += n;
		if (t->hello_off == t->hello_len) {
			tls__free(t->hello);
			t->hello = NULL;
		}
		return (int)n;
	}
	if (!t->in_len)
		return t->eof ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
	n = t->in_len < (size_t)sz ? t->in_len : (size_t)sz;
	memcpy(buf, t->in, n);
	t->in += n;
	t->in_len -= n;
	return (int)n;
}

static int tls__io_send(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct tls_conn *t = arg;

	if (t->out(t->out_arg, buf, (size_t)sz) < 0) {
		t->out_failed = true;
		return WOLFSSL_CBIO_ERR_GENERAL;
	}
	return sz;
}

/* --- failures --- */

/* The reason behind a fatal alert the peer sent. */
static enum tls_reason conn_alert_reason(WOLFSSL *ssl)
{
	WOLFSSL_ALERT_HISTORY h;

	if (wolfSSL_get_alert_history(ssl, &h) != WOLFSSL_SUCCESS)
		return TLS_R_PEER_ALERT;
	switch (h.last_rx.code) {
	case protocol_version:
		return TLS_R_VERSION;
	case handshake_failure:
	case insufficient_security:
		return TLS_R_NO_SHARED_CIPHER;
	case unknown_ca:
		return TLS_R_UNKNOWN_CA;
	case bad_certificate:
	case unsupported_certificate:
	case certificate_revoked:
	case certificate_expired:
	case certificate_unknown:
		return TLS_R_BAD_CERT;
	case certificate_required:
		return TLS_R_NO_CERT;
	case no_application_protocol:
		return TLS_R_NO_ALPN;
	case bad_record_mac:
	case decrypt_error:
		return TLS_R_DECRYPT;
	case decode_error:
	case unexpected_message:
	case illegal_parameter:
	case record_overflow:
		return TLS_R_BAD_RECORD;
	}
	return TLS_R_PEER_ALERT;
}

static enum tls_reason conn_classify(struct tls_conn *t, int e)
{
	switch (e) {
	case MATCH_SUITE_ERROR:
		return TLS_R_NO_SHARED_CIPHER;
	case VERSION_ERROR:
		return TLS_R_VERSION;
	case UNKNOWN_ALPN_PROTOCOL_NAME_E:
		return TLS_R_NO_ALPN;
	case ASN_NO_SIGNER_E:
		return TLS_R_UNKNOWN_CA;
	case NO_PEER_CERT:
		return TLS_R_NO_CERT;
	case VERIFY_CERT_ERROR:
	case ASN_AFTER_DATE_E:
	case ASN_BEFORE_DATE_E:
	case ASN_SIG_CONFIRM_E:
	case DOMAIN_NAME_MISMATCH:
	case ASN_SELF_SIGNED_E:
		return TLS_R_BAD_CERT;
	case VERIFY_MAC_ERROR:
	case DECRYPT_ERROR:
	case AES_GCM_AUTH_E:
	case VERIFY_FINISHED_ERROR:
		return TLS_R_DECRYPT;
	case FATAL_ERROR:
		return conn_alert_reason(t->ssl);
	case MEMORY_E:
	case MEMORY_ERROR:
		return TLS_R_NOMEM;
	case SOCKET_ERROR_E:
	case SOCKET_PEER_CLOSED_E:
		if (t->out_failed)
			return TLS_R_IO;
		return t->state == TC_OPEN ? TLS_R_TRUNCATED : TLS_R_CLOSED;
	case UNKNOWN_RECORD_TYPE:
	case PARSE_ERROR:
	case BUFFER_ERROR:
	case LENGTH_ERROR:
	case BAD_HELLO:
	case UNKNOWN_HANDSHAKE_TYPE:
	case INCOMPLETE_DATA:
	case SANITY_MSG_E:
	case OUT_OF_ORDER_E:
	case DUPLICATE_MSG_E:
	case DECODE_E:
	case EXT_MISSING:
	case INVALID_PARAMETER:
	case BAD_KEY_SHARE_DATA:
	case HANDSHAKE_SIZE_ERROR:
	case ASN_PARSE_E:
		return TLS_R_BAD_RECORD;
	}
	return TLS_R_INTERNAL;
}

static int conn_fail(struct tls_conn *t, enum tls_reason r, int werr)
{
	t->reason = r;
	t->werr = werr;
	t->state = TC_FAILED;
	t->in_len = 0; /* nothing will read the fed bytes any more */
	switch (r) {
	case TLS_R_NOMEM:
		t->ret = -ENOMEM;
		break;
	case TLS_R_IO:
		t->ret = -EPIPE;
		break;
	case TLS_R_CLOSED:
	case TLS_R_TRUNCATED:
		t->ret = -ECONNRESET;
		break;
	case TLS_R_TIMEOUT:
		t->ret = -ETIMEDOUT;
		break;
	default:
		t->ret = -EPROTO;
	}
	return t->ret;
}

/* What a wolfSSL call's failure <r> means: -EAGAIN or a failure. */
static int conn_error(struct tls_conn *t, int r)
{
	int e = wolfSSL_get_error(t->ssl, r);

	if (e == WOLFSSL_ERROR_WANT_READ)
		return -EAGAIN;
	return conn_fail(t, conn_classify(t, e), e);
}

/* --- life --- */

/* Creates t->ssl from <w>. */
static int conn_new_ssl(struct tls_conn *t, WOLFSSL_CTX *w)
{
	tls__session_alloc_next(true); /* wolfSSL_new()'s first block is the WOLFSSL */
	t->ssl = fault_hit(FAULT_TLS) ? NULL : wolfSSL_new(w);
	tls__session_alloc_next(false);
	if (!t->ssl)
		return conn_fail(t, TLS_R_NOMEM, MEMORY_E);
	wolfSSL_SSLSetIORecv(t->ssl, tls__io_recv);
	wolfSSL_SSLSetIOSend(t->ssl, tls__io_send);
	wolfSSL_SetIOReadCtx(t->ssl, t);
	wolfSSL_SetIOWriteCtx(t->ssl, t);
	if (t->ctx->alpn && wolfSSL_UseALPN(t->ssl, t->ctx->alpn, t->ctx->alpn_len,
	                                    WOLFSSL_ALPN_FAILED_ON_MISMATCH) != WOLFSSL_SUCCESS)
		return conn_fail(t, TLS_R_NOMEM, MEMORY_E);
	if (t->ctx->client && t->sni &&
	    wolfSSL_UseSNI(t->ssl, WOLFSSL_SNI_HOST_NAME, t->sni, strlen(t->sni)) !=
	        WOLFSSL_SUCCESS)
		return conn_fail(t, TLS_R_NOMEM, MEMORY_E);
	/* A verifying client checks the name too: a valid certificate for
	 * another host is no better than none. */
	if (t->ctx->client && t->ctx->verify && t->sni &&
	    wolfSSL_check_domain_name(t->ssl, t->sni) != WOLFSSL_SUCCESS)
		return conn_fail(t, TLS_R_NOMEM, MEMORY_E);
	t->state = TC_HANDSHAKE;
	return 0;
}

static char *conn_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = tls__malloc(n);

	if (d)
		memcpy(d, s, n);
	return d;
}

struct tls_conn *tls_conn_new(struct tls_ctx *c, const char *sni, tls_out_fn out, void *arg)
{
	struct tls_conn *t = tls__calloc(sizeof(*t));

	if (!t)
		return NULL;
	t->ctx = tls_ctx_get(c);
	t->out = out;
	t->out_arg = arg;
	if (!c->client)
		return t;
	if ((sni && !(t->sni = conn_strdup(sni))) || conn_new_ssl(t, c->w[0]) < 0) {
		tls_conn_free(t);
		return NULL;
	}
	return t;
}

void tls_conn_free(struct tls_conn *t)
{
	if (!t)
		return;
	tls__session_free_next(t->ssl); /* wolfSSL_free()'s last block */
	wolfSSL_free(t->ssl);
	tls__session_free_next(NULL);
	tls_ctx_free(t->ctx);
	tls__free(t->hello);
	tls__free(t->sni);
	tls__free(t);
}

/* Server: the ClientHello <rec> is whole: picks the context and the
 * certificate, and creates the WOLFSSL that will read <rec> again. */
static int conn_start(struct tls_conn *t, const uint8_t *rec, size_t len)
{
	struct tls_ctx *c = t->ctx, *nc;
	struct tls_hello h;
	int ret;

	ret = tls__hello_parse(rec, len, c->tls13, &h);
	if (ret == -EBADMSG)
		return conn_fail(t, TLS_R_BAD_RECORD, BAD_HELLO);
	if (h.sni[0]) {
		t->sni = conn_strdup(h.sni);
		if (!t->sni)
			return conn_fail(t, TLS_R_NOMEM, MEMORY_E);
		nc = c->sni ? c->sni(c->sni_arg, h.sni) : NULL;
		if (nc) {
			tls_ctx_free(c);
			t->ctx = c = nc;
		}
	}
	t->slot = h.ecdsa && c->w[TLS_SLOT_ECDSA] ? TLS_SLOT_ECDSA : TLS_SLOT_RSA;
	if (!c->w[t->slot])
		t->slot = TLS_SLOT_ECDSA;
	return conn_new_ssl(t, c->w[t->slot]);
}

/* Server, before the WOLFSSL: waits for the whole ClientHello record. */
static int conn_hello(struct tls_conn *t)
{
	size_t n;
	int len;

	if (!t->hello && !t->hdr_len && t->in_len >= REC_HDR) {
		len = tls__hello_record_len(t->in);
		if (len < 0)
			return conn_fail(t, TLS_R_BAD_RECORD, UNKNOWN_RECORD_TYPE);
		if (t->in_len >= (size_t)len)
			return conn_start(t, t->in, len); /* read in place */
	}
	while (!t->hello && t->hdr_len < REC_HDR && t->in_len) {
		t->hdr[t->hdr_len++] = *t->in++;
		t->in_len--;
	}
	if (!t->hello && t->hdr_len == REC_HDR) {
		len = tls__hello_record_len(t->hdr);
		if (len < 0)
			return conn_fail(t, TLS_R_BAD_RECORD, UNKNOWN_RECORD_TYPE);
		t->hello = tls__malloc(len);
		if (!t->hello)
			return conn_fail(t, TLS_R_NOMEM, MEMORY_E);
		memcpy(t->hello, t->hdr, REC_HDR);
		t->hello_off = REC_HDR; /* gathering: hello_off is the fill */
		t->hello_len = len;
	}
	if (t->hello) {
		n = t->hello_len - t->hello_off;
		n = n < t->in_len ? n : t->in_len;
		memcpy(t->hello + t->hello_off, t->in, n);
		t->hello_off += n;
		t->in += n;
		t->in_len -= n;
		if (t->hello_off == t->hello_len) {
			t->hello_off = 0; /* replaying from here */
			return conn_start(t, t->hello, t->hello_len);
		}
	}
	if (t->eof)
		return conn_fail(t, TLS_R_CLOSED, SOCKET_PEER_CLOSED_E);
	return -EAGAIN;
}

/* Keeps the ALPN protocol chosen as a slice of ctx->alpn (both ends offer
 * only names from their own list), then trims a server's WOLFSSL. */
static void conn_established(struct tls_conn *t)
{
	const char *at = t->ctx->alpn, *end;
	char *name;
	size_t len;
	word16 n;

	t->state = TC_OPEN;
	if (at && wolfSSL_ALPN_GetProtocol(t->ssl, &name, &n) == WOLFSSL_SUCCESS && n) {
		for (; at; at = end ? end + 1 : NULL) {
			end = strchr(at, ',');
			len = end ? (size_t)(end - at) : strlen(at);
			if (len == n && memcmp(at, name, n) == 0) {
				t->alpn_off = (uint8_t)(at - t->ctx->alpn);
				t->alpn_len = (uint8_t)n;
				break;
			}
		}
	}
	if (!t->ctx->client)
		tls__trim(t->ssl);
}

int tls_conn_feed(struct tls_conn *t, const void *data, size_t len)
{
	t->in = data;
	t->in_len = len;
	return 0;
}

size_t tls_conn_pending_in(const struct tls_conn *t)
{
	return t->in_len;
}

void tls_conn_feed_eof(struct tls_conn *t)
{
	t->eof = true;
}

int tls_conn_handshake(struct tls_conn *t)
{
	int ret;

	if (t->state == TC_FAILED)
		return t->ret;
	if (t->state >= TC_OPEN)
		return 0;
	if (t->state == TC_HELLO) {
		ret = conn_hello(t);
		if (ret < 0)
			return ret;
	}
	ret = t->ctx->client ? wolfSSL_connect(t->ssl) : wolfSSL_accept(t->ssl);
	if (ret != WOLFSSL_SUCCESS)
		return conn_error(t, ret);
	conn_established(t);
	return 0;
}

ssize_t tls_conn_read(struct tls_conn *t, void *buf, size_t cap)
{
	int ret, e;

	if (t->state == TC_CLOSED)
		return 0;
	ret = tls_conn_handshake(t);
	if (ret < 0)
		return ret;
	ret = wolfSSL_read(t->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
	if (ret > 0)
		return ret;
	e = wolfSSL_get_error(t->ssl, ret);
	if (e == WOLFSSL_ERROR_ZERO_RETURN) {
		t->state = TC_CLOSED;
		return 0;
	}
	return conn_error(t, ret);
}

ssize_t tls_conn_write(struct tls_conn *t, const void *buf, size_t len)
{
	int ret;

	if (t->state == TC_FAILED)
		return t->ret;
	if (t->state != TC_OPEN && t->state != TC_CLOSED)
		return -EAGAIN;
	if (!len)
		return 0;
	ret = wolfSSL_write(t->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (ret > 0)
		return ret;
	return conn_error(t, ret);
}

/* Without a cipher to ask: a full record, and RFC 8446's bound on its
 * expansion. */
#define TLS_RECORD_MAX      16384
#define TLS_RECORD_OVER_MAX (5 + 256)

size_t tls_conn_out_bound(struct tls_conn *t, size_t len)
{
	int frag = t->ssl && tls_conn_is_established(t) ? wolfSSL_GetMaxOutputSize(t->ssl) : -1;
	int one = frag > 0 ? wolfSSL_GetOutputSize(t->ssl, frag) : -1;
	size_t over = one > frag ? (size_t)(one - frag) : TLS_RECORD_OVER_MAX;

	if (frag <= 0)
		frag = TLS_RECORD_MAX;
	/* + a block: a CBC record's padding depends on its length */
	return len + (len + (size_t)frag - 1) / (size_t)frag * (over + 16);
}

int tls_conn_shutdown(struct tls_conn *t)
{
	int ret;

	if (t->state == TC_FAILED)
		return t->ret;
	if (!t->ssl || t->shut_sent)
		return 0;
	t->shut_sent = true;
	ret = wolfSSL_shutdown(t->ssl);
	if (ret == WOLFSSL_SUCCESS || ret == WOLFSSL_SHUTDOWN_NOT_DONE)
		return 0;
	return conn_error(t, ret) == -EAGAIN ? 0 : t->ret;
}

void tls_conn_fail(struct tls_conn *t, enum tls_reason r)
{
	if (t->state != TC_FAILED)
		conn_fail(t, r, 0);
}

/* --- accessors --- */

bool tls_conn_is_established(const struct tls_conn *t)
{
	return t->state == TC_OPEN || t->state == TC_CLOSED;
}

enum tls_reason tls_conn_reason(const struct tls_conn *t)
{
	return t->reason;
}

int tls_conn_error(const struct tls_conn *t)
{
	return t->werr;
}

unsigned tls_conn_version(const struct tls_conn *t)
{
	if (!tls_conn_is_established(t))
		return 0;
	switch (wolfSSL_version(t->ssl)) {
	case TLS1_3_VERSION:
		return 13;
	case TLS1_2_VERSION:
		return 12;
	}
	return 0;
}

const char *tls_conn_cipher(const struct tls_conn *t)
{
	const char *name = tls_conn_is_established(t) ? wolfSSL_get_cipher_name(t->ssl) : NULL;

	return name ? name : "";
}

const char *tls_conn_alpn(const struct tls_conn *t, size_t *len)
{
	if (!t->alpn_len)
		return NULL;
	*len = t->alpn_len;
	return t->ctx->alpn + t->alpn_off;
}

const char *tls_conn_sni(const struct tls_conn *t)
{
	return t->sni;
}

bool tls_conn_resumed(const struct tls_conn *t)
{
	return t->ssl && wolfSSL_session_reused(t->ssl) == 1;
}

const char *tls_conn_cert_type(const struct tls_conn *t)
{
	if (!t->ssl || t->ctx->client)
		return "";
	return t->slot == TLS_SLOT_ECDSA ? "ecdsa" : "rsa";
}

struct tls_sess *tls_conn_session(struct tls_conn *t)
{
	if (!t->ssl || !tls_conn_is_established(t))
		return NULL;
	return (struct tls_sess *)wolfSSL_get1_session(t->ssl);
}

int tls_conn_set_session(struct tls_conn *t, struct tls_sess *s)
{
	if (!t->ctx->client || t->state != TC_HANDSHAKE)
		return -EINVAL;
	return wolfSSL_set_session(t->ssl, (WOLFSSL_SESSION *)s) == WOLFSSL_SUCCESS ? 0 : -EINVAL;
}

void tls_sess_free(struct tls_sess *s)
{
	wolfSSL_SESSION_free((WOLFSSL_SESSION *)s);
}
