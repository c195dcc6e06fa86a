/* The PROXY protocol, v1 (text) and v2 (binary), as HAProxy's
 * proxy-protocol.txt specifies them: pure functions over buffers.
 *
 * proxy_parse() reads a header at the start of a buffer that may hold only
 * part of it (bytes arriving one at a time), and says as early as it can
 * that the bytes can never start a valid header. It never reads past <len>
 * nor past the header: what follows the header is the next protocol's.
 */
#ifndef RINGLB_CORE_PARSE_PROXY_H
#define RINGLB_CORE_PARSE_PROXY_H

#include <stddef.h>

#include "core/parse/proxy-t.h"

#define PROXY_V1_MAX     107  /* the longest v1 line, CR LF included (the spec's bound) */
#define PROXY_V2_FIXED   16   /* signature, version and command, family, length */
#define PROXY_V2_MAX_LEN 1024 /* v2: addresses and TLVs accepted, at most (ours) */
#define PROXY_MAX        (PROXY_V2_FIXED + PROXY_V2_MAX_LEN) /* the longest header accepted */
#define PROXY_BUILD_MAX  PROXY_V1_MAX /* room proxy_build() needs (v2 takes 52 at most) */

enum {
	PROXY_MORE = 0,  /* a valid start: more bytes are needed */
	PROXY_EBAD = -1, /* malformed: no continuation can make it valid */
	PROXY_EBIG = -2, /* longer than PROXY_V1_MAX (v1) or PROXY_MAX (v2) */
};

/* Parses the header at the start of <buf> (<len> bytes). Returns its length
 * (> 0) with <out> filled, PROXY_MORE, PROXY_EBAD or PROXY_EBIG. v2 TLVs are
 * checked to tile the header's length and skipped. */
int proxy_parse(const uint8_t *buf, size_t len, struct proxy_addr *out);

/* Writes a v<version> (1 or 2) header for <a> into <out> (PROXY_BUILD_MAX
 * bytes): v1 "PROXY TCP4|TCP6 ...", v2 PROXY over STREAM; a family of 0
 * gives v1 "PROXY UNKNOWN" and v2 LOCAL. Returns its length. */
size_t proxy_build(int version, const struct proxy_addr *a, uint8_t *out);

#endif
