/* The config model: one immutable snapshot, a C struct tree. Types only.
 *
 * A snapshot is built by config_load()/config_builtin(), adjusted by the
 * environment and CLI, validated, then published with RCU (config/publish.c).
 * Once published nothing in it changes, except the reference count. Runtime
 * state (balancing, per-backend counters) belongs to the core, which hangs
 * it off config.runtime: config never reads that pointer, and includes no
 * core type.
 */
#ifndef RINGLB_CONFIG_CONFIG_T_H
#define RINGLB_CONFIG_CONFIG_T_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>

enum listener_mode {
	LMODE_TCP,
	LMODE_HTTP,
	LMODE_STATIC,
	LMODE_ADMIN, /* the admin endpoint: config.admin, never in listeners[] (no name in the file) */
};

enum splice_mode {
	SPLICE_AUTO,   /* recv/send for the first 64 KiB of a direction, then splice */
	SPLICE_ALWAYS, /* splice from the first byte */
	SPLICE_NEVER,  /* provided buffers only */
};

enum steering {
	STEER_HASH, /* the kernel's SO_REUSEPORT hash */
	STEER_CPU,  /* classic BPF: the worker on the receiving CPU */
};

/* A pool's balancing algorithm, as configured (the core maps it to its own). */
enum cfg_algo {
	CFG_ALGO_ROUND_ROBIN,
	CFG_ALGO_WEIGHTED_ROUND_ROBIN,
	CFG_ALGO_LEAST_CONN,
	CFG_ALGO_P2C,
	CFG_ALGO_MAGLEV,
	CFG_NALGO,
};

