/* Access log formats: "text", "json", or a template of %{field} names and
 * literal text ("%%" is a '%'). Validated when the config is loaded and
 * compiled again by the access log (core/alog) for each destination. */
#ifndef RINGLB_CONFIG_LOGFMT_H
#define RINGLB_CONFIG_LOGFMT_H

#include <stddef.h>

#include "config/logfmt-t.h"

/* The default text line, as a template. */
extern const char logfmt_default_text[];

/* The name of <f> ("client_addr"), NULL out of range. */
const char *logfmt_field_name(unsigned f);

/* Compiles <spec> into <out>. Returns 0, or -EINVAL with the reason in
 * <why> ("unknown field %{foo}"). */
int logfmt_compile(const char *spec, struct logfmt *out, char *why, size_t len);

/* Every field name, ", "-separated, for error messages. */
void logfmt_field_list(char *buf, size_t len);

#endif
