/* libFuzzer harness for the PROXY protocol parser (proxy_parse(),
 * core/parse/proxy.h), checked against its contract:
 *
 *   make fuzz FUZZ=proxy SECS=300
 *
 * - a header found is at most PROXY_MAX bytes and never counts a byte past
 *   the input; the same bytes alone, or with anything after them, parse to
 *   the same length and addresses (what follows a header is not its own);
 * - every proper prefix of a header is PROXY_MORE (bytes one at a time);
 * - PROXY_MORE only below the bound (PROXY_MAX), and every prefix of a
 *   PROXY_MORE input is PROXY_MORE too;
 * - an error is final: no prefix of the input was a complete header;
 * - a header with addresses, rebuilt by proxy_build() in v1 and v2, parses
 *   back to the same addresses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse/proxy.c" /* the code under test: its one include here */

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: %s\n", __FILE__, __LINE__, #c);                    \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static bool same(const struct proxy_addr *a, const struct proxy_addr *b)
{
	return !memcmp(a, b, sizeof(*a));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_addr a, b;
	uint8_t *copy, out[PROXY_BUILD_MAX];
	int r, rk;

	if (size > 4 * PROXY_MAX)
		return 0;
	copy = malloc(size ? size : 1); /* exactly sized: ASan sees a read past the end */
	memcpy(copy, data, size);
	r = proxy_parse(copy, size, &a);
	CHECK(r == PROXY_MORE || r == PROXY_EBAD || r == PROXY_EBIG || r > 0);
	if (r > 0) {
		CHECK((size_t)r <= size && r <= PROXY_MAX);
		CHECK(a.version == 1 || a.version == 2);
		CHECK(a.family == 0 || a.family == AF_INET || a.family == AF_INET6);
		CHECK(proxy_parse(copy, (size_t)r, &b) == r && same(&a, &b));
		for (size_t k = 0; k < (size_t)r; k++)
			CHECK(proxy_parse(copy, k, &b) == PROXY_MORE);
		if (a.family) {
			for (int v = 1; v <= 2; v++) {
				size_t n = proxy_build(v, &a, out);

				CHECK(n > 0 && n <= PROXY_BUILD_MAX);
				CHECK(proxy_parse(out, n, &b) == (int)n);
				b.version = a.version;
				CHECK(same(&a, &b));
			}
		}
	} else if (r == PROXY_MORE) {
		CHECK(size < PROXY_MAX);
		for (size_t k = 0; k < size; k++)
			CHECK(proxy_parse(copy, k, &b) == PROXY_MORE);
	} else {
		/* Final: a shorter input that was complete would have made this
		 * one complete as well. */
		for (size_t k = 0; k < size; k++) {
			rk = proxy_parse(copy, k, &b);
			CHECK(rk <= 0);
		}
	}
	free(copy);
	return 0;
}
