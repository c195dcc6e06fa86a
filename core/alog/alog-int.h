/* The access log's inside, shared by alog.c (rings, sinks, the log
 * thread's passes) and dest.c (destinations and writing to them). */
#ifndef RINGLB_CORE_ALOG_INT_H
#define RINGLB_CORE_ALOG_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "config/logfmt.h"
#include "core/alog/afmt.h"
#include "core/alog/alog-t.h"

#define ALOG_OBUF      (256u << 10) /* a destination's output buffer */
#define ALOG_MSGS      256          /* syslog: datagrams per sendmmsg */
#define ALOG_WAIT_MS   50           /* the log thread's pass interval under load */
#define ALOG_IDLE_MS   1000         /* ... and with no sink at all */
#define ALOG_STOP_MS   2000         /* at exit, how long a blocked destination is waited for */
#define ALOG_RETRY_MS  1000         /* a destination that failed is tried again after this */
#define ALOG_SYSLOG    "/dev/log"
#define ALOG_MAX_RINGS 4096

enum dest_kind {
	DEST_FILE,
	DEST_STDERR,
	DEST_SYSLOG,
};

struct dest {
	char *path; /* as configured: the key */
	enum dest_kind kind;
	int fd; /* -1: closed (syslog not reachable: retried) */
	unsigned refs;
	struct sockaddr_un sa; /* syslog */
	socklen_t salen;
	char *obuf; /* formatted, not written yet (the log thread's) */
	size_t olen;
	uint32_t msg_end[ALOG_MSGS]; /* syslog: end of each datagram in obuf */
	unsigned nmsg;
	uint32_t *pending; /* records in obuf per ring, for the unwritten counts */
	uint64_t retry_ms; /* closed: reopen at */
	bool warned;       /* a failure was logged since the last success */
	bool dirty;        /* in the log thread's dirty list */
	struct dest *next_dirty;
	struct dest *next;
};

struct alog_sink {
	struct dest *dest;
	struct logfmt fmt;
	char *listener;
	int pri; /* syslog: facility * 8 + severity info */
	struct alog_sink *next_retired;
};

struct alog_state {
	pthread_mutex_t lock;
	struct dest *dests;
	struct alog_sink *retired;
	unsigned nsinks;

	struct alog_ring *rings;
	unsigned nrings;
	int efd;
	pthread_t thread;
	bool running;
	_Atomic bool stopping;
	uint64_t stop_at;        /* set before <stopping>: a blocked destination is given up then */
	_Atomic unsigned reopen; /* asked for (SIGUSR2) */
	unsigned reopen_done;
	struct dest *dirty; /* the log thread's: destinations with bytes in obuf */
	char line[AFMT_MAX];
};

extern struct alog_state alog;

static inline void alog__count(_Atomic uint64_t *c, uint64_t n)
{
	if (c)
		atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
		                      memory_order_relaxed);
}

/* dest.c. A destination for <path> ("stderr", "syslog[:SOCKET]" or a file;
 * <dry>: only checked, nothing stays open), or NULL with the reason in
 * <why>. */
struct dest *alog__dest_new(const char *path, bool dry, char *why, size_t len);
void alog__dest_free(struct dest *d);
/* Drops one reference (under alog.lock); the last one unlinks and frees. */
void alog__dest_put_locked(struct dest *d);
/* The log thread: writes <d>'s buffer out (or counts it lost). */
void alog__flush(struct dest *d);
/* ... every destination with bytes in its buffer. */
void alog__flush_dirty(void);
/* SIGUSR2: every file opened again by its path. */
void alog__reopen_all(void);

#endif
