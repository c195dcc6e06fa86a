/* Access log formats (logfmt.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config/logfmt.h"

static const char *const field_names[LF_NFIELDS] = {
    [LF_TIME] = "time",
    [LF_CLIENT] = "client",
    [LF_CLIENT_ADDR] = "client_addr",
    [LF_CLIENT_PORT] = "client_port",
    [LF_LISTENER] = "listener",
    [LF_POOL] = "pool",
    [LF_BACKEND] = "backend",
    [LF_METHOD] = "method",
    [LF_TARGET] = "target",
    [LF_VERSION] = "version",
    [LF_STATUS] = "status",
    [LF_BYTES_IN] = "bytes_in",
    [LF_BYTES_OUT] = "bytes_out",
    [LF_REQUEST_MS] = "request_ms",
    [LF_CONNECT_MS] = "connect_ms",
    [LF_RESPONSE_MS] = "response_ms",
    [LF_TOTAL_MS] = "total_ms",
    [LF_TERMINATION] = "termination",
    [LF_TLS_VERSION] = "tls_version",
    [LF_SNI] = "sni",
    [LF_TYPE] = "type",
};

const char logfmt_default_text[] =
    "%{time} %{client} %{listener} %{pool} %{backend} \"%{method} %{target} %{version}\" "
    "%{status} %{bytes_in} %{bytes_out} %{request_ms}/%{connect_ms}/%{response_ms}/%{total_ms} "
    "%{termination} %{tls_version} %{sni}";

const char *logfmt_field_name(unsigned f)
{
	return f < LF_NFIELDS ? field_names[f] : NULL;
}

void logfmt_field_list(char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < LF_NFIELDS && n < len; i++)
		n += snprintf(buf + n, len - n, "%s%s", i ? ", " : "", field_names[i]);
}

static int field_of(const char *s, size_t n)
{
	for (unsigned i = 0; i < LF_NFIELDS; i++) {
		if (strlen(field_names[i]) == n && !memcmp(field_names[i], s, n))
			return (int)i;
	}
	return -1;
}

static int step_add(struct logfmt *f, unsigned field, size_t off, size_t len)
{
	if (f->nsteps == LOGFMT_MAX_STEPS)
		return -E2BIG;
	f->steps[f->nsteps++] = (struct logfmt_step){(uint8_t)field, (uint16_t)off, (uint16_t)len};
	return 0;
}

/* Literal text [from, to) of f->text, if any. */
static int literal(struct logfmt *f, size_t from, size_t to)
{
	return to > from ? step_add(f, LF_LITERAL, from, to - from) : 0;
}

static int compile_template(struct logfmt *f, char *why, size_t len)
{
	const char *t = f->text;
	size_t i = 0, lit = 0;
	unsigned nfields = 0;

	while (t[i]) {
		const char *end;
		int fld;

		if (t[i] != '%') {
			i++;
			continue;
		}
		if (literal(f, lit, i) < 0)
			goto too_long;
		if (t[i + 1] == '%') { /* "%%": the second '%' starts the next literal */
			lit = i + 1;
			i += 2;
			continue;
		}
		end = t[i + 1] == '{' ? strchr(t + i + 2, '}') : NULL;
		if (!end) {
			snprintf(why, len, "'%%' at byte %zu is not %%{field} nor %%%%", i + 1);
			return -EINVAL;
		}
		fld = field_of(t + i + 2, end - (t + i + 2));
		if (fld < 0) {
			snprintf(why, len, "unknown field %%{%.*s}", (int)(end - (t + i + 2)) % 64,
			         t + i + 2);
			return -EINVAL;
		}
		if (step_add(f, (unsigned)fld, 0, 0) < 0)
			goto too_long;
		nfields++;
		i = lit = end - t + 1;
	}
	if (literal(f, lit, i) < 0)
		goto too_long;
	if (!nfields) {
		snprintf(why, len, "no %%{field}");
		return -EINVAL;
	}
	return 0;
too_long:
	snprintf(why, len, "more than %d steps", LOGFMT_MAX_STEPS);
	return -EINVAL;
}

int logfmt_compile(const char *spec, struct logfmt *out, char *why, size_t len)
{
	const char *tpl = spec;

	memset(out, 0, sizeof(*out));
	out->kind = LOGFMT_TEMPLATE;
	if (!strcmp(spec, "json")) {
		out->kind = LOGFMT_JSON;
		return 0;
	}
	if (!strcmp(spec, "text")) {
		out->kind = LOGFMT_TEXT;
		tpl = logfmt_default_text;
	}
	if (strlen(tpl) >= sizeof(out->text)) {
		snprintf(why, len, "longer than %zu bytes", sizeof(out->text) - 1);
		return -EINVAL;
	}
	strcpy(out->text, tpl);
	return compile_template(out, why, len);
}
