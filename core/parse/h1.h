/* The HTTP/1.1 parser of the reverse proxy: incremental and zero-copy.
 *
 * h1_parse() reads a request or response head from the receive buffer as
 * bytes arrive and describes it as slices of that buffer (struct h1_str):
 * nothing is copied, and nothing is allocated unless a head has more than
 * H1_INLINE_HDRS header lines. It is strict where a proxy must be (RFC 9112,
 * request smuggling): a head that two parsers could read two ways is refused.
 * h1_body_feed() then frames the body, for a proxy that forwards its bytes as
 * they are. h1_build_request() and h1_build_response() write the head to send
 * on, without the hop-by-hop fields.
 *
 * Decisions (strict choices the RFC leaves open):
 * - "Content-Length: 5, 5" and repeated identical fields are one length
 *   (RFC 9110 8.6 allows either); different values are 400.
 * - Transfer-Encoding: chunked must be the final coding and appear once;
 *   in a request, a final coding other than chunked is 400 (RFC 9112 6.3),
 *   chunked after other codings ("gzip, chunked") is 501 (RFC 9112 6.1);
 *   transfer-coding parameters are 400. In a response, a final coding other
 *   than chunked means close-delimited. TE with Content-Length, or in an
 *   HTTP/1.0 message, is 400 on both sides.
 * - Empty lines before a request line are skipped (RFC 9112 2.2) and count
 *   in head_len; a response has none.
 * - Request-target bytes are VCHAR (no obs-text); CONNECT with a body (any
 *   Content-Length or Transfer-Encoding) is 400.
 * - Names listed in Connection become hop-by-hop, except Host,
 *   Content-Length and Transfer-Encoding: the framing always goes upstream.
 *
 * A parser and its message belong to one connection, hence one worker: no
 * locking.
 */
#ifndef RINGLB_CORE_H1_H
#define RINGLB_CORE_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "core/parse/h1-t.h"

/* Prepares <p> for one head: a response if <response>, else a request.
 * <lim> may be NULL (defaults); it is copied. max_line bounds the request
 * line only: a status line is bounded by max_head. On a response parser, set
 * p->flags |= H1_F_HEAD_REQ after this when the request was HEAD. */
void h1_parser_init(struct h1_parser *p, bool response, const struct h1_limits *lim);

/* Parses the head in buf[0..len) (the whole head so far, contiguous; the caller appends bytes and
 * calls again with a larger len: work already done is not repeated). <m> must be the same message
 * on every call for one head; the first call resets it. buf may have moved between calls (a
 * grown buffer holding the same bytes): the slices already in <m> are moved with it.
 * Returns the head length (> 0) once the head is complete and valid, filling *m; 0 when more
 * bytes are needed (and len is still within the limits); or -STATUS for the answer to send:
 * -400 malformed / ambiguous framing, -414 request line too long, -431 head or header count
 * too large, -501 a Transfer-Encoding other than chunked (as RFC 9112 says), -505 version, -500
 * no memory for the header spill. After an error <m> holds no spill and no header; calls after
 * the end return the same answer. */
int h1_parse(struct h1_parser *p, const char *buf, size_t len, struct h1_msg *m);

/* Frees the spill of <m> (if any); <m> can be parsed into again. Safe on a
 * zeroed message. Call h1_msg_wipe() first to clear secrets. */
void h1_msg_release(struct h1_msg *m);

/* Zeroes every Authorization, Proxy-Authorization and Cookie value of <m> in <buf>,
 * the writable buffer the head was parsed from (with pool_wipe(): not a dead
 * store the compiler may drop). Other bytes are left alone. */
void h1_msg_wipe(struct h1_msg *m, char *buf);

/* The interned id of a header name (case-insensitive), H1_H_OTHER if none. */
enum h1_hdr_id h1_hdr_lookup(const char *name, size_t len);

/* The lower-case name of an interned id, "" for H1_H_OTHER. */
const char *h1_hdr_name(enum h1_hdr_id id);

/* The first header of <m> with <id> at index >= <from>, or -1. */
int h1_msg_find(const struct h1_msg *m, enum h1_hdr_id id, uint32_t from);

/* Prepares <b> to frame the body <m> announces (m->body). */
void h1_body_init(struct h1_body_state *b, const struct h1_msg *m);

/* Consumes up to len body bytes at buf; returns how many belong to this message's body (<= len;
 * the rest is the next message, pipelined), sets *done when the body (including the chunked
 * terminator and trailers) is complete; or -400 on a malformed chunk (size overflow > 2^62,
 * non-hex, missing CRLF, bad trailer, size line or trailers past their bounds). Incremental: any
 * split of the bytes gives the same result. A CLOSE body takes everything and is never done
 * (EOF ends it); a NONE body is done at once. After -400, every call returns -400. */
int64_t h1_body_feed(struct h1_body_state *b, const char *buf, size_t len, bool *done);

/* h1_body_feed() for a CHUNKED body whose payload is sent on without its framing: the same
 * return and *done, and the payload bytes of what was consumed (chunk data only: sizes,
 * extensions, CRLFs and trailer fields dropped) are moved down to buf[0..*out), in place. */
int64_t h1_body_dechunk(struct h1_body_state *b, char *buf, size_t len, bool *done, size_t *out);

/* Builds the request head to send upstream into out[0..cap): request line as received (method,
 * target and HTTP/1.<minor> kept), every header except hop-by-hop ones (Connection and the names
 * it lists, Keep-Alive, TE, Trailer, Upgrade unless upgrading, Proxy-Connection), X-Forwarded-For
 * appended (to the existing ones, comma-separated, in one field) with <client_ip>,
 * X-Forwarded-Proto set to <proto>, X-Real-IP set to <client_ip> (those sent by the client are
 * dropped), optional Via (via != NULL: "Via: 1.1 <via>", after any received), "Connection:
 * keep-alive" (or "Connection: upgrade" + the Upgrade header when upgrading). Content-Length
 * normalised to one, Transfer-Encoding to "chunked". <client_ip>, <proto> and <via> are trusted
 * (not checked for CR LF); a NULL <client_ip> or <proto> leaves out what it would set.
 * Returns the length or -ENOSPC. */
int h1_build_request(const struct h1_msg *m, const char *client_ip, const char *proto,
                     const char *via, char *out, size_t cap);

/* The same for a response going to the client: status line as received, hop-by-hop removed,
 * Content-Length normalised to one (Content-Length and Transfer-Encoding dropped on 1xx and
 * 204), "Connection: keep-alive" or "Connection: close" as <keep_alive> says ("Connection:
 * upgrade" + Upgrade on a 101, no Connection field on other 1xx). A CLOSE-delimited body
 * needs keep_alive false. Returns the length or -ENOSPC. */
int h1_build_response(const struct h1_msg *m, bool keep_alive, char *out, size_t cap);

/* Response heads that never have a body: HEAD requests, 1xx, 204, 304 (h1_msg.body = NONE then). */
static inline bool h1_status_has_body(uint16_t status)
{
	return status >= 200 && status != 204 && status != 304;
}

#endif
