/* Snapshot publication with liburcu QSBR.
 *
 * The pointer itself is a C11 atomic (release on publish, acquire on read)
 * rather than rcu_xchg_pointer()/rcu_dereference(): those are inline asm
 * and volatile loads in liburcu 0.13, the same ordering on x86 but
 * invisible to ThreadSanitizer, which then reports every read of a freshly
 * published snapshot as a race with its construction. liburcu keeps what
 * it is for: the QSBR reader states and the grace period.
 */
#define _LGPL_SOURCE
#include <stdatomic.h>
#include <urcu/urcu-qsbr.h>

#include "config/publish.h"

static struct config *_Atomic publish_current;

struct config *publish_set(struct config *cfg)
{
	return atomic_exchange_explicit(&publish_current, cfg, memory_order_acq_rel);
}

struct config *publish_get(void)
{
	return atomic_load_explicit(&publish_current, memory_order_acquire);
}

void publish_wait(void)
{
	urcu_qsbr_synchronize_rcu();
}

void publish_reader_register(void)
{
	urcu_qsbr_register_thread();
}

void publish_reader_unregister(void)
{
	urcu_qsbr_unregister_thread();
}

void publish_reader_quiescent(void)
{
	urcu_qsbr_quiescent_state();
}

void publish_reader_offline(void)
{
	urcu_qsbr_thread_offline();
}

void publish_reader_online(void)
{
	urcu_qsbr_thread_online();
}
