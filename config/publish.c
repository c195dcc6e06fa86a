/* Snapshot publication with liburcu QSBR. */
#define _LGPL_SOURCE
#include <urcu/urcu-qsbr.h>

#include "config/publish.h"

static struct config *publish_current;

struct config *publish_set(struct config *cfg)
{
	return rcu_xchg_pointer(&publish_current, cfg);
}

struct config *publish_get(void)
{
	return rcu_dereference(publish_current);
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
