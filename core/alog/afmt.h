/* Access log records as text: the default line, JSON, or a template
 * (config/logfmt.h). Used by the log thread. */
#ifndef RINGLB_CORE_AFMT_H
#define RINGLB_CORE_AFMT_H

#include <stddef.h>
#include <stdint.h>

#include "config/logfmt-t.h"
#include "core/alog/alog-t.h"

/* Room one formatted record may need, at most. */
#define AFMT_MAX 8192

/* Formats <r> of listener <listener> with <f> into <out> (<cap> bytes, at
 * least AFMT_MAX), without a newline; <wall_ms> is the record's start on
 * the real-time clock. Returns the length. */
size_t afmt_record(const struct logfmt *f, const struct alog_rec *r, const char *listener,
                   int64_t wall_ms, char *out, size_t cap);

/* "2026-12-06T22:45:26.123Z" for <wall_ms> into <out> (25 bytes). */
void afmt_time(int64_t wall_ms, char *out);

#endif
