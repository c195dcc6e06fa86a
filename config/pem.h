/* The cheap look at a PEM file that the loader takes for every file a TLS
 * key names: it can be read, it is PEM, it holds the kind of block the key
 * wants. Parsing the blocks, and whether a key matches its certificate, is
 * the TLS code's (wolfSSL), when it builds a snapshot's contexts. Internal
 * to config/.
 */
#ifndef RINGLB_CONFIG_PEM_H
#define RINGLB_CONFIG_PEM_H

#include <stddef.h>

#define PEM_MAX_FILE (16u << 20) /* a PEM file larger than this is a mistake */

enum pem_want {
	PEM_CERT, /* a certificate or a chain, or CAs: -----BEGIN CERTIFICATE----- */
	PEM_KEY,  /* an unencrypted private key: -----BEGIN [RSA |EC ]PRIVATE KEY----- */
};

/* Checks the file <file> for a block of kind <want>. Returns 0, or -errno
 * (the file cannot be read) or -EINVAL (it can, but is not what <want>
 * asks) after writing to <what> what is wrong ("cannot read \"x.pem\": No
 * such file or directory") and pointing <expect> at what was expected ("a
 * readable PEM file"), for an error line's two halves. */
int pem_check(const char *file, enum pem_want want, char *what, size_t len, const char **expect);

#endif
