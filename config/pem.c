/* A PEM file's cheap check: see pem.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/pem.h"

#define PEM_BEGIN "-----BEGIN "

/* Whether the text <s, n> has a line "-----BEGIN <label>-----" whose label
 * is <want> (<exact>) or ends with it; its label goes to *label (not
 * NUL-terminated, *llen bytes). */
static bool pem_find(const char *s, size_t n, const char *want, bool exact, const char **label,
                     size_t *llen)
{
	size_t wlen = strlen(want);

	for (const char *p = s; (p = memmem(p, n - (p - s), PEM_BEGIN, 11)); p += 11) {
		const char *l = p + 11, *eol = memchr(l, '\n', n - (l - s));
		const char *dash = memmem(l, (eol ? eol : s + n) - l, "-----", 5);
		size_t ln = dash ? (size_t)(dash - l) : 0;

		if ((p != s && p[-1] != '\n') || !dash || ln < wlen || (exact && ln != wlen))
			continue;
		if (!memcmp(dash - wlen, want, wlen)) {
			*label = l;
			*llen = ln;
			return true;
		}
	}
	return false;
}

/* What is wrong with the text of a file for <want>, or NULL. */
static const char *pem_judge(const char *s, size_t n, enum pem_want want, const char **expect)
{
	const char *label;
	size_t llen;

	if (!s || !memmem(s, n, PEM_BEGIN, 11)) {
		*expect = "a PEM file";
		return "is not PEM: no -----BEGIN line";
	}
	if (want == PEM_CERT) {
		*expect = "a PEM certificate, -----BEGIN CERTIFICATE-----";
		if (!pem_find(s, n, "CERTIFICATE", true, &label, &llen))
			return "holds no certificate";
		return NULL;
	}
	*expect = "an unencrypted PEM private key, -----BEGIN PRIVATE KEY-----";
	if (!pem_find(s, n, "PRIVATE KEY", false, &label, &llen))
		return "holds no private key";
	if ((llen == 21 && !memcmp(label, "ENCRYPTED", 9)) ||
	    memmem(label, n - (label - s), "Proc-Type: 4,ENCRYPTED", 22))
		return "holds an encrypted private key";
	return NULL;
}

int pem_check(const char *file, enum pem_want want, char *what, size_t len, const char **expect)
{
	struct stat st;
	const char *why;
	char *s = NULL;
	int fd = open(file, O_RDONLY | O_CLOEXEC), ret = 0;

	*expect = "a readable PEM file";
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		snprintf(what, len, "cannot read \"%s\": %s", file, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > PEM_MAX_FILE) {
		ret = -EINVAL;
		snprintf(what, len, "\"%s\" is %s", file,
		         S_ISREG(st.st_mode) ? "larger than 16MB" : "not a regular file");
		goto out;
	}
	if (st.st_size) {
		s = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (s == MAP_FAILED) {
			ret = -errno;
			snprintf(what, len, "cannot read \"%s\": %s", file, strerror(errno));
			goto out;
		}
	}
	why = pem_judge(s, st.st_size, want, expect);
	if (why) {
		ret = -EINVAL;
		snprintf(what, len, "\"%s\" %s", file, why);
	}
	if (s)
		munmap(s, st.st_size);
out:
	if (fd >= 0)
		close(fd);
	return ret;
}
