/* The PROXY protocol (v1 and v2): types only (core/parse/proxy.h). */
#ifndef RINGLB_CORE_PARSE_PROXY_T_H
#define RINGLB_CORE_PARSE_PROXY_T_H

#include <stdint.h>

/* The addresses a PROXY header carries. <family> 0: none (v1 UNKNOWN, v2
 * LOCAL, or a v2 PROXY of an unspecified or AF_UNIX family): the
 * connection's own addresses are the ones to use. */
struct proxy_addr {
	uint8_t family;  /* 0, AF_INET or AF_INET6 */
	uint8_t version; /* 1 or 2: what was parsed (the builder ignores it) */
	uint16_t sport;  /* host order */
	uint16_t dport;
	uint8_t src[16]; /* network order: 4 bytes for AF_INET, 16 for AF_INET6 */
	uint8_t dst[16];
};

#endif
