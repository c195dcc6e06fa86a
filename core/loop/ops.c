/* The tables of transports and protocols. */
#include <errno.h>
#include <string.h>

#include "core/loop/ops.h"

const struct proto_ops *ops_proto[OPS_MAX];
const struct xprt_ops *ops_xprt[OPS_MAX];
static uint8_t mode_proto[8];
static uint8_t default_xprt, tls_xprt_id;

static int add(const void **tab, const void *ops)
{
	unsigned i;

	for (i = 1; i < OPS_MAX && tab[i]; i++)
		if (tab[i] == ops)
			return (int)i;
	if (i == OPS_MAX)
		return -ENOSPC;
	tab[i] = ops;
	return (int)i;
}

int ops_proto_add(const struct proto_ops *p)
{
	return add((const void **)ops_proto, p);
}

int ops_xprt_add(const struct xprt_ops *x)
{
	return add((const void **)ops_xprt, x);
}

uint8_t ops_mode_proto(unsigned mode)
{
	return mode < sizeof(mode_proto) ? mode_proto[mode] : 0;
}

void ops_mode_set(unsigned mode, int proto_id)
{
	if (mode < sizeof(mode_proto) && proto_id > 0)
		mode_proto[mode] = (uint8_t)proto_id;
}

uint8_t ops_default_xprt(void)
{
	return default_xprt;
}

void ops_default_xprt_set(int xprt_id)
{
	if (xprt_id > 0)
		default_xprt = (uint8_t)xprt_id;
}

uint8_t ops_tls_xprt(void)
{
	return tls_xprt_id;
}

void ops_tls_xprt_set(int xprt_id)
{
	if (xprt_id > 0)
		tls_xprt_id = (uint8_t)xprt_id;
}

void ops_reset(void)
{
	memset(ops_proto, 0, sizeof(ops_proto));
	memset(ops_xprt, 0, sizeof(ops_xprt));
	memset(mode_proto, 0, sizeof(mode_proto));
	default_xprt = tls_xprt_id = 0;
}
