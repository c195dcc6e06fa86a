/* Session ticket keys: one ring for the whole process, so that a ticket one
 * worker issued resumes on any other, and on the contexts of the next
 * config generation (a reload builds new WOLFSSL_CTXs, each of which would
 * otherwise make its own key and refuse every ticket issued before).
 *
 * A key is a random 16-byte name and a random AES-256-GCM key, from
 * getrandom(). Tickets are encrypted under the current key; a ticket is
 * taken under the current or the previous key, found by its name, so a
 * ticket resumes for one to two rotation intervals, and only while it is
 * younger than its context's session lifetime (tls/ctx.c). One under the previous
 * key is renewed: the client leaves with a ticket under the current key.
 * Any other name is refused, and the client gets a full handshake.
 *
 * The ticket's layout is wolfSSL's (ExternalTicket): name, IV, length, the
 * encrypted InternalTicket, MAC. The additional authenticated data are the
 * name, the IV and the length, as in wolfSSL's own callback; the GCM nonce
 * is the first 12 bytes of the IV, the tag the first 16 of the MAC (the
 * other 16 are zero). SP 800-38D keeps a key under 2^32 random 96-bit
 * nonces: 12h at 10,000 new tickets a second is 432 million, 3 days (the
 * longest interval) 2.6 billion.
 *
 * Readers never wait. The keys sit in TICKET_SLOTS slots of atomic words,
 * stored with release and loaded with acquire (plain moves on x86-64; no
 * fences, which TSan does not model). Generation g's key is in slot
 * g % TICKET_SLOTS and ring_gen is the current generation. A rotation
 * writes generation g + 1 into its slot (that of g + 1 - TICKET_SLOTS,
 * retired long ago) and then publishes g + 1. A handshake copies the slots
 * of g and g - 1 and reads ring_gen again: if it moved on by 2 or more, a
 * rotation may have been writing one of the slots it copied, and it copies
 * again (one rotation a minute at the most: this never loops in practice).
 * The writers (rotation, init, the tick) take ring_lock among themselves;
 * no reader ever takes it.
 */
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include "tls/tls-int.h" /* first: wolfssl/options.h before wolfSSL's other headers */

#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/random.h>

#define TICKET_SLOTS   4
#define TICKET_NAME    WOLFSSL_TICKET_NAME_SZ
#define TICKET_KEY     32 /* AES-256 */
#define TICKET_WORDS   ((TICKET_NAME + TICKET_KEY) / sizeof(uint64_t))
#define TICKET_NONCE   GCM_NONCE_MID_SZ /* 12 of the IV's 16 bytes */
#define TICKET_TAG     AES_BLOCK_SIZE   /* 16 of the MAC's 32 bytes */
#define TICKET_AAD     (TICKET_NAME + WOLFSSL_TICKET_IV_SZ + 2)
#define TICKET_RETRY   1000 /* ms before a rotation that found no randomness is tried again */
#define TICKET_DEFAULT (12ULL * 3600 * 1000)

/* One key, as copied out of its slot. */
union ticket_key {
	struct {
		uint8_t name[TICKET_NAME];
		uint8_t key[TICKET_KEY];
	} k;
	uint64_t w[TICKET_WORDS];
};

static _Atomic uint64_t ring_slot[TICKET_SLOTS][TICKET_WORDS];
static _Atomic uint64_t ring_gen; /* the current key's generation; 0: no key yet */

/* The writers' state, under ring_lock. */
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t ring_every = TICKET_DEFAULT; /* ms between rotations */
static uint64_t ring_last;                   /* tick's clock at the last rotation */
static bool ring_started;                    /* tick has been called */

/* Written by every handshake: a line of their own, away from ring_gen. */
static struct {
	_Alignas(64) _Atomic uint64_t issued;
	_Atomic uint64_t accepted, renewed, refused, failures;
} ring_stats;

