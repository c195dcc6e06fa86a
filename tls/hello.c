/* The ClientHello peek: before a server connection has a WOLFSSL, the
 * first record is read here for the two things that choose its context,
 * the SNI host name and whether the client accepts an ECDSA certificate.
 * wolfSSL then parses the same bytes again, fully; this parser only has to
 * be safe on any input and right on good input. */
#include <string.h>

#include "tls/tls-int.h"

#define REC_HDR         5
#define REC_MAX         16384 /* a plaintext record's payload (RFC 8446 5.1) */
#define REC_HANDSHAKE   22
#define HS_CLIENT_HELLO 1
#define EXT_SERVER_NAME 0x0000
#define EXT_SIG_ALGS    0x000d
#define EXT_VERSIONS    0x002b
#define SIG_ECDSA       0x03 /* low byte of ecdsa_secp*_sha* */

/* A bounded reader: every get fails once past the end, and stays failed. */
struct cur {
	const uint8_t *p;
	size_t n;
	bool bad;
};

static const uint8_t *cur_take(struct cur *c, size_t n)
{
	const uint8_t *p = c->p;

	if (c->bad || c->n < n) {
		c->bad = true;
		return NULL;
	}
	c->p += n;
	c->n -= n;
	return p;
}

static unsigned cur_u8(struct cur *c)
{
	const uint8_t *p = cur_take(c, 1);

	return p ? p[0] : 0;
}

static unsigned cur_u16(struct cur *c)
{
	const uint8_t *p = cur_take(c, 2);

	return p ? (unsigned)p[0] << 8 | p[1] : 0;
}

/* A sub-reader over the next <n> bytes of <c>. */
static struct cur cur_sub(struct cur *c, size_t n)
{
	struct cur s = {.p = cur_take(c, n), .n = n};

	s.bad = c->bad;
	if (s.bad)
		s.n = 0;
	return s;
}

int tls__hello_record_len(const uint8_t *hdr)
{
	unsigned len = (unsigned)hdr[3] << 8 | hdr[4];

	if (hdr[0] != REC_HANDSHAKE || hdr[1] != 3 || len < 4 || len > REC_MAX)
		return -EBADMSG;
	return REC_HDR + len;
}

static void hello_sni(struct cur e, struct tls_hello *h)
{
	struct cur list = cur_sub(&e, cur_u16(&e));
	unsigned type, len, i;
	const uint8_t *name;

	while (list.n && !list.bad) {
		type = cur_u8(&list);
		len = cur_u16(&list);
		name = cur_take(&list, len);
		if (!name || type != 0)
			continue;
		/* A name that is no host name is as good as none. */
		if (len == 0 || len >= sizeof(h->sni) || memchr(name, 0, len))
			return;
		for (i = 0; i < len; i++)
			h->sni[i] = name[i] >= 'A' && name[i] <= 'Z' ? name[i] | 0x20 : name[i];
		h->sni[len] = 0;
		return;
	}
}

static bool hello_sig_ecdsa(struct cur e)
{
	struct cur list = cur_sub(&e, cur_u16(&e));
	unsigned alg;

	while (list.n >= 2) {
		alg = cur_u16(&list);
		if ((alg & 0xff) == SIG_ECDSA && alg >> 8 >= 4 && alg >> 8 <= 6)
			return true;
	}
	return false;
}

static bool hello_offers_13(struct cur e)
{
	struct cur list = cur_sub(&e, cur_u8(&e));

	while (list.n >= 2)
		if (cur_u16(&list) == 0x0304)
			return true;
	return false;
}

static bool hello_suite_ecdsa(struct cur s)
{
	unsigned suite;

	while (s.n >= 2) {
		suite = cur_u16(&s);
		if (suite == 0xc02b || suite == 0xc02c || suite == 0xcca9)
			return true;
	}
	return false;
}

/* Walks the extensions block <x>. Returns false if it is malformed. */
static bool hello_exts(struct cur x, bool tls13, bool suite_ecdsa, struct tls_hello *h)
{
	bool sig_ecdsa = true; /* no signature_algorithms: anything goes (RFC 5246 7.4.1.4.1) */
	bool v13 = false;
	unsigned type;
	struct cur e;

	while (x.n && !x.bad) {
		type = cur_u16(&x);
		e = cur_sub(&x, cur_u16(&x));
		if (type == EXT_SERVER_NAME)
			hello_sni(e, h);
		else if (type == EXT_SIG_ALGS)
			sig_ecdsa = hello_sig_ecdsa(e);
		else if (type == EXT_VERSIONS)
			v13 = hello_offers_13(e);
	}
	h->ecdsa = sig_ecdsa && ((tls13 && v13) || suite_ecdsa);
	return !x.bad;
}

int tls__hello_parse(const uint8_t *rec, size_t len, bool tls13, struct tls_hello *h)
{
	struct cur r = {.p = rec, .n = len}, m, suites;
	int reclen;
	bool suite_ecdsa;

	memset(h, 0, sizeof(*h));
	h->ecdsa = true;
	if (len < REC_HDR || (reclen = tls__hello_record_len(rec)) < 0 || (size_t)reclen != len)
		return -EBADMSG;
	cur_take(&r, REC_HDR);
	if (cur_u8(&r) != HS_CLIENT_HELLO)
		return -EBADMSG;
	len = cur_u8(&r) << 16;
	len |= cur_u16(&r);
	if (len > r.n)
		return -ENOTSUP; /* continued in the next record */
	m = cur_sub(&r, len);
	cur_take(&m, 2 + 32); /* legacy_version, random */
	cur_take(&m, cur_u8(&m));
	suites = cur_sub(&m, cur_u16(&m));
	cur_take(&m, cur_u8(&m)); /* compression methods */
	if (m.bad || suites.n % 2)
		return -EBADMSG;
	suite_ecdsa = hello_suite_ecdsa(suites);
	if (m.n == 0) { /* no extensions */
		h->ecdsa = suite_ecdsa;
		return 0;
	}
	if (!hello_exts(cur_sub(&m, cur_u16(&m)), tls13, suite_ecdsa, h) || m.bad)
		return -EBADMSG;
	return 0;
}
