/* Types of the HTTP/1.1 parser (core/h1.h): messages as slices of the
 * receive buffer, the incremental head parser's state and the body framer's.
 */
#ifndef RINGLB_CORE_H1_T_H
#define RINGLB_CORE_H1_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A slice of the receive buffer: never copied. */
struct h1_str {
	const char *p;
	uint32_t len;
};

/* Interned header names, matched case-insensitively. */
enum h1_hdr_id {
	H1_H_OTHER = 0,
	H1_H_HOST,
	H1_H_CONTENT_LENGTH,
	H1_H_TRANSFER_ENCODING,
	H1_H_CONNECTION,
	H1_H_KEEP_ALIVE,
	H1_H_TE,
	H1_H_TRAILER,
	H1_H_UPGRADE,
	H1_H_PROXY_CONNECTION,
	H1_H_EXPECT,
	H1_H_AUTHORIZATION,
	H1_H_COOKIE,
	H1_H_SET_COOKIE,
	H1_H_X_FORWARDED_FOR,
	H1_H_X_FORWARDED_PROTO,
	H1_H_X_REAL_IP,
	H1_H_VIA,
	H1_H_CONTENT_TYPE,
	H1_H_USER_AGENT,
	H1_H_ACCEPT,
	H1_H_DATE,
	H1_H_SERVER,
	H1_H_CACHE_CONTROL,
	H1_H_ACCEPT_ENCODING,
	H1_H_CONTENT_ENCODING,
	H1_H_PROXY_AUTHORIZATION,
	H1_H_NHDR
};

struct h1_hdr {
	struct h1_str name, value; /* value without its leading and trailing OWS */
	uint8_t id;                /* enum h1_hdr_id */
	uint8_t hop;               /* 1 = hop-by-hop: not forwarded */
};

#define H1_INLINE_HDRS 16

enum h1_body {
	H1_BODY_NONE,
	H1_BODY_LENGTH,
	H1_BODY_CHUNKED,
	H1_BODY_CLOSE /* response only: until EOF */
};

#define H1_F_CLOSE    0x01 /* Connection: close (or HTTP/1.0 without keep-alive) */
#define H1_F_CONTINUE 0x02 /* request: Expect: 100-continue (HTTP/1.1 only) */
#define H1_F_UPGRADE  0x04 /* Connection: upgrade + Upgrade: present (request), or 101 (response) */
#define H1_F_HEAD_REQ 0x08 /* set by the caller on a response parser: the request was HEAD */
#define H1_F_HAS_CL                                                                                \
	0x10 /* a Content-Length was received: content_length holds it (even when
                            * body is NONE: a 304 or the answer to a HEAD) */
#define H1_F_TE_OTHER                                                                              \
	0x20 /* Transfer-Encoding names a coding other than chunked (a response
                            * then is close-delimited, or chunked over that coding) */

struct h1_msg {
	/* request */
	struct h1_str method, target;
	bool is_head; /* method HEAD */
	bool is_connect;
	/* response */
	uint16_t status;
	struct h1_str reason;

	uint8_t minor;  /* HTTP/1.<minor>: 0 or 1 */
	uint32_t flags; /* H1_F_* */
	enum h1_body body;
	uint64_t content_length;
	struct h1_str host; /* request: the Host header value (required for 1.1), or
	                     * the authority of an absolute-form target (RFC 9112 3.2.2) */
	struct h1_str path; /* request: the target's path and query (origin-form: the
	                     * target; empty after an authority alone, meaning "/") */
	struct h1_hdr inline_hdrs[H1_INLINE_HDRS];
	struct h1_hdr *hdrs; /* == inline_hdrs, or the spill array */
	uint32_t nhdrs,
	    cap;           /* spill: malloc'd array when more than 16, freed by h1_msg_release() */
	uint32_t head_len; /* bytes of the head including the final CRLF CRLF */
};

/* A field at 0 takes the default below. */
struct h1_limits {
	uint32_t max_line;  /* request line without its CRLF (414 past it) */
	uint32_t max_head;  /* whole head with its final CRLF CRLF (431 past it) */
	uint32_t max_hdrs;  /* header field lines (431 past it) */
	uint32_t max_field; /* one field line, name to the end of its value (OWS included),
	                     * CRLF excluded; and a status line (431 past it); 0 = max_head */
};

#define H1_DEF_MAX_LINE  8192u
#define H1_DEF_MAX_HEAD  65536u
#define H1_DEF_MAX_HDRS  100u
#define H1_DEF_MAX_FIELD 8192u /* what the proxy's listeners default to (max_field_size) */

#define H1_CL_MAX        (UINT64_C(1) << 62) /* largest Content-Length */
#define H1_CHUNK_MAX     (UINT64_C(1) << 62) /* largest chunk size */
#define H1_CHUNK_LINE    4096u  /* chunk-size line with its extensions, CRLF excluded */
#define H1_TRAILER_MAX   16384u /* trailer section, bytes */
#define H1_TRAILER_NHDRS 64u    /* trailer section, fields */

/* Incremental parsing of one head. Everything is an offset into the
 * caller's buffer, so the parser holds no pointer into it but <base>. */
struct h1_parser {
	uint8_t state;
	bool response;
	uint8_t nhost;
	uint32_t flags;  /* H1_F_HEAD_REQ: the caller sets it on a response parser */
	uint32_t pflags; /* H1__P_*: what the head said about framing, so far */
	int err;         /* the answer, once state is the error state */
	uint32_t pos;    /* next byte to look at */
	uint32_t line;   /* start of the current line (header: of its name) */
	uint32_t mark;   /* start of the current token (target, version, value) */
	uint32_t colon;  /* header: end of its name */
	uint32_t vend;   /* header: end of its value, trailing OWS excluded */
	uint64_t cl;     /* Content-Length, when H1__P_CL */
	struct h1_limits lim;
	const char *base; /* buf of the previous call: slices are moved if it moved */
};

/* Body framing state: fed bytes as they arrive, holds no pointer. */
struct h1_body_state {
	uint8_t kind;  /* enum h1_body */
	uint8_t state; /* chunked: where in the chunk syntax */
	uint16_t ntrl; /* trailer fields so far */
	uint32_t line; /* chunked: bytes of the current size line or trailer section */
	uint64_t
	    left; /* LENGTH: bytes still to come; CHUNKED: of the current chunk (or its size) */
	uint64_t data; /* payload bytes so far, without chunk framing (max_body_size) */
};

#endif
