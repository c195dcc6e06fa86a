/* The HTTP/1.1 reverse proxy protocol (`mode: http` listeners). */
#ifndef RINGLB_CORE_HTTP_H
#define RINGLB_CORE_HTTP_H

/* Registers the client and upstream sides and serves http listeners with
 * them. 0 or -ENOSPC. */
int http_register(void);

#endif