enum log_level {
	LOG_LVL_ERR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* Where a value came from, for --print-config. */
enum cfg_src {
	CFG_SRC_DEFAULT,
	CFG_SRC_FILE,
	CFG_SRC_ENV,
	CFG_SRC_CLI,
};

/* Where one top-level key's value came from (config.keys[], indexed like
 * the schema's top table), for --print-config and cross-key errors. */
struct cfg_keysrc {
	uint8_t src;       /* enum cfg_src */
	uint8_t env_short; /* CFG_SRC_ENV: set by the short name, not the full one */
	uint32_t line;     /* CFG_SRC_FILE: 1-based position of the value */
	uint32_t col;
};

#define CFG_MAX_KEYS 64 /* room for the top table's rows */

/* Room for the rows of each list element's table (config/schema.c checks
 * them), for the line each key was written on (key_line[], 0 = not in the
 * file), which --print-config shows. */
#define CFG_ROUTE_KEYS    4
#define CFG_LISTENER_KEYS 56
#define CFG_CERT_KEYS     2
#define CFG_BACKEND_KEYS  4
#define CFG_POOL_KEYS     40

/* A resolved socket address. */
struct cfg_addr {
	struct sockaddr_storage ss;
	socklen_t len;
	char text[64]; /* as written, e.g. "127.0.0.1:8080" or "[::1]:80" */
};

/* All durations are in milliseconds, sizes in bytes. */
struct cfg_timeouts {
	uint64_t connect;
	uint64_t header;
	uint64_t client;
	uint64_t server;
	uint64_t idle;
	uint64_t drain;
	uint64_t handshake; /* tls: from accept to the end of the handshake */
};

struct cfg_route {
	char *host;        /* exact or "*.suffix"; NULL matches any */
	char *path;        /* prefix; NULL matches any */
	char *pool;        /* name as written */
	int pool_idx;      /* resolved index into config.pools */
	int line;          /* where it was written, for errors */
	uint64_t keys_set; /* bit i: row i of the route table was in the file */
	uint32_t key_line[CFG_ROUTE_KEYS];
};

/* A list of short strings as written, in order (tls.alpn). */
struct cfg_strlist {
	char **v;
	unsigned n;
};

enum cfg_tls_version {
	CFG_TLS_1_2,
	CFG_TLS_1_3,
};

/* listeners[].tls.verify_client */
enum cfg_verify_client {
	CFG_VERIFY_CLIENT_NONE,     /* no certificate requested */
	CFG_VERIFY_CLIENT_OPTIONAL, /* requested; one sent must verify */
	CFG_VERIFY_CLIENT_REQUIRED, /* requested and required */
};

/* pools[].tls.verify */
enum cfg_verify_peer {
	CFG_VERIFY_PEER, /* the backend's certificate must verify against tls.ca */
	CFG_VERIFY_NONE, /* anything is accepted */
};

/* The CA file a pool's tls.ca defaults to when it verifies its peers:
 * Debian's system store (package ca-certificates). */
#define CFG_SYSTEM_CA "/etc/ssl/certs/ca-certificates.crt"

/* listeners[].tls.certificates[]: one more certificate, chosen by SNI. */
struct cfg_tls_cert {
	char *cert; /* PEM file, chain allowed */
	char *key;  /* PEM file, unencrypted */
	int line;
	uint64_t keys_set; /* bit i: row i of the certificate table was in the file */
	uint32_t key_line[CFG_CERT_KEYS];
};

/* A listener's TLS (tcp and http listeners). File names are as written,
 * relative to the working directory; the loader has checked that each is a
 * readable PEM file of the right kind, nothing more: parsing them, and
 * whether a key matches its certificate, is the TLS code's, when it builds
 * a snapshot's contexts. */
struct cfg_tls {
	bool enabled; /* derived: some tls key was in the file; then cert and key are set */
	char *cert;   /* the default certificate (PEM, chain allowed) */
	char *key;    /* its private key */
	struct cfg_tls_cert *certificates; /* more, by the names in their certificates */
	unsigned ncertificates;
	enum cfg_tls_version min_version;
	char *ciphers;           /* TLS 1.2 cipher list; NULL = the TLS code's safe default */
	char *ciphersuites;      /* TLS 1.3 suites; NULL = the TLS code's safe default */
	struct cfg_strlist alpn; /* protocols offered, in order of preference; n = 0: no ALPN */
	char *client_ca;         /* PEM CAs client certificates must chain to; NULL = none */
	enum cfg_verify_client verify_client;
	bool session_tickets;         /* resumption by ticket (RFC 5077, TLS 1.3 PSK) */
	bool session_cache;           /* resumption by a server-side session cache */
	uint64_t ticket_key_rotation; /* ms per ticket key; the previous one is still accepted */
	uint64_t session_lifetime;    /* ms a session resumes for after its full handshake */
	uint32_t sni_cache_size;      /* certificate contexts kept loaded, at most */
};

/* A pool's upstream TLS: backends are connected to over TLS. */
struct cfg_pool_tls {
	bool enabled; /* derived: some pools[].tls key was in the file */
	char *ca;  /* PEM CAs backends must chain to; CFG_SYSTEM_CA when verify is peer and unset */
	char *sni; /* server name sent and verified; NULL = none sent, the address is verified */
	enum cfg_verify_peer verify;
	char *cert; /* client certificate presented to backends; NULL = none */
	char *key;
};

/* http: the statuses whose page error_pages may replace, in the order of
 * cfg_listener.error_pages[]. */
#define CFG_ERROR_STATUSES 400, 408, 413, 414, 431, 501, 502, 503, 504, 505
#define CFG_NERROR_PAGES   10
#define CFG_ERROR_PAGE_MAX (1u << 20) /* bytes of one page file */

/* http: an error page from a file, mapped once at load. */
struct cfg_error_page {
	char *file; /* as written; NULL = the built-in page */
	char *data; /* the file's read-only mapping (munmap), NULL if empty */
	size_t len;
};

/* listeners[].access_log: off while <path> is NULL. */
struct cfg_access_log {
	char *path;   /* a file, "stderr", "syslog" or "syslog:SOCKET" */
	char *format; /* "text", "json" or a template (config/logfmt.h) */
	int facility; /* syslog: index into CFG_LOG_FACILITIES */
};

/* syslog facilities an access log may use, in the order of the enum's
 * names, with their codes (RFC 5424 6.2.1). */
#define CFG_LOG_FACILITIES 16, 17, 18, 19, 20, 21, 22, 23, 1, 3
/* listeners[].proxy_protocol */
enum cfg_pp_accept {
	CFG_PP_NONE,   /* no PROXY header is read */
	CFG_PP_ACCEPT, /* every connection starts with a v1 or v2 header (required) */
};

/* pools[].proxy_protocol */
enum cfg_pp_send {
	CFG_PP_SEND_NONE,
	CFG_PP_SEND_V1,
	CFG_PP_SEND_V2,
};

/* One network of listeners[].proxy_protocol_trusted, parsed at load. */
struct cfg_cidr {
	uint8_t family; /* AF_INET or AF_INET6 */
	uint8_t bits;   /* prefix length */
	uint8_t addr[16];
};

#define CFG_PP_TRUSTED_MAX 32 /* networks in one proxy_protocol_trusted */

struct cfg_listener {
	char *name;
	struct cfg_addr bind;
	enum listener_mode mode;
	char *pool;   /* default pool, name as written (tcp, http) */
	int pool_idx; /* resolved, -1 if none */
	struct cfg_route *routes;
	unsigned nroutes;
	enum splice_mode splice;
	enum steering steering;
	uint32_t max_connections; /* whole process, split over the workers */
	uint32_t backlog;
	uint64_t max_body_size;      /* http: 0 = unlimited */
	uint32_t keepalive_requests; /* http: requests per client connection; 0 = no limit */
	uint64_t max_field_size;     /* http: one field line, and the request line (431, 414) */
	uint64_t max_head_size;      /* http: a whole head (431; 502 on a response head) */
	struct cfg_timeouts timeouts;
	char *body; /* static: fixed body ... */
	size_t body_len;
	char *file;       /* ... or a file, mmap'd once at load */
	bool body_mapped; /* body is that file's read-only mapping (munmap, not free) */
	struct cfg_error_page error_pages[CFG_NERROR_PAGES]; /* http */
	char *via; /* http: "Via: 1.1 <via>" upstream; NULL = none */
	struct cfg_tls tls;
	struct cfg_access_log access_log;
	enum cfg_pp_accept proxy_protocol;
	struct cfg_strlist proxy_protocol_trusted;      /* as written */
	struct cfg_cidr pp_trusted[CFG_PP_TRUSTED_MAX]; /* derived: the networks parsed */
	unsigned npp_trusted;
	int line;
	uint64_t keys_set; /* bit i: row i of the listener table was in the file */
	uint32_t key_line[CFG_LISTENER_KEYS];
};

struct cfg_backend {
	struct cfg_addr address;
	uint32_t weight;          /* 0 = never picked */
	uint32_t max_connections; /* 0 = unlimited */
	int line;
	uint64_t keys_set; /* bit i: row i of the backend table was in the file */
	uint32_t key_line[CFG_BACKEND_KEYS];
};

enum cfg_check_type {
	CFG_CHECK_TCP,  /* a connect */
	CFG_CHECK_HTTP, /* a request, its status (and body) checked */
};

enum cfg_check_method {
	CFG_METHOD_GET,
	CFG_METHOD_HEAD,
	CFG_METHOD_OPTIONS,
};

#define CFG_STATUS_RANGES 8 /* pools[].health.status: ranges at most */

/* pools[].health.passive: the workers' verdict from real traffic. */
struct cfg_passive {
	bool enabled;       /* derived: some health.passive key was in the file */
	uint32_t failures;  /* consecutive failures that take a backend down */
	uint64_t window;    /* ms: the failures must fall within this of the first */
	uint64_t down_time; /* ms a backend stays down for them */
};

/* pools[].health: active checks run by the control thread. */
struct cfg_health {
	bool enabled; /* derived: some health key but passive.* was in the file */
	enum cfg_check_type type;
	uint64_t interval; /* ms between checks of one backend */
	uint64_t timeout;  /* ms one check may take */
	uint32_t rise;     /* consecutive successes that bring a backend up */
	uint32_t fall;     /* consecutive failures that take it down */
	double jitter;     /* each wait is interval x (1 +- jitter/2), uniform */
	enum cfg_check_method method;
	char *path;      /* http: request target, "/" */
	char *host;      /* http: Host header; NULL = the backend's address */
	char *status;    /* http: accepted statuses, "200-399" or "200,204,300-399" */
	char *body;      /* http: a substring the body must hold; NULL = none */
	size_t body_len; /* of body */
	struct cfg_passive passive;
};

/* pools[].discovery.type: the DNS record type asked for. */
enum cfg_dns_type {
	CFG_DNS_A,    /* IPv4 addresses, each with discovery.port */
	CFG_DNS_AAAA, /* IPv6 addresses, each with discovery.port */
	CFG_DNS_SRV,  /* targets, ports and weights from the records */
};

/* A pool whose backends come from DNS (core/disc/): the records of <dns>,
 * asked for in the background. Its backends[] is then what the last good
 * answer held (empty until the first one), filled by the control thread
 * into each snapshot it publishes. */
struct cfg_discovery {
	bool enabled; /* derived: some discovery key was in the file; then dns is set */
	char *dns;    /* the name asked for, as written */
	enum cfg_dns_type type;
	uint32_t port;                /* A, AAAA: the backends' port (required); SRV: 0 */
	struct cfg_strlist resolvers; /* "ADDR:PORT" as written; n = 0: /etc/resolv.conf */
	uint64_t interval;            /* ms between queries at most (a shorter TTL wins) */
};

struct cfg_pool {
	char *name;
	enum cfg_algo algorithm;
	char *hash; /* maglev: "client_ip" or "header:NAME" */
	struct cfg_backend *backends;
	unsigned nbackends;
	struct cfg_health health;
	struct cfg_pool_tls tls;
	struct cfg_discovery discovery;
	enum cfg_pp_send proxy_protocol; /* header sent first on each new upstream connection */
	struct {
		uint32_t max_idle; /* http: idle upstreams per worker and backend */
		uint64_t timeout;  /* http: ms an idle upstream is kept */
	} keepalive;
	int line;
	uint64_t keys_set; /* bit i: row i of the pool table was in the file */
	uint32_t key_line[CFG_POOL_KEYS];
};

/* buffer_pools: one entry per size class, in class order. */
enum buf_class {
	BUF_SMALL,  /* 4 KiB */
	BUF_MEDIUM, /* 16 KiB */
	BUF_LARGE,  /* 64 KiB */
	BUF_GIANT,  /* 256 KiB */
	BUF_NCLASS,
};

struct cfg_buffer_class {
	uint32_t initial_count;
	uint32_t max_count;
	double growth_factor;
};

struct cfg_memory_limits {
	uint64_t max_total_memory;
	uint64_t buffer_pool_memory;
	uint64_t connection_memory;
	uint64_t ssl_context_memory;
	uint64_t cache_memory;
};

struct cfg_memory_tuning {
	double pool_growth_threshold;
	double pool_shrink_threshold;
	uint64_t pool_check_interval;
	uint64_t initial_buffer_size;
	uint64_t max_buffer_size;
	double buffer_growth_factor;
	double warning_threshold;
	double critical_threshold;
	double backpressure_start;
	uint64_t idle_connection_timeout;
	uint64_t memory_cleanup_interval;
	uint64_t leak_check_interval;
	/* ringlb's keys beside the seed's */
	double warning_defer_ratio;
	double critical_reject_ratio;
	uint64_t defer_delay;
	uint64_t socket_sndbuf; /* 0 = the kernel's default */
	uint64_t socket_rcvbuf;
	uint64_t leak_threshold; /* held longer than this is reported */
};

struct config {
	unsigned workers; /* 0 = one per CPU in the chosen set */
	char *cpus;       /* --cpus list as written, NULL = all online */
	char *nodes;      /* --nodes list as written, NULL = all */
	char *user;       /* run as this user after binding (user:), NULL = stay */
	char *group;      /* and this group (group:), NULL = the user's primary group */
	uid_t uid;        /* user's and group's ids, looked up by config_validate() */
	gid_t gid;
	struct cfg_addr admin_bind;
	bool admin_enabled;
	char *admin_token;    /* NULL = none (then admin_bind must be loopback) */
	char *upgrade_socket; /* upgrade.socket as written; NULL = the default, "off" = none */
	/* The admin endpoint as a listener the core runs (derived by the
	 * validation from admin_bind, with fixed limits; not in listeners[]). */
	struct cfg_listener admin;
	enum log_level log_level;
	uint64_t access_log_buffer; /* bytes of each worker's access log ring */
	uint32_t wake_coalesce_us;  /* worker.c's coalesced waits; 0 = off */

