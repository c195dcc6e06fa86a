/* Access log formats: types only (config/logfmt.h). */
#ifndef RINGLB_CONFIG_LOGFMT_T_H
#define RINGLB_CONFIG_LOGFMT_T_H

#include <stdint.h>

/* The fields a %{name} of an access log template may name. */
enum logfmt_field {
	LF_TIME,        /* start of the request (TCP: accept), ISO 8601 UTC with ms */
	LF_CLIENT,      /* client address:port ([v6]:port) */
	LF_CLIENT_ADDR, /* client address */
	LF_CLIENT_PORT, /* client port */
	LF_LISTENER,    /* listener name */
	LF_POOL,        /* pool name */
	LF_BACKEND,     /* backend address as written in the config */
	LF_METHOD,      /* HTTP method */
	LF_TARGET,      /* request target as received */
	LF_VERSION,     /* HTTP/1.0, HTTP/1.1; TCP for an L4 session */
	LF_STATUS,      /* HTTP status sent to the client */
	LF_BYTES_IN,    /* bytes received from the client */
	LF_BYTES_OUT,   /* bytes sent (queued) to the client */
	LF_REQUEST_MS,  /* first byte of the head to its end */
	LF_CONNECT_MS,  /* connect to the backend (0: a reused connection) */
	LF_RESPONSE_MS, /* request sent to the response head */
	LF_TOTAL_MS,    /* first byte of the request (TCP: accept) to the end */
	LF_TERMINATION, /* two letters as HAProxy's: who ended it, in which phase */
	LF_TLS_VERSION, /* TLSv1.2, TLSv1.3 */
	LF_SNI,         /* the server name the client sent */
	LF_TYPE,        /* http or tcp */
	LF_NFIELDS,
	LF_LITERAL = 0xff, /* a step of literal text */
};

/* One step of a compiled template: a field, or <len> bytes of literal text
 * at <off> in the template's text. */
struct logfmt_step {
	uint8_t field;
	uint16_t off, len;
};

#define LOGFMT_MAX_STEPS 128

enum logfmt_kind {
	LOGFMT_TEXT,     /* the default line (logfmt.c says which) */
	LOGFMT_JSON,     /* one object per line */
	LOGFMT_TEMPLATE, /* %{field} names and literal text */
};

struct logfmt {
	enum logfmt_kind kind;
	unsigned nsteps;
	struct logfmt_step steps[LOGFMT_MAX_STEPS];
	char text[1024]; /* the template (literal bytes are slices of it) */
};

#endif
