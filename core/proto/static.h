/* The static responder protocol (`mode: static` listeners). */
#ifndef RINGLB_CORE_STATIC_H
#define RINGLB_CORE_STATIC_H

/* Registers it and serves static listeners with it. 0 or -ENOSPC. */
int static_register(void);

#endif
