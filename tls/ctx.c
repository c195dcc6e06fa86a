/* TLS contexts: one tls_ctx per certificate set, holding one WOLFSSL_CTX per
 * certificate (wolfSSL 5.5 takes one key per WOLFSSL_CTX: an RSA and an
 * ECDSA certificate on one listener are two of them, and the connection
 * picks one from its ClientHello, see tls/conn.c).
 *
 * Defaults, and why:
 * - TLS 1.2 and 1.3, AEAD suites only (AES-GCM, ChaCha20-Poly1305), ECDHE
 *   only, in the server's order: AES-128-GCM first (AES-NI makes it the
 *   cheapest, and as strong as the record layer needs), ChaCha20 second
 *   (clients without AES hardware), AES-256 last. Mozilla's "intermediate".
 * - Groups X25519, P-256, P-384: X25519 is the fastest key exchange here.
 * - Handshake messages of one flight are grouped into one send.
 * - Session tickets (under the process's key ring, tls/ticket.c, so they
 *   resume across workers and reloads) and wolfSSL's session cache are on
 *   unless switched off; a session resumes for session_lifetime (300 s by
 *   default, nginx's and HAProxy's), the lifetime its tickets announce.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tls/tls-int.h" /* first: wolfssl/options.h before wolfSSL's other headers */

#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/asn_public.h>

#define CTX_FILE_MAX         (1 << 20) /* a PEM file larger than this is refused */
#define CTX_SESSION_LIFETIME 300       /* s, when the options say nothing */

static const char ctx_default_13[] =
    "TLS13-AES128-GCM-SHA256:TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES256-GCM-SHA384";
static const char ctx_default_12[] = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
				     "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
				     "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";

static int ctx_groups[] = {WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_SECP384R1};

/* A PEM file read whole. */
struct pem {
	char *buf;
	size_t len;
};

/* Reads <path> into <p>, checking that it holds a PEM block whose label
 * contains <label>. Returns 0, or -errno with a message in <err>. */
static int pem_read(struct pem *p, const char *path, const char *label, char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd, ret;

	p->buf = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CTX_FILE_MAX) {
		ret = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		snprintf(err, errlen, "%s: unreadable: %s", path,
		         S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file under 1 MiB");
		goto out;
	}
	p->buf = malloc(st.st_size + 1);
	if (!p->buf) {
		ret = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	n = read(fd, p->buf, st.st_size);
	if (n != st.st_size) {
		ret = n < 0 ? -errno : -EIO;
		snprintf(err, errlen, "%s: unreadable: %s", path,
		         n < 0 ? strerror(errno) : "short read");
		goto out;
	}
	p->buf[n] = 0;
	p->len = n;
	if (!strstr(p->buf, "-----BEGIN ")) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s: not PEM (no -----BEGIN line)", path);
		goto out;
	}
	if (!strstr(p->buf, label)) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s: not a PEM %s", path, label);
		goto out;
	}
	ret = 0;
out:
	close(fd);
	if (ret < 0) {
		free(p->buf);
		p->buf = NULL;
	}
	return ret;
}

static void pem_done(struct pem *p)
{
	if (p->buf)
		explicit_bzero(p->buf, p->len);
	free(p->buf);
	p->buf = NULL;
}

/* The first certificate of <pem>, decoded, for its key type and names.
 * Returns 0 with <dc> and <der> to release with cert_done(), or -EINVAL. */
static int cert_decode(const struct pem *pem, DecodedCert *dc, byte **der)
{
	int n;

	*der = malloc(pem->len);
	if (!*der)
		return -ENOMEM;
	n = wc_CertPemToDer((const byte *)pem->buf, (int)pem->len, *der, (int)pem->len, CERT_TYPE);
	if (n <= 0) {
		free(*der);
		return -EINVAL;
	}
	wc_InitDecodedCert(dc, *der, n, NULL);
	if (wc_ParseCert(dc, CERT_TYPE, NO_VERIFY, NULL) != 0) {
		wc_FreeDecodedCert(dc);
		free(*der);
		return -EINVAL;
	}
	return 0;
}

static void cert_done(DecodedCert *dc, byte *der)
{
	wc_FreeDecodedCert(dc);
	free(der);
}

