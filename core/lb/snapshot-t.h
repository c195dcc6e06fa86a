/* Config snapshots as the core uses them: types only. */
#ifndef RINGLB_CORE_SNAPSHOT_T_H
#define RINGLB_CORE_SNAPSHOT_T_H

#include "core/lb/lb-t.h"

/* What snapshot_build() hangs off config.runtime: one balancer per pool, in
 * the order of config.pools. Owned by the snapshot, freed by its release
 * hook; read by every worker (the balancers' shared state is atomics). */
struct tls_ctx;
struct tls_sni;
struct snapshot_certs;

/* A TLS listener's contexts (certs.c). */
struct snapshot_tls {
	struct tls_ctx *ctx; /* the default certificate's; NULL: no tls */
	struct tls_sni *sni; /* certificates[], or NULL */
	char *alpn;          /* what ctx offers, ','-separated */
};

struct alog_sink;

struct snapshot_rt {
	/* access logs (snapshot_alog_build()): per listener, NULL = none */
	struct alog_sink **alog;
	/* TLS (certs_build()): per listener and per pool, NULL until built */
	struct snapshot_certs *certs;
	struct snapshot_tls *tls_ls;
	struct tls_ctx **tls_pool;
	unsigned nls;
	unsigned npools;
	struct lb *lb[]; /* NULL only while snapshot_build() fills it */
};

#endif
