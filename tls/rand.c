/* Randomness for wolfSSL: its RNG is built with CUSTOM_RAND_GENERATE_BLOCK
 * (the Makefile's WOLFSSL_CFLAGS), so every block it draws (a ServerHello's
 * random, an ephemeral key, an ECDSA nonce, a TLS 1.2 record nonce) comes
 * from here: the kernel's CSPRNG, getrandom(), read ahead in pieces of
 * RAND_AHEAD bytes into a buffer of the calling thread.
 *
 * Why: wolfSSL's own Hash_DRBG is made per WOLFSSL, and making one costs a
 * known-answer self-test of the DRBG, a seed read (a getrandom() system
 * call) and its instantiation; with the DRBG's draws, 8.7% of the
 * instructions of a full TLS 1.3 server handshake (callgrind, README's
 * "Which wolfSSL"). Here a WC_RNG holds no state, and about 20 handshakes
 * share one system call.
 *
 * Each byte is handed out once and wiped from the buffer as it leaves, so
 * what the buffer still holds was never used. The buffer is per thread (no
 * lock); a fork() would share its unread bytes with the child: ringlb
 * never forks after start.
 */
#include <string.h>
#include <sys/random.h>

#include "tls/tls-int.h"

#include <wolfssl/wolfcrypt/error-crypt.h>

#define RAND_AHEAD 1024 /* bytes read ahead per system call */

static __thread unsigned char ahead[RAND_AHEAD];
static __thread unsigned ahead_left; /* unread bytes: the last ahead_left of ahead[] */

static int rand_read(unsigned char *p, size_t n)
{
	while (n) {
		ssize_t r = getrandom(p, n, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int tls__rand_block(unsigned char *out, unsigned int sz)
{
	unsigned char *p;

	if (sz > RAND_AHEAD / 4) /* rare and large: straight from the kernel */
		return rand_read(out, sz) < 0 ? RNG_FAILURE_E : 0;
	if (ahead_left < sz) {
		if (rand_read(ahead, RAND_AHEAD) < 0)
			return RNG_FAILURE_E;
		ahead_left = RAND_AHEAD;
	}
	p = ahead + RAND_AHEAD - ahead_left;
	memcpy(out, p, sz);
	explicit_bzero(p, sz);
	ahead_left -= sz;
	return 0;
}