/* Appends the names of <dc> to c->names: its DNS SANs, else its CN. */
static int ctx_add_names(struct tls_ctx *c, DecodedCert *dc)
{
	const DNS_entry *e;
	size_t add = 0, at;
	char *p;

	for (e = dc->altNames; e; e = e->next)
		if (e->type == ASN_DNS_TYPE)
			add += e->len + 1;
	if (!add && dc->subjectCN)
		add = dc->subjectCNLen + 1;
	if (!add)
		return 0;
	p = tls__realloc(c->names, c->names_len + add);
	if (!p)
		return -ENOMEM;
	c->names = p;
	at = c->names_len;
	for (e = dc->altNames; e; e = e->next) {
		if (e->type != ASN_DNS_TYPE)
			continue;
		memcpy(p + at, e->name, e->len);
		p[at + e->len] = 0;
		at += e->len + 1;
	}
	if (at == c->names_len) {
		memcpy(p + at, dc->subjectCN, dc->subjectCNLen);
		p[at + dc->subjectCNLen] = 0;
		at += dc->subjectCNLen + 1;
	}
	c->names_len = at;
	return 0;
}

static WOLFSSL_METHOD *ctx_method(const struct tls_ctx_opts *o)
{
	if (o->max_version == 12)
		return o->client ? wolfTLSv1_2_client_method() : wolfTLSv1_2_server_method();
	if (o->min_version == 13)
		return o->client ? wolfTLSv1_3_client_method() : wolfTLSv1_3_server_method();
	return o->client ? wolfSSLv23_client_method() : wolfSSLv23_server_method();
}

static int ctx_verify_mode(const struct tls_ctx_opts *o)
{
	switch (o->verify) {
	case TLS_VERIFY_NONE:
		return WOLFSSL_VERIFY_NONE;
	case TLS_VERIFY_OPTIONAL:
		return WOLFSSL_VERIFY_PEER;
	case TLS_VERIFY_REQUIRED:
		break;
	}
	return WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT;
}

/* The settings every WOLFSSL_CTX of <o> shares. <ca> is the CA file read. */
static int ctx_setup(WOLFSSL_CTX *w, const struct tls_ctx_opts *o, const struct pem *ca, char *err,
                     size_t errlen)
{
	char list[1024];
	unsigned life;

	snprintf(list, sizeof(list), "%s:%s", o->ciphersuites ? o->ciphersuites : ctx_default_13,
	         o->ciphers ? o->ciphers : ctx_default_12);
	if (wolfSSL_CTX_set_cipher_list(w, list) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "ciphers: no usable cipher in \"%s\"", list);
		return -EINVAL;
	}
	/* wolfSSL sets the groups for TLS 1.3 only; TLS 1.2 keeps its curves. */
	if (o->max_version != 12 &&
	    wolfSSL_CTX_set_groups(w, ctx_groups, ARRAY_LEN(ctx_groups)) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "cannot set the key exchange groups");
		return -EINVAL;
	}
	wolfSSL_CTX_set_group_messages(w);
	if (ca->buf && wolfSSL_CTX_load_verify_buffer(w, (const byte *)ca->buf, (long)ca->len,
	                                              WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s: no usable CA certificate in it", o->ca);
		return -EINVAL;
	}
	wolfSSL_CTX_set_verify(w, ctx_verify_mode(o), NULL);
	if (o->client) {
		wolfSSL_CTX_UseSessionTicket(w);
		return 0;
	}
	if (o->no_tickets) {
		wolfSSL_CTX_NoTicketTLSv12(w);
		wolfSSL_CTX_no_ticket_TLSv13(w);
		/* Nor take any: no callback refuses them all (TLS 1.3 PSKs too). */
		wolfSSL_CTX_set_TicketEncCb(w, NULL);
	} else if (tls__ticket_setup(w) < 0) {
		snprintf(err, errlen, "cannot make the session ticket keys (getrandom)");
		return -EIO;
	}
	if (o->no_session_cache)
		wolfSSL_CTX_set_session_cache_mode(w, WOLFSSL_SESS_CACHE_OFF);
	/* One lifetime for both: wolfSSL would tell clients a ticket lasts
	 * SESSION_TICKET_HINT_DEFAULT (300 s) and take it for
	 * WOLFSSL_SESSION_TIMEOUT (500 s). */
	life = o->session_lifetime ? o->session_lifetime : CTX_SESSION_LIFETIME;
	if (wolfSSL_CTX_set_timeout(w, life) != WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_set_TicketHint(w, (int)life) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "cannot set the session lifetime (%u s)", life);
		return -EINVAL;
	}
	return 0;
}