static void stat_add(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* --- the ring --- */

static void slot_load(union ticket_key *k, uint64_t gen)
{
	_Atomic uint64_t *s = ring_slot[gen % TICKET_SLOTS];
	unsigned i;

	/* Acquire: what follows (ring_read()'s second look at ring_gen) reads
	 * no older state than what the rotation that wrote a word saw. */
	for (i = 0; i < TICKET_WORDS; i++)
		k->w[i] = atomic_load_explicit(&s[i], memory_order_acquire);
}

static void slot_store(uint64_t gen, const union ticket_key *k)
{
	_Atomic uint64_t *s = ring_slot[gen % TICKET_SLOTS];
	unsigned i;

	/* Release: a reader that copies one of these words sees ring_gen as
	 * published before it (see ring_read()). */
	for (i = 0; i < TICKET_WORDS; i++)
		atomic_store_explicit(&s[i], k ? k->w[i] : 0, memory_order_release);
}

/* Copies the current key into k[0] and the previous one, if any, into
 * k[1]. Returns how many were copied, 0 before the first key. */
static unsigned ring_read(union ticket_key k[2])
{
	uint64_t gen, now;
	unsigned n, i;

	do {
		gen = atomic_load_explicit(&ring_gen, memory_order_acquire);
		if (!gen)
			return 0;
		n = gen > 1 ? 2 : 1;
		for (i = 0; i < n; i++)
			slot_load(&k[i], gen - i);
		/* If a word copied is one a rotation to generation g + 1 wrote
		 * (release, read with acquire), this reads g or later. */
		now = atomic_load_explicit(&ring_gen, memory_order_relaxed);
	} while (now - gen > TICKET_SLOTS - 3); /* also when a deinit set it to 0 */
	return n;
}

static int fill_random(void *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = getrandom(buf, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf = (uint8_t *)buf + n;
		len -= (size_t)n;
	}
	return 0;
}

/* Makes a new current key; the current one becomes the previous one.
 * Called with ring_lock held. */
static int ring_push(void)
{
	uint64_t gen = atomic_load_explicit(&ring_gen, memory_order_relaxed);
	union ticket_key k;
	int ret;

	ret = fill_random(&k, sizeof(k));
	if (ret < 0) {
		stat_add(&ring_stats.failures);
		return ret;
	}
	slot_store(gen + 1, &k);
	atomic_store_explicit(&ring_gen, gen + 1, memory_order_release);
	explicit_bzero(&k, sizeof(k));
	return 0;
}

/* The first key, if there is none yet. Called with ring_lock held. */
static int ring_ensure(void)
{
	if (atomic_load_explicit(&ring_gen, memory_order_relaxed))
		return 0;
	return ring_push();
}

int tls_ticket_init(uint64_t rotation_ms)
{
	int ret;

	pthread_mutex_lock(&ring_lock);
	ring_every = rotation_ms ? rotation_ms : TICKET_DEFAULT;
	ret = ring_ensure();
	pthread_mutex_unlock(&ring_lock);
	return ret;
}

int tls_ticket_rotate(void)
{
	int ret;

	pthread_mutex_lock(&ring_lock);
	ret = ring_push();
	pthread_mutex_unlock(&ring_lock);
	return ret;
}

uint64_t tls_ticket_tick(uint64_t now_ms)
{
	uint64_t left;

	pthread_mutex_lock(&ring_lock);
	if (!ring_started) {
		ring_started = true;
		ring_last = now_ms;
	}
	if (now_ms - ring_last >= ring_every) {
		if (ring_push() < 0) {
			pthread_mutex_unlock(&ring_lock);
			return TICKET_RETRY;
		}
		ring_last = now_ms;
	}
	left = ring_last + ring_every - now_ms;
	pthread_mutex_unlock(&ring_lock);
	return left;
}

void tls_ticket_stats(struct tls_ticket_stats *st)
{
	st->generation = atomic_load_explicit(&ring_gen, memory_order_relaxed);
	st->issued = atomic_load_explicit(&ring_stats.issued, memory_order_relaxed);
	st->accepted = atomic_load_explicit(&ring_stats.accepted, memory_order_relaxed);
	st->renewed = atomic_load_explicit(&ring_stats.renewed, memory_order_relaxed);
	st->refused = atomic_load_explicit(&ring_stats.refused, memory_order_relaxed);
	st->failures = atomic_load_explicit(&ring_stats.failures, memory_order_relaxed);
}

void tls_ticket_deinit(void)
{
	unsigned i;

	pthread_mutex_lock(&ring_lock);
	atomic_store_explicit(&ring_gen, 0, memory_order_release);
	for (i = 0; i < TICKET_SLOTS; i++)
		slot_store(i, NULL);
	ring_every = TICKET_DEFAULT;
	ring_started = false;
	pthread_mutex_unlock(&ring_lock);
}

/* --- wolfSSL's ticket callback --- */

/* AES-256-GCM in place over <len> bytes at <buf>. Returns 0 or wolfCrypt's
 * error (a tag that does not match, when decrypting). */
static int ticket_gcm(const union ticket_key *k, bool enc, const uint8_t *iv, const uint8_t *aad,
                      uint8_t *buf, int len, uint8_t *tag)
{
	Aes aes;
	int ret;

	ret = wc_AesInit(&aes, NULL, INVALID_DEVID);
	if (ret != 0)
		return ret;
	ret = wc_AesGcmSetKey(&aes, k->k.key, TICKET_KEY);
	if (ret == 0 && enc)
		ret = wc_AesGcmEncrypt(&aes, buf, buf, (word32)len, iv, TICKET_NONCE, tag,
		                       TICKET_TAG, aad, TICKET_AAD);
	else if (ret == 0)
		ret = wc_AesGcmDecrypt(&aes, buf, buf, (word32)len, iv, TICKET_NONCE, tag,
		                       TICKET_TAG, aad, TICKET_AAD);
	wc_AesFree(&aes);
	explicit_bzero(&aes, sizeof(aes));
	return ret;
}

static void ticket_aad(uint8_t *aad, const uint8_t *name, const uint8_t *iv, int len)
{
	memcpy(aad, name, TICKET_NAME);
	memcpy(aad + TICKET_NAME, iv, WOLFSSL_TICKET_IV_SZ);
	aad[TICKET_AAD - 2] = (uint8_t)(len >> 8);
	aad[TICKET_AAD - 1] = (uint8_t)len;
}

/* A fresh IV from the connection's generator (it has one during the
 * handshake), else from the kernel. */
static int ticket_iv(WOLFSSL *ssl, uint8_t *iv)
{
	WC_RNG *rng = wolfSSL_GetRNG(ssl);

	if (rng && wc_RNG_GenerateBlock(rng, iv, WOLFSSL_TICKET_IV_SZ) == 0)
		return 0;
	return fill_random(iv, WOLFSSL_TICKET_IV_SZ);
}

static int ticket_encrypt(WOLFSSL *ssl, const union ticket_key *k, uint8_t *name, uint8_t *iv,
                          uint8_t *mac, uint8_t *buf, int len)
{
	uint8_t aad[TICKET_AAD];

	if (ticket_iv(ssl, iv) < 0)
		return WOLFSSL_TICKET_RET_REJECT;
	memcpy(name, k->k.name, TICKET_NAME);
	ticket_aad(aad, name, iv, len);
	if (ticket_gcm(k, true, iv, aad, buf, len, mac) != 0)
		return WOLFSSL_TICKET_RET_REJECT;
	memset(mac + TICKET_TAG, 0, WOLFSSL_TICKET_MAC_SZ - TICKET_TAG);
	stat_add(&ring_stats.issued);
	return WOLFSSL_TICKET_RET_OK;
}

/* Takes a ticket under one of the <n> keys <k> (current first), by name. */
static int ticket_decrypt(WOLFSSL *ssl, const union ticket_key *k, unsigned n, const uint8_t *name,
                          const uint8_t *iv, uint8_t *mac, uint8_t *buf, int len)
{
	uint8_t aad[TICKET_AAD];
	unsigned i;

	for (i = 0; i < n && memcmp(name, k[i].k.name, TICKET_NAME) != 0; i++)
		;
	ticket_aad(aad, name, iv, len);
	if (i == n || ticket_gcm(&k[i], false, iv, aad, buf, len, mac) != 0) {
		stat_add(&ring_stats.refused);
		return WOLFSSL_TICKET_RET_REJECT;
	}
	if (i == 0) {
		stat_add(&ring_stats.accepted);
		return WOLFSSL_TICKET_RET_OK;
	}
	stat_add(&ring_stats.renewed);
	/* TLS 1.3 sends a new ticket after every resumption anyway. <ssl> is
	 * NULL in the ring's unit tests. */
	if (ssl && wolfSSL_version(ssl) != TLS1_3_VERSION)
		tls__ticket_renew(ssl);
	return WOLFSSL_TICKET_RET_OK;
}

/* wolfSSL's SessionTicketEncCb: encrypts (<enc>) or decrypts the <len>
 * bytes at <buf> in place. */
static int ticket_cb(WOLFSSL *ssl, unsigned char name[WOLFSSL_TICKET_NAME_SZ],
                     unsigned char iv[WOLFSSL_TICKET_IV_SZ],
                     unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc, unsigned char *buf, int len,
                     int *out_len, void *arg)
{
	union ticket_key k[2];
	unsigned n = ring_read(k);
	int ret;

	if (enc)
		ret = n ? ticket_encrypt(ssl, &k[0], name, iv, mac, buf, len)
		        : WOLFSSL_TICKET_RET_REJECT;
	else
		ret = ticket_decrypt(ssl, k, n, name, iv, mac, buf, len);
	explicit_bzero(k, sizeof(k));
	*out_len = len;
	return ret;
}

int tls__ticket_setup(WOLFSSL_CTX *w)
{
	int ret;

	pthread_mutex_lock(&ring_lock);
	ret = ring_ensure();
	pthread_mutex_unlock(&ring_lock);
	if (ret < 0)
		return ret;
	wolfSSL_CTX_set_TicketEncCb(w, ticket_cb);
	wolfSSL_CTX_set_TicketEncCtx(w, NULL);
	return 0;
}