	struct cfg_listener *listeners;
	unsigned nlisteners;
	struct cfg_pool *pools;
	unsigned npools;

	struct cfg_buffer_class buffer_pools[BUF_NCLASS];
	struct cfg_memory_limits memory_limits;
	struct cfg_memory_tuning memory_tuning;

	uint64_t seed;       /* PRNG seed (--seed, RINGLB_SEED); 0 = random */
	char *path;          /* file it was loaded from, NULL = built-in */
	uint64_t generation; /* 1 for the first, +1 per successful reload */

	struct cfg_keysrc keys[CFG_MAX_KEYS]; /* source of each top-level key */
	_Atomic unsigned refs;                /* config_ref()/config_unref(); 1 when built */
	/* A snapshot derived from another by config_derive() (a discovery
	 * answer): it owns its pools[] and their backends[] only; every other
	 * pointer in it belongs to <root>, the loaded snapshot it was derived
	 * from, on which it holds a reference. NULL for a loaded snapshot. */
	struct config *root;
	/* Opaque to config: the core's per-snapshot state (core/lb/snapshot.c),
	 * NULL until attached. Config never reads it; <release> frees it. */
	void *runtime;
	/* Called once by the last config_unref() (or config_free()) before the
	 * snapshot is freed: whoever attached <runtime> sets it to free that
	 * state. NULL = nothing attached. */
	void (*release)(struct config *c);
};

#endif
