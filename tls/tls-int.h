/* Internals of tls/, shared by its files: the context and connection
 * records, the counted allocator, the ClientHello peek. */
#ifndef RINGLB_TLS_TLS_INT_H
#define RINGLB_TLS_TLS_INT_H

#include <errno.h>
#include <stdatomic.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include "tls/tls.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The certificate slots of a server context, in the order of preference
 * when the client accepts both. */
enum {
	TLS_SLOT_ECDSA,
	TLS_SLOT_RSA,
};

struct tls_ctx {
	_Atomic unsigned refs;
	bool client;
	bool tls13;  /* max_version allows TLS 1.3 */
	bool verify; /* client: check the server's certificate and name */
	/* Server: one WOLFSSL_CTX per certificate (TLS_SLOT_*), either may be
	 * NULL, not both. Client: w[0]. Each holds its own settings. */
	WOLFSSL_CTX *w[TLS_CTX_MAX_CERTS];
	tls_sni_fn sni;
	void *sni_arg;
	char *alpn; /* ','-separated, for wolfSSL_UseALPN(), or NULL */
	unsigned alpn_len;
	char *names; /* the certificates' DNS names, each NUL-terminated */
	size_t names_len;
};

/* What a server reads from a ClientHello before it has a WOLFSSL. */
struct tls_hello {
	char sni[256]; /* lower-cased host name, "" for none */
	bool ecdsa;    /* the client accepts an ECDSA certificate */
};

/* Parses the ClientHello record <rec> (<len> bytes, header included, the
 * whole record). Returns 0, -EBADMSG if it is not a well-formed ClientHello
 * record, -ENOTSUP if the ClientHello does not fit in its record (the
 * defaults are used then). */
int tls__hello_parse(const uint8_t *rec, size_t len, bool tls13, struct tls_hello *h);

/* The length of the record whose 5-byte header is <hdr>, or -EBADMSG if it
 * cannot start a ClientHello. */
int tls__hello_record_len(const uint8_t *hdr);

/* Releases what an established server <ssl> keeps but never uses again
 * (tls/wolf.c, the only file that knows wolfSSL's internals). */
void tls__trim(WOLFSSL *ssl);

/* Makes <w> (a server context with tickets on) encrypt and take its
 * tickets with the process's key ring, making the ring's first key if
 * there is none yet (tls/ticket.c). Returns 0 or -errno (no randomness). */
int tls__ticket_setup(WOLFSSL_CTX *w);

/* Makes a TLS 1.2 server <ssl>, resuming by a ticket it is decrypting,
 * send the client a new ticket (tls/wolf.c). */
void tls__ticket_renew(WOLFSSL *ssl);

/* Counted allocations (tls/mem.c); wolfSSL's go through them too. */
void *tls__malloc(size_t n);
void *tls__calloc(size_t n);
void *tls__realloc(void *p, size_t n);
void tls__free(void *p);

/* <on>: marks the next tls__malloc() of this thread as the block of a
 * WOLFSSL (call it right before wolfSSL_new(), and with false right after):
 * it comes from the thread's session pool when the pool has one. */
void tls__session_alloc_next(bool on);

/* Marks <ssl> as the block the next wolfSSL_free() of this thread ends
 * with: it goes back to the thread's session pool, wiped (NULL after the
 * call). */
void tls__session_free_next(const void *ssl);

/* Moves this thread's figure (tls_mem_thread()) by <n>: what a call made on
 * the thread's behalf but charges elsewhere (an SNI store's load). */
void tls__mem_thread_add(int64_t n);

/* wolfSSL's random source (CUSTOM_RAND_GENERATE_BLOCK, tls/rand.c): <sz>
 * bytes from the kernel's CSPRNG into <out>. Returns 0 or RNG_FAILURE_E. */
int tls__rand_block(unsigned char *out, unsigned int sz);

/* X25519 key shares (tls/x25519.c): the public key of clamped private key
 * <priv> by the fixed-base Edwards multiplication. init checks it against
 * wolfSSL's ladder once (fast() says whether it agreed and is used); -EIO
 * when wolfSSL's own X25519 fails its vector. */
void tls__x25519_base(unsigned char pub[32], const unsigned char priv[32]);
int tls__x25519_init(void);
bool tls__x25519_fast(void);

/* Installs the allocators, checks that randomness can be had and runs
 * wolfSSL_Init() once. Returns 0 or -ENOMEM (-EIO: no randomness). */
int tls__lib_init(void);

#endif
