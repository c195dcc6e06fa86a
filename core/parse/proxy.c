/* The PROXY protocol v1 and v2 (proxy.h): parser and builder. */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/parse/proxy.h"

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

#define V1_SIG "PROXY "

/* v2 family byte: address family in the high nibble, transport in the low. */
#define V2_AF_UNSPEC 0
#define V2_AF_INET   1
#define V2_AF_INET6  2
#define V2_AF_UNIX   3
#define V2_STREAM    1
#define V2_DGRAM     2
#define V2_LOCAL     0
#define V2_PROXY     1

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* ---- v1 ---- */

/* Whether the <n> bytes at <s> may start one of v1's protocol words. */
static bool v1_word_prefix(const uint8_t *s, size_t n)
{
	static const char *const words[] = {"TCP4 ", "TCP6 ", "UNKNOWN"};

	for (unsigned i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!memcmp(s, words[i], min_sz(n, strlen(words[i]))))
			return true;
	return false;
}

/* A port: 1 to 5 digits, at most 65535. */
static bool v1_port(const uint8_t *s, size_t n, uint16_t *port)
{
	unsigned v = 0;

	if (n < 1 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

static bool v1_ip(int af, const uint8_t *s, size_t n, uint8_t *out)
{
	char tmp[64];

	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	return inet_pton(af, tmp, out) == 1;
}

/* The line [s, e) after "PROXY ", without its CR LF. */
static int v1_line(const uint8_t *s, const uint8_t *e, struct proxy_addr *o)
{
	const uint8_t *f[4], *fe[4], *p;
	unsigned nf = 0;
	int af;

	if ((size_t)(e - s) >= 7 && !memcmp(s, "UNKNOWN", 7)) {
		if (s + 7 != e && s[7] != ' ')
			return PROXY_EBAD;
		o->family = 0; /* whatever follows is ignored, as the spec says */
		return 0;
	}
	if ((size_t)(e - s) < 5 || memcmp(s, "TCP", 3) || (s[3] != '4' && s[3] != '6') ||
	    s[4] != ' ')
		return PROXY_EBAD;
	af = s[3] == '4' ? AF_INET : AF_INET6;
	/* Four fields, each separated by exactly one space. */
	for (p = s + 5; nf < 4; nf++) {
		f[nf] = p;
		while (p < e && *p != ' ')
			p++;
		fe[nf] = p;
		if (fe[nf] == f[nf])
			return PROXY_EBAD;
		if (nf < 3) {
			if (p == e)
				return PROXY_EBAD;
			p++;
		}
	}
	if (p != e)
		return PROXY_EBAD;
	if (!v1_ip(af, f[0], (size_t)(fe[0] - f[0]), o->src) ||
	    !v1_ip(af, f[1], (size_t)(fe[1] - f[1]), o->dst) ||
	    !v1_port(f[2], (size_t)(fe[2] - f[2]), &o->sport) ||
	    !v1_port(f[3], (size_t)(fe[3] - f[3]), &o->dport))
		return PROXY_EBAD;
	o->family = (uint8_t)af;
	return 0;
}

static int v1_parse(const uint8_t *b, size_t len, struct proxy_addr *o)
{
	size_t sig = strlen(V1_SIG);

	if (memcmp(b, V1_SIG, min_sz(len, sig)))
		return PROXY_EBAD;
	if (len > sig && !v1_word_prefix(b + sig, len - sig))
		return PROXY_EBAD;
	for (size_t i = 0; i < len; i++) {
		if (b[i] == '\r') {
			int ret;

			if (i + 1 == len)
				return PROXY_MORE;
			if (b[i + 1] != '\n' || i < sig)
				return PROXY_EBAD;
			ret = v1_line(b + sig, b + i, o);
			if (ret < 0)
				return ret;
			o->version = 1;
			return (int)(i + 2);
		}
		if (b[i] < 0x20 || b[i] > 0x7e)
			return PROXY_EBAD;
		if (i >= PROXY_V1_MAX - 2)
			return PROXY_EBIG; /* the CR LF can no longer end the line in time */
	}
	return PROXY_MORE;
}

/* ---- v2 ---- */

/* The TLVs of [p, e) must tile it exactly: type, 16-bit length, value. */
static bool v2_tlvs(const uint8_t *p, const uint8_t *e)
{
	while (p < e) {
		size_t l;

		if (e - p < 3)
			return false;
		l = (size_t)p[1] << 8 | p[2];
		if ((size_t)(e - p - 3) < l)
			return false;
		p += 3 + l;
	}
	return true;
}

static int v2_parse(const uint8_t *b, size_t len, struct proxy_addr *o)
{
	unsigned cmd, af, tp;
	size_t hl, alen;

	if (memcmp(b, v2_sig, min_sz(len, sizeof(v2_sig))))
		return PROXY_EBAD;
	if (len > 12 && ((b[12] >> 4) != 2 || (b[12] & 0xf) > V2_PROXY))
		return PROXY_EBAD;
	if (len > 13 && ((b[13] >> 4) > V2_AF_UNIX || (b[13] & 0xf) > V2_DGRAM))
		return PROXY_EBAD;
	if (len < PROXY_V2_FIXED)
		return PROXY_MORE;
	cmd = b[12] & 0xf;
	af = b[13] >> 4;
	tp = b[13] & 0xf;
	hl = (size_t)b[14] << 8 | b[15];
	if (hl > PROXY_V2_MAX_LEN)
		return PROXY_EBIG;
	alen = af == V2_AF_INET ? 12 : af == V2_AF_INET6 ? 36 : af == V2_AF_UNIX ? 216 : 0;
	if (cmd == V2_PROXY && hl < alen)
		return PROXY_EBAD;
	/* A stream listener carries no datagrams. */
	if (cmd == V2_PROXY && tp == V2_DGRAM)
		return PROXY_EBAD;
	if (len < PROXY_V2_FIXED + hl)
		return PROXY_MORE;
	memset(o, 0, sizeof(*o));
	o->version = 2;
	/* LOCAL (the sender's own health checks), an unspecified family or
	 * transport, AF_UNIX: the connection's own addresses apply, and the
	 * block is skipped unread, as the spec asks. */
	if (cmd == V2_LOCAL || tp != V2_STREAM || (af != V2_AF_INET && af != V2_AF_INET6))
		return (int)(PROXY_V2_FIXED + hl);
	if (!v2_tlvs(b + PROXY_V2_FIXED + alen, b + PROXY_V2_FIXED + hl))
		return PROXY_EBAD;
	if (af == V2_AF_INET) {
		o->family = AF_INET;
		memcpy(o->src, b + 16, 4);
		memcpy(o->dst, b + 20, 4);
		o->sport = (uint16_t)(b[24] << 8 | b[25]);
		o->dport = (uint16_t)(b[26] << 8 | b[27]);
	} else {
		o->family = AF_INET6;
		memcpy(o->src, b + 16, 16);
		memcpy(o->dst, b + 32, 16);
		o->sport = (uint16_t)(b[48] << 8 | b[49]);
		o->dport = (uint16_t)(b[50] << 8 | b[51]);
	}
	return (int)(PROXY_V2_FIXED + hl);
}

int proxy_parse(const uint8_t *buf, size_t len, struct proxy_addr *out)
{
	int ret;

	if (len == 0)
		return PROXY_MORE;
	if (buf[0] == 'P') {
		memset(out, 0, sizeof(*out));
		ret = v1_parse(buf, len, out);
	} else if (buf[0] == 0x0D) {
		ret = v2_parse(buf, len, out);
	} else {
		return PROXY_EBAD;
	}
	return ret;
}

/* ---- building ---- */

size_t proxy_build(int version, const struct proxy_addr *a, uint8_t *out)
{
	size_t n;

	if (version == 1) {
		char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
		int len;

		if (a->family != AF_INET && a->family != AF_INET6) {
			memcpy(out, "PROXY UNKNOWN\r\n", 15);
			return 15;
		}
		inet_ntop(a->family, a->src, s, sizeof(s));
		inet_ntop(a->family, a->dst, d, sizeof(d));
		len = snprintf((char *)out, PROXY_BUILD_MAX, "PROXY %s %s %s %u %u\r\n",
		               a->family == AF_INET ? "TCP4" : "TCP6", s, d, a->sport, a->dport);
		return len > 0 && len < PROXY_BUILD_MAX ? (size_t)len : 0;
	}
	memcpy(out, v2_sig, sizeof(v2_sig));
	n = sizeof(v2_sig);
	if (a->family != AF_INET && a->family != AF_INET6) {
		out[n++] = 0x20; /* version 2, LOCAL */
		out[n++] = 0x00;
		out[n++] = 0;
		out[n++] = 0;
		return n;
	}
	size_t al = a->family == AF_INET ? 4 : 16;

	out[n++] = 0x21; /* version 2, PROXY */
	out[n++] = a->family == AF_INET ? 0x11 : 0x21;
	out[n++] = 0;
	out[n++] = (uint8_t)(2 * al + 4);
	memcpy(out + n, a->src, al);
	n += al;
	memcpy(out + n, a->dst, al);
	n += al;
	out[n++] = (uint8_t)(a->sport >> 8);
	out[n++] = (uint8_t)a->sport;
	out[n++] = (uint8_t)(a->dport >> 8);
	out[n++] = (uint8_t)a->dport;
	return n;
}
