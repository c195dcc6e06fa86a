/* The access log: types only (core/alog/alog.h). */
#ifndef RINGLB_CORE_ALOG_T_H
#define RINGLB_CORE_ALOG_T_H

#include <stdatomic.h>
#include <stdint.h>

enum alog_kind {
	ALOG_PAD,  /* filler up to the ring's end */
	ALOG_HTTP, /* one HTTP request */
	ALOG_TCP,  /* one L4 session */
};

/* The strings a record carries after its fixed part, in this order. */
enum alog_str_id {
	ALOG_S_METHOD,
	ALOG_S_TARGET,
	ALOG_S_SNI,
	ALOG_S_POOL,
	ALOG_S_BACKEND,
	ALOG_NSTR,
};

#define ALOG_TARGET_MAX 1024 /* bytes of a request target kept (the rest is cut) */
#define ALOG_METHOD_MAX 16
#define ALOG_NO_MS      UINT32_MAX /* a time that was not measured */

/* The timings of a record, in ms. */
enum alog_ms {
	ALOG_MS_REQUEST,
	ALOG_MS_CONNECT,
	ALOG_MS_RESPONSE,
	ALOG_MS_TOTAL,
	ALOG_NMS,
};

/* A client address, binary: formatted by the log thread. */
struct alog_addr {
	uint16_t family; /* AF_INET, AF_INET6, 0 = unknown */
	uint16_t port;   /* host order */
	uint8_t a[16];
};

struct alog_sink;

/* One record as a worker writes it into its ring: fixed fields, then the
 * ALOG_NSTR strings back to back. Formatting is the log thread's. */
struct alog_rec {
	uint32_t len;           /* of the whole record, a multiple of 8 */
	uint8_t kind;           /* enum alog_kind */
	uint8_t tls;            /* 12, 13, 0 = no TLS */
	uint8_t minor;          /* http: HTTP/1.<minor> */
	char term[2];           /* termination: HAProxy's two letters */
	uint16_t status;        /* http: status sent, 0 = none */
	struct alog_sink *sink; /* the listener's destination and format */
	uint64_t start_ms;      /* clock_ms() of the start */
	uint32_t ms[ALOG_NMS];  /* ALOG_NO_MS: not measured */
	uint64_t bytes_in, bytes_out;
	struct alog_addr client;
	uint16_t slen[ALOG_NSTR];
	char str[];
};

/* A string handed to alog_emit(). */
struct alog_str {
	const char *s;
	uint32_t n;
};

/* A worker's ring: single producer (the worker), single consumer (the log
 * thread). <head> and <tail> only grow; positions are taken modulo size. */
struct alog_ring {
	_Atomic uint64_t head; /* consumer: bytes consumed */
	char pad0[56];
	_Atomic uint64_t tail; /* producer: bytes committed */
	uint64_t head_seen;    /* producer: the last head it read */
	char *buf;
	uint64_t size;      /* a power of two */
	_Atomic int kicked; /* the producer woke the log thread; it clears this */
	int kick_fd;
	_Atomic uint64_t *dropped;   /* the worker's log_dropped counter (its own writes) */
	_Atomic uint64_t *unwritten; /* its log_unwritten counter (the log thread's writes) */
	char pad1[64];
};

#endif