/* Loads the certificate pair <co> into a new WOLFSSL_CTX in the slot of
 * its key type. */
static int ctx_load_pair(struct tls_ctx *c, const struct tls_ctx_opts *o,
                         const struct tls_cert_opts *co, const struct pem *ca, char *err,
                         size_t errlen)
{
	struct pem cert = {0}, key = {0};
	WOLFSSL_CTX *w = NULL;
	DecodedCert dc;
	byte *der;
	int ret, slot;

	if (!co->key) {
		snprintf(err, errlen, "%s: no key file given for this certificate", co->cert);
		return -EINVAL;
	}
	ret = pem_read(&cert, co->cert, "CERTIFICATE", err, errlen);
	if (ret < 0)
		return ret;
	ret = pem_read(&key, co->key, "PRIVATE KEY", err, errlen);
	if (ret < 0)
		goto out;
	ret = cert_decode(&cert, &dc, &der);
	if (ret < 0) {
		snprintf(err, errlen, "%s: not a valid PEM certificate", co->cert);
		goto out;
	}
	slot = dc.keyOID == ECDSAk ? TLS_SLOT_ECDSA : dc.keyOID == RSAk ? TLS_SLOT_RSA : -1;
	ret = slot >= 0 ? ctx_add_names(c, &dc) : 0;
	cert_done(&dc, der);
	if (slot < 0) {
		ret = -EINVAL;
		snprintf(err, errlen, "%s: the key is neither RSA nor ECDSA", co->cert);
		goto out;
	}
	if (ret < 0 || c->w[slot]) {
		if (ret == 0)
			snprintf(err, errlen,
			         "%s: a second %s certificate (one of each type is allowed)",
			         co->cert, slot == TLS_SLOT_RSA ? "RSA" : "ECDSA");
		else
			snprintf(err, errlen, "%s: out of memory", co->cert);
		ret = ret < 0 ? ret : -EINVAL;
		goto out;
	}
	ret = -ENOMEM;
	w = wolfSSL_CTX_new(ctx_method(o));
	if (!w) {
		snprintf(err, errlen, "out of memory building the TLS context");
		goto out;
	}
	ret = -EINVAL;
	if (wolfSSL_CTX_use_certificate_chain_buffer_format(w, (const byte *)cert.buf,
	                                                    (long)cert.len, WOLFSSL_FILETYPE_PEM) !=
	    WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s: not a valid PEM certificate chain", co->cert);
		goto out;
	}
	if (wolfSSL_CTX_use_PrivateKey_buffer(w, (const byte *)key.buf, (long)key.len,
	                                      WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s: not a valid PEM private key (or encrypted)", co->key);
		goto out;
	}
	if (wolfSSL_CTX_check_private_key(w) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s: key does not match certificate %s", co->key, co->cert);
		goto out;
	}
	ret = ctx_setup(w, o, ca, err, errlen);
	if (ret < 0)
		goto out;
	c->w[slot] = w;
	w = NULL;
out:
	wolfSSL_CTX_free(w);
	pem_done(&cert);
	pem_done(&key);
	return ret;
}

static int ctx_check_opts(const struct tls_ctx_opts *o, char *err, size_t errlen)
{
	unsigned lo = o->min_version ? o->min_version : 12;
	unsigned hi = o->max_version ? o->max_version : 13;

	if ((lo != 12 && lo != 13) || (hi != 12 && hi != 13) || lo > hi) {
		snprintf(err, errlen,
		         "min_version %u, max_version %u: expected 1.2 or 1.3, min <= max", lo, hi);
		return -EINVAL;
	}
	if (!o->client && !o->certs[0].cert) {
		snprintf(err, errlen, "no certificate given");
		return -EINVAL;
	}
	if (!o->client && o->verify != TLS_VERIFY_NONE && !o->ca) {
		snprintf(err, errlen, "verify_client needs a client_ca file");
		return -EINVAL;
	}
	if (o->client && o->verify != TLS_VERIFY_NONE && !o->ca) {
		snprintf(err, errlen, "verifying the server needs a ca file (or verify: none)");
		return -EINVAL;
	}
	if (o->alpn && (!*o->alpn || strlen(o->alpn) > 255)) {
		snprintf(err, errlen, "alpn: \"%s\": expected a ','-separated list under 256 bytes",
		         o->alpn);
		return -EINVAL;
	}
	return 0;
}

/* A client context: one WOLFSSL_CTX, with a client certificate if given. */
static int ctx_build_client(struct tls_ctx *c, const struct tls_ctx_opts *o, const struct pem *ca,
                            char *err, size_t errlen)
{
	int ret;

	if (o->certs[0].cert) {
		ret = ctx_load_pair(c, o, &o->certs[0], ca, err, errlen);
		if (ret < 0)
			return ret;
		if (!c->w[0]) { /* the client's certificate is RSA: one slot all the same */
			c->w[0] = c->w[TLS_SLOT_RSA];
			c->w[TLS_SLOT_RSA] = NULL;
		}
		return 0;
	}
	c->w[0] = wolfSSL_CTX_new(ctx_method(o));
	if (!c->w[0]) {
		snprintf(err, errlen, "out of memory building the TLS context");
		return -ENOMEM;
	}
	return ctx_setup(c->w[0], o, ca, err, errlen);
}

struct tls_ctx *tls_ctx_new(const struct tls_ctx_opts *o, char *err, size_t errlen)
{
	struct pem ca = {0};
	struct tls_ctx *c;
	unsigned i;
	int ret;

	if (tls__lib_init() < 0) {
		snprintf(err, errlen, "wolfSSL_Init failed");
		return NULL;
	}
	if (ctx_check_opts(o, err, errlen) < 0)
		return NULL;
	if (o->ca && pem_read(&ca, o->ca, "CERTIFICATE", err, errlen) < 0)
		return NULL;
	c = tls__calloc(sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	atomic_init(&c->refs, 1);
	c->client = o->client;
	c->tls13 = o->max_version != 12;
	c->verify = o->verify != TLS_VERIFY_NONE;
	if (o->client) {
		ret = ctx_build_client(c, o, &ca, err, errlen);
	} else {
		for (i = 0, ret = 0; i < TLS_CTX_MAX_CERTS && o->certs[i].cert && !ret; i++)
			ret = ctx_load_pair(c, o, &o->certs[i], &ca, err, errlen);
	}
	if (ret < 0)
		goto fail;
	if (o->alpn) {
		c->alpn_len = strlen(o->alpn);
		c->alpn = tls__malloc(c->alpn_len + 1);
		if (!c->alpn) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		memcpy(c->alpn, o->alpn, c->alpn_len + 1);
	}
	pem_done(&ca);
	return c;
fail:
	pem_done(&ca);
	tls_ctx_free(c);
	return NULL;
}

struct tls_ctx *tls_ctx_get(struct tls_ctx *c)
{
	atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
	return c;
}

void tls_ctx_free(struct tls_ctx *c)
{
	unsigned i;

	if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (i = 0; i < TLS_CTX_MAX_CERTS; i++)
		wolfSSL_CTX_free(c->w[i]);
	tls__free(c->alpn);
	tls__free(c->names);
	tls__free(c);
}

void tls_ctx_set_sni(struct tls_ctx *c, tls_sni_fn fn, void *arg)
{
	c->sni = fn;
	c->sni_arg = arg;
}

int tls_ctx_names(const struct tls_ctx *c, void (*fn)(void *arg, const char *name), void *arg)
{
	size_t at;

	for (at = 0; at < c->names_len; at += strlen(c->names + at) + 1)
		fn(arg, c->names + at);
	return 0;
}

int tls_pair_check(const char *cert, const char *key, char *why, size_t len)
{
	struct tls_ctx_opts o = {.certs = {{cert, key}}};
	struct tls_ctx *c = tls_ctx_new(&o, why, len);

	if (!c)
		return -EINVAL;
	tls_ctx_free(c);
	return 0;
}
