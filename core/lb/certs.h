/* A snapshot's TLS contexts: for each listener with tls:, its default
 * context (the default certificate) and its SNI store (certificates[]);
 * for each pool with tls:, the client context its upstreams use. Built from
 * the config with the snapshot, read-only afterwards, freed with it;
 * connections hold references to the contexts they use, so a reload that
 * replaces a certificate leaves connections already up on theirs.
 */
#ifndef RINGLB_CORE_LB_CERTS_H
#define RINGLB_CORE_LB_CERTS_H

#include <stddef.h>
#include <stdint.h>

#include "config/config-t.h"
#include "core/mem/acct.h"

struct snapshot_certs;

/* Builds the contexts of every TLS listener and pool of <cfg> into its
 * runtime (snapshot_build() first). SNI stores charge what they load to
 * <acct>'s cache component (may be NULL). Returns 0, or -EINVAL with one
 * line in <err> naming the file, the key and what is wrong. */
int certs_build(struct config *cfg, struct acct *acct, char *err, size_t errlen);
/* The session ticket key rotation interval of <cfg> (tls_ticket_init()):
 * the smallest ticket_key_rotation of its TLS listeners with tickets on,
 * 0 if none has them. */
uint64_t certs_ticket_rotation(const struct config *cfg);
/* Frees what certs_build() made (the snapshot's release). */
void certs_free(struct snapshot_certs *sc);

#endif
