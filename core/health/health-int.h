/* Health checks inside (health.h): the types shared by check.c (one
 * check's life on the ring) and health.c (the set of checks). */
#ifndef RINGLB_CORE_HEALTH_INT_H
#define RINGLB_CORE_HEALTH_INT_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"
#include "core/lb/backend.h"
#include "core/parse/h1.h"

#define HEALTH_BUF          16384 /* http: response bytes read at most */
#define HEALTH_PASSIVE_TICK 100   /* ms between looks at passive holds */
#define HEALTH_IDLE_WAKE    60000 /* ms: the longest health_run() asks to sleep */

enum hphase {
	HC_IDLE,
	HC_CONNECT,
	HC_SEND,
	HC_RECV,
};

/* Consecutive results and the verdict they give. */
struct hcount {
	uint32_t oks, fails;
	bool up;
};

/* What a check does: its pool's settings, copied so that a check outlives
 * the snapshot it came from. */
struct hparams {
	bool active, passive;
	enum cfg_check_type type;
	uint64_t interval, timeout;
	uint32_t rise, fall;
	double jitter;
	bool head; /* method HEAD: the answer has no body */
	uint16_t lo[CFG_STATUS_RANGES], hi[CFG_STATUS_RANGES];
	int nstatus;
	char *req; /* http: the whole request */
	size_t req_len;
	char *body; /* http: a substring the body must hold, or NULL */
	size_t body_len;
};

struct hcheck {
	struct backend *be; /* one reference */
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct hparams p;
	struct hcount st;
	enum hphase phase;
	bool busy; /* an operation in flight */
	bool gone; /* not in the config any more: freed once idle */
	bool seen; /* health_sync(): listed by the new config */
	int fd;
	uint64_t next;     /* ms: the next check starts */
	uint64_t deadline; /* ms: the check in progress fails */
	uint64_t passive_seen;
	char *buf; /* http: the answer so far */
	uint32_t len, sent, head_len;
	struct h1_parser hp;
	struct h1_msg msg;
	struct __kernel_timespec ts;
	char why[32]; /* reason of the last failure */
};

struct health {
	struct io_uring *ring;
	struct hcheck **c; /* sorted by ->be at each sync */
	unsigned n;
	unsigned inflight;
	uint64_t rng;
};

/* check.c. The wait after a check: interval x (1 - jitter/2 + jitter x u),
 * u in [0, 1): on average the interval, never 0. */
uint64_t health__wait(uint64_t interval, double jitter, double u);
/* Counts one result; 1 when the verdict turned up, -1 down, else 0. */
int health__count(struct hcount *s, bool ok, uint32_t rise, uint32_t fall);
/* Whether <status> is in the check's ranges. */
bool health__status_ok(const struct hparams *p, unsigned status);
/* xorshift64*, as a double in [0, 1). */
double health__rand(struct health *h);
/* The settings of pool <pool> for backend <addr>: 0 or -ENOMEM. */
int health__params_build(struct hparams *p, const struct cfg_pool *pool, const char *addr);
void health__params_free(struct hparams *p);
/* An SQE for an operation of <chk> (room kept for its linked timeout). */
struct io_uring_sqe *health__op_sqe(struct health *h, struct hcheck *chk);
/* Starts a check of <chk> (connect); closes what the one in progress holds. */
void health__check_start(struct health *h, struct hcheck *chk, uint64_t now);
void health__check_end(struct hcheck *chk);
/* The completion (<res>) of <chk>'s operation in flight. */
void health__check_cqe(struct health *h, struct hcheck *chk, int res);

#endif
