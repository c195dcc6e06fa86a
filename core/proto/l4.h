/* The L4 TCP proxy protocol (`mode: tcp` listeners). */
#ifndef RINGLB_CORE_L4_H
#define RINGLB_CORE_L4_H

/* Registers the client and upstream sides and serves tcp listeners with
 * them. 0 or -ENOSPC. */
int l4_register(void);

#endif
