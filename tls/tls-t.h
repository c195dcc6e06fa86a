/* Types of tls/ (see tls/tls.h). */
#ifndef RINGLB_TLS_TLS_T_H
#define RINGLB_TLS_TLS_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_CTX_MAX_CERTS 2 /* one RSA and one ECDSA */

enum tls_verify {
	TLS_VERIFY_NONE,     /* no client certificate asked (server), no check (client) */
	TLS_VERIFY_OPTIONAL, /* asked; a certificate sent must verify */
	TLS_VERIFY_REQUIRED, /* a valid certificate is required */
};

struct tls_cert_opts {
	const char *cert; /* PEM file: the certificate, then its chain */
	const char *key;  /* PEM file: its private key */
};

/* What tls_ctx_new() builds from. Zero is the default everywhere. */
struct tls_ctx_opts {
	bool client;                                   /* a client (upstream) context */
	struct tls_cert_opts certs[TLS_CTX_MAX_CERTS]; /* server: at least one */
	unsigned min_version;                          /* 12 or 13; 0 = 12 */
	unsigned max_version;                          /* 12 or 13; 0 = 13 */
	const char *ciphers;       /* TLS 1.2 suites, OpenSSL names, ':'-separated */
	const char *ciphersuites;  /* TLS 1.3 suites, IANA or OpenSSL names */
	const char *alpn;          /* ','-separated, in preference order; NULL = none */
	const char *ca;            /* PEM file: client CAs (server), server CAs (client) */
	enum tls_verify verify;    /* server: client certificates; client: the server's */
	bool no_tickets;           /* server: issue no session tickets */
	bool no_session_cache;     /* server: keep no session cache */
	unsigned session_lifetime; /* server: seconds a session resumes for; 0 = 300 */
};

/* Why a handshake or a connection failed: one counter each. */
enum tls_reason {
	TLS_R_NONE,
	TLS_R_BAD_RECORD, /* not TLS, a malformed record or message */
	TLS_R_VERSION,    /* no protocol version in common */
	TLS_R_NO_SHARED_CIPHER,
	TLS_R_NO_ALPN,    /* no ALPN protocol in common */
	TLS_R_UNKNOWN_CA, /* the peer's certificate is not signed by a known CA */
	TLS_R_BAD_CERT,   /* the peer's certificate is invalid, expired, mismatched */
	TLS_R_NO_CERT,    /* a required client certificate is missing */
	TLS_R_DECRYPT,    /* a record failed to decrypt or authenticate */
	TLS_R_PEER_ALERT, /* the peer sent another fatal alert */
	TLS_R_CLOSED,     /* the peer closed before the handshake completed */
	TLS_R_TRUNCATED,  /* the peer closed without close_notify */
	TLS_R_IO,         /* the out callback refused the records */
	TLS_R_NOMEM,
	TLS_R_TIMEOUT,  /* set by the caller: tls_conn_fail() */
	TLS_R_INTERNAL, /* anything else wolfSSL reports */
	TLS_R_COUNT,
};

struct tls_ctx;
struct tls_conn;
struct tls_sess;

/* Where a tls_conn's records go: <len> bytes at <data>, valid during the
 * call only. Returns 0, or -errno to fail the connection (TLS_R_IO). */
typedef int (*tls_out_fn)(void *arg, const char *data, size_t len);

/* The SNI hook of a server context: the context to use for <name> (a
 * NUL-terminated host name, as the client sent it), with a reference the
 * connection takes over (tls_ctx_get()), or NULL for the context itself. */
typedef struct tls_ctx *(*tls_sni_fn)(void *arg, const char *name);

struct tls_sni;

/* Told of bytes a store loads (> 0; refuse with < 0) and lets go (< 0). */
typedef int (*tls_sni_charge_fn)(void *arg, int64_t delta);

struct tls_sni_stats {
	unsigned entries, names, loaded;
	uint64_t bytes;
	uint64_t hits, misses, evictions, unknown;
};

/* The session ticket key ring's counters (tls_ticket_stats()). */
struct tls_ticket_stats {
	uint64_t generation; /* keys made since start: the current key's number; 0 = none */
	uint64_t issued;     /* tickets encrypted */
	uint64_t accepted;   /* tickets taken under the current key */
	uint64_t renewed;    /* taken under the previous key: the client gets a new one */
	uint64_t refused;    /* under an unknown key, or not authentic: a full handshake
	                      * (wolfSSL 5.5.4 tries a TLS 1.3 ticket once per cipher
	                      * suite in common: one ClientHello may count several) */
	uint64_t failures;   /* rotations that found no randomness (tried again later) */
};

/* Session objects (WOLFSSL blocks) a thread keeps for reuse, at most. */
#define TLS_SESSION_POOL_MAX 64

struct tls_pool_stats {
	uint64_t reused; /* WOLFSSL blocks taken from a pool instead of malloc */
	uint64_t pooled; /* blocks given back to a pool instead of free */
	uint64_t idle;   /* blocks waiting in the pools now, all threads */
};

struct tls_mem_stats {
	uint64_t held; /* bytes currently held, malloc_usable_size() of each block */
	uint64_t peak;
	uint64_t allocs; /* blocks allocated / freed since start */
	uint64_t releases;
};

#endif
