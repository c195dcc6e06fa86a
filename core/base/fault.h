/* Fault injection: hooks at the places where the proxy meets failure
 * (allocation, pools, the ring's submission queue, accept, connect, send,
 * recv, TLS sessions), which a test build makes fail on demand.
 *
 * Only a build with -DRINGLB_FAULT (`make fault`, `make asan`) has them:
 * anywhere else fault_hit() is a constant false that the compiler removes,
 * so a release binary carries no hook and no branch. In a fault build the
 * variable RINGLB_FAULT chooses what fails, as a list of KIND=WHEN[:MAX]:
 *
 *   RINGLB_FAULT="recv=0.01,connect=@100,alloc=0.001:50"
 *
 * WHEN is a probability per call (0.01: one call in a hundred, drawn from
 * a per-thread PRNG seeded by RINGLB_FAULT_SEED) or @N (every Nth call of
 * that kind, process-wide); MAX caps the faults of that kind. Nothing fails
 * before fault_arm() (the ready line): start-up is not the code under test.
 * Every injected fault is counted per kind (fault_injected()), so a test
 * tells injected failures from real ones; fault_log() prints the counts.
 *
 * Thread safety: fault_hit() may be called from any thread; fault_init()
 * and fault_arm() run on the control thread before/after the workers start.
 */
#ifndef RINGLB_CORE_FAULT_H
#define RINGLB_CORE_FAULT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum fault_kind {
	FAULT_ALLOC,   /* acct_charge() refuses, as if the limit were reached */
	FAULT_POOL,    /* pool_get() returns NULL, as if the class were at max_count */
	FAULT_SQE,     /* ring_sqe() finds the submission queue full */
	FAULT_SUBMIT,  /* the worker's io_uring submit fails with -EAGAIN */
	FAULT_ACCEPT,  /* an accept completes with -EMFILE */
	FAULT_CONNECT, /* an upstream connect is refused, or (every second fault) times out */
	FAULT_SEND,    /* a send completes with -EPIPE */
	FAULT_SHORT,   /* a send is submitted with half its bytes (a short write) */
	FAULT_RECV,    /* a receive completes with -ECONNRESET */
	FAULT_TLS,     /* wolfSSL_new() returns NULL */
	FAULT_RECVCAP, /* a capped multishot recv is refused (-EINVAL), as before Linux 6.17 */
	FAULT_NKINDS,
};

/* Reads <spec> (RINGLB_FAULT's value, NULL = none) and <seed>
 * (RINGLB_FAULT_SEED's, NULL = 1). Returns 0, or -EINVAL with the reason in
 * <err> (a spec is refused, not half applied). A build without hooks
 * returns -ENOTSUP for a non-empty spec. */
int fault_init(const char *spec, const char *seed, char *err, size_t errlen);

/* From now on the rules of fault_init() apply. */
void fault_arm(void);

/* The name of <k> as RINGLB_FAULT spells it, or NULL. */
const char *fault_name(enum fault_kind k);

/* How many faults of <k> were injected, and how many calls reached its hook. */
uint64_t fault_injected(enum fault_kind k);
uint64_t fault_calls(enum fault_kind k);

/* Logs one line per configured kind with <prefix> first:
 * "PREFIX kind=recv when=0.01 calls=N injected=M". Nothing when no rule
 * is set. */
void fault_log(const char *prefix);

#ifdef RINGLB_FAULT
extern _Atomic bool fault__armed;
bool fault__hit(enum fault_kind k);

/* True when the call at this hook is to fail (and it is counted). */
static inline bool fault_hit(enum fault_kind k)
{
	return atomic_load_explicit(&fault__armed, memory_order_relaxed) && fault__hit(k);
}
#else
static inline bool fault_hit(enum fault_kind k)
{
	(void)k;
	return false;
}
#endif

#endif
