/* X25519 key shares made with the fixed-base Edwards multiplication.
 *
 * A full TLS 1.3 handshake makes one ephemeral X25519 key pair and one
 * shared secret. wolfSSL 5.5.4 computes the public key as a variable-base
 * Montgomery ladder from u = 9, the same work as the shared secret: the
 * two ladders were 24% of a full server handshake here (perf, README's
 * "TLS"). The public key is the u-coordinate of [k]B, and Curve25519 is
 * birationally equivalent to edwards25519, whose base point maps to u = 9
 * (RFC 7748 4.1): u = (1 + y) / (1 - y) = (Z + Y) / (Z - Y) for the point
 * (X:Y:Z:T) that wolfSSL's own ge_scalarmult_base() (Ed25519's, a
 * precomputed table) returns. That is what BoringSSL's
 * X25519_public_from_private() and newer wolfSSL's curve25519_base() do.
 *
 * The link wraps wolfSSL's wc_curve25519_make_key() (the Makefile's
 * -Wl,--wrap=...), so its TLS code calls the function below. The private
 * key is drawn and clamped by wolfSSL as before; only the public key's
 * computation changes. tls__x25519_init() checks the result against
 * wolfSSL's ladder on RFC 7748's vector once; a mismatch (a wolfSSL built
 * another way) turns the fast path off and says so.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/base/log.h"
#include "tls/tls-int.h"

#include <wolfssl/wolfcrypt/curve25519.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/fe_operations.h>
#include <wolfssl/wolfcrypt/ge_operations.h>

int __wrap_wc_curve25519_make_key(WC_RNG *rng, int keysize, curve25519_key *key);

static bool fast; /* set once by tls__x25519_init(), read-only afterwards */

void tls__x25519_base(unsigned char pub[32], const unsigned char priv[32])
{
	ge_p3 a;
	fe zpy, zmy;

	ge_scalarmult_base(&a, priv);
	fe_add(zpy, a.Z, a.Y);
	fe_sub(zmy, a.Z, a.Y);
	fe_invert(zmy, zmy);
	fe_mul(zpy, zpy, zmy);
	fe_tobytes(pub, zpy);
	explicit_bzero(&a, sizeof(a));
	explicit_bzero(zmy, sizeof(zmy));
}

int __wrap_wc_curve25519_make_key(WC_RNG *rng, int keysize, curve25519_key *key)
{
	int ret;

	if (!rng || !key)
		return BAD_FUNC_ARG;
	ret = wc_curve25519_make_priv(rng, keysize, key->k); /* checks <keysize> */
	if (ret != 0)
		return ret;
	key->privSet = 1;
	if (fast) {
		tls__x25519_base(key->p.point, key->k);
		ret = 0;
	} else {
		ret = wc_curve25519_make_pub((int)sizeof(key->p.point), key->p.point,
		                             (int)sizeof(key->k), key->k);
	}
	key->pubSet = ret == 0;
	return ret;
}

int tls__x25519_init(void)
{
	/* RFC 7748 6.1: Alice's private key (clamped here) and public key. */
	static const unsigned char k[32] = {0x70, 0x07, 0x6d, 0x0a, 0x73, 0x18, 0xa5, 0x7d,
	                                    0x3c, 0x16, 0xc1, 0x72, 0x51, 0xb2, 0x66, 0x45,
	                                    0xdf, 0x4c, 0x2f, 0x87, 0xeb, 0xc0, 0x99, 0x2a,
	                                    0xb1, 0x77, 0xfb, 0xa5, 0x1d, 0xb9, 0x2c, 0x6a};
	static const unsigned char want[32] = {0x85, 0x20, 0xf0, 0x09, 0x89, 0x30, 0xa7, 0x54,
	                                       0x74, 0x8b, 0x7d, 0xdc, 0xb4, 0x3e, 0xf7, 0x5a,
	                                       0x0d, 0xbf, 0x3a, 0x0d, 0x26, 0x38, 0x1a, 0xf4,
	                                       0xeb, 0xa4, 0xa9, 0x8e, 0xaa, 0x9b, 0x4e, 0x6a};
	unsigned char got[32], ladder[32];

	fe_init();
	tls__x25519_base(got, k);
	if (wc_curve25519_make_pub(sizeof(ladder), ladder, sizeof(k), k) != 0 ||
	    memcmp(ladder, want, sizeof(want)) != 0)
		return -EIO; /* wolfSSL's own X25519 is wrong: no TLS */
	fast = memcmp(got, want, sizeof(want)) == 0;
	if (!fast)
		log_warn("tls: X25519 fixed-base key generation disagrees with the ladder: "
		         "using the ladder");
	return 0;
}

bool tls__x25519_fast(void)
{
	return fast;
}
