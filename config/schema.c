/* The key table, and the functions that read and write a key by its row. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/logfmt.h"
#include "config/schema.h"
#include "config/value.h"

_Static_assert(sizeof(enum listener_mode) == sizeof(int), "KT_ENUM stores an int");
_Static_assert(sizeof(enum cfg_algo) == sizeof(int), "KT_ENUM stores an int");
_Static_assert(sizeof(enum cfg_tls_version) == sizeof(int), "KT_ENUM stores an int");
_Static_assert(sizeof(enum cfg_verify_client) == sizeof(int), "KT_ENUM stores an int");
_Static_assert(sizeof(enum cfg_verify_peer) == sizeof(int), "KT_ENUM stores an int");
_Static_assert(sizeof(enum cfg_check_type) == sizeof(int), "KT_ENUM stores an int");
_Static_assert(sizeof(enum cfg_check_method) == sizeof(int), "KT_ENUM stores an int");
_Static_assert(sizeof(enum cfg_dns_type) == sizeof(int), "KT_ENUM stores an int");
_Static_assert(sizeof(enum cfg_pp_accept) == sizeof(int), "KT_ENUM stores an int");
_Static_assert(sizeof(enum cfg_pp_send) == sizeof(int), "KT_ENUM stores an int");

#define KB   (1ull << 10)
#define MB   (1ull << 20)
#define GB   (1ull << 30)
#define TB   (1ull << 40)
#define SEC  1000ull
#define MIN  (60ull * 1000)
#define DAYS (86400ull * 1000)

static const char *const mode_names[] = {"tcp", "http", "static", NULL};
static const char *const splice_names[] = {"auto", "always", "never", NULL};
static const char *const steering_names[] = {"hash", "cpu", NULL};
static const char *const level_names[] = {"error", "warning", "info", "debug", NULL};
static const char *const tls_version_names[] = {"1.2", "1.3", NULL};
static const char *const verify_client_names[] = {"none", "optional", "required", NULL};
static const char *const verify_peer_names[] = {"peer", "none", NULL};
static const char *const check_type_names[] = {"tcp", "http", NULL};
static const char *const method_names[] = {"GET", "HEAD", "OPTIONS", NULL};
static const char *const dns_type_names[] = {"A", "AAAA", "SRV", NULL};
static const char *const facility_names[] = {"local0", "local1", "local2", "local3",
                                             "local4", "local5", "local6", "local7",
                                             "user",   "daemon", NULL};
static const char *const pp_accept_names[] = {"none", "accept", NULL};
static const char *const pp_send_names[] = {"none", "v1", "v2", NULL};
const char *const schema_algo_names[] = {
    "round_robin", "weighted_round_robin", "least_conn", "p2c", "maglev", NULL,
};
_Static_assert(sizeof(schema_algo_names) / sizeof(schema_algo_names[0]) == CFG_NALGO + 1,
               "one name per enum cfg_algo");

#define ENUM(n, nm)   .type = KT_ENUM, .names = n, .noun = nm
#define COUNT(lo, hi) .type = KT_COUNT, .min = lo, .max = hi
#define SIZE(lo, hi)  .type = KT_SIZE, .min = lo, .max = hi
#define DUR(lo, hi)   .type = KT_DURATION, .min = lo, .max = hi
#define RATIO         .type = KT_RATIO, .dmin = 0, .dmax = 1
#define GROWTH        .type = KT_GROWTH, .dmin = 1, .dmax = 16

/* ---- listeners[].routes[] ---- */
#define R(f) offsetof(struct cfg_route, f)
static const struct key route_keys[] = {
    {"host", .type = KT_HOST, .off = R(host), .doc = "exact host, or *.suffix; unset matches any"},
    {"path", .type = KT_PREFIX, .off = R(path), .doc = "path prefix; unset matches any"},
    {"pool", .type = KT_NAME, .flags = K_REQ, .off = R(pool), .doc = "pool for matching requests"},
};
const struct schema_list schema_routes = {
    "route",
    route_keys,
    sizeof(route_keys) / sizeof(route_keys[0]),
    sizeof(struct cfg_route),
    offsetof(struct cfg_listener, routes),
    offsetof(struct cfg_listener, nroutes),
    R(line),
    R(keys_set),
    "a pool",
    R(key_line),
};
_Static_assert(sizeof(route_keys) / sizeof(route_keys[0]) <= CFG_ROUTE_KEYS,
               "key_line[] too small");

/* ---- listeners[].tls.certificates[] ---- */
#define TC(f) offsetof(struct cfg_tls_cert, f)
static const struct key cert_keys[] = {
    {"cert", .type = KT_PATH, .flags = K_REQ, .off = TC(cert),
     .doc = "certificate, PEM (a chain file is allowed)"},
    {"key", .type = KT_PATH, .flags = K_REQ, .off = TC(key),
     .doc = "its private key, PEM, unencrypted"},
};
const struct schema_list schema_certs = {
    "certificate",
    cert_keys,
    sizeof(cert_keys) / sizeof(cert_keys[0]),
    sizeof(struct cfg_tls_cert),
    offsetof(struct cfg_listener, tls.certificates),
    offsetof(struct cfg_listener, tls.ncertificates),
    TC(line),
    TC(keys_set),
    "a cert and a key",
    TC(key_line),
};
_Static_assert(sizeof(cert_keys) / sizeof(cert_keys[0]) <= CFG_CERT_KEYS, "key_line[] too small");

/* ---- listeners[] ---- */
#define L(f)  offsetof(struct cfg_listener, f)
#define LT(f) offsetof(struct cfg_listener, timeouts.f)
#define LS(f) offsetof(struct cfg_listener, tls.f)
static const struct key listener_keys[] = {
    {"name", .type = KT_NAME, .flags = K_REQ, .off = L(name),
     .doc = "unique name, used in logs and stats"},
    {"bind", .type = KT_ADDR, .flags = K_REQ, .off = L(bind),
     .doc = "address:port to listen on, [v6]:port for IPv6"},
    {"mode", ENUM(mode_names, "mode"), .flags = K_REQ, .off = L(mode),
     .doc = "tcp (L4 proxy), http (L7 proxy) or static (built-in responder)"},
    {"pool", .type = KT_NAME, .off = L(pool), .doc = "tcp, http: default pool (required)"},
    {"routes", .type = KT_LIST, .list = &schema_routes,
     .doc = "http: routes by host and path prefix, first match wins"},
    {"splice", ENUM(splice_names, "splice mode"), .off = L(splice), .def = "auto",
     .doc = "tcp: auto (after the first 64KiB), always or never"},
    {"steering", ENUM(steering_names, "steering"), .off = L(steering), .def = "hash",
     .doc = "hash (kernel SO_REUSEPORT hash) or cpu (the worker on the receiving CPU)"},
    {"max_connections", COUNT(1, 10000000), .off = L(max_connections), .def = "4096",
     .doc = "client connections, whole process, split over workers"},
    {"backlog", COUNT(1, 65535), .off = L(backlog), .def = "1024",
     .doc = "listen(2) backlog of each worker's socket"},
    {"max_body_size", SIZE(0, TB), .off = L(max_body_size), .def = "0",
     .doc = "http: larger request bodies get 413; 0 = unlimited"},
    {"keepalive_requests", COUNT(0, 4000000000u), .off = L(keepalive_requests), .def = "1000",
     .doc = "http: requests one client connection carries, the last answered with "
            "Connection: close; 0 = no limit"},
    {"max_field_size", SIZE(256, 1 * MB), .off = L(max_field_size), .def = "8KB",
     .doc = "http: one header field line (name, colon, value) and the request line; past it "
            "a request gets 431 (414 for the request line), a response head 502"},
    {"max_head_size", SIZE(1 * KB, 16 * MB), .off = L(max_head_size), .def = "64KB",
     .doc = "http: a whole request head (431 past it) or response head (502); a head must "
            "also fit memory_tuning.max_buffer_size"},
    {"timeouts.connect", DUR(1, 365 * DAYS), .off = LT(connect), .def = "5s",
     .doc = "to connect to a backend"},
    {"timeouts.header", DUR(1, 365 * DAYS), .off = LT(header), .def = "10s",
     .doc = "http: from a request's first byte to the end of its head (408); "
            "for a new connection, from its accept (closed)"},
    {"timeouts.client", DUR(1, 365 * DAYS), .off = LT(client), .def = "60s",
     .doc = "client inactivity while a request or transfer is in progress"},
    {"timeouts.server", DUR(1, 365 * DAYS), .off = LT(server), .def = "60s",
     .doc = "backend inactivity while a request or transfer is in progress"},
    {"timeouts.idle", DUR(1, 365 * DAYS), .off = LT(idle),
     .doc = "no request in progress; default memory_tuning.idle_connection_timeout"},
    {"timeouts.drain", DUR(0, 365 * DAYS), .off = LT(drain), .def = "30s",
     .doc = "grace at shutdown and for removed listeners"},
    {"timeouts.handshake", DUR(1, 365 * DAYS), .off = LT(handshake), .def = "10s",
     .doc = "tls: from accept to the end of the TLS handshake (closed)"},
    {"body", .type = KT_STRING, .off = L(body), .len_off = L(body_len),
     .doc = "static: the response body"},
    {"file", .type = KT_PATH, .off = L(file),
     .doc = "static: a file served as the body, mapped once at load"},
    {"error_pages.400", .type = KT_PATH, .off = L(error_pages[0].file),
     .doc = "http: a file sent as the 400 page, mapped once at load"},
    {"error_pages.408", .type = KT_PATH, .off = L(error_pages[1].file),
     .doc = "http: a file sent as the 408 page, mapped once at load"},
    {"error_pages.413", .type = KT_PATH, .off = L(error_pages[2].file),
     .doc = "http: a file sent as the 413 page, mapped once at load"},
    {"error_pages.414", .type = KT_PATH, .off = L(error_pages[3].file),
     .doc = "http: a file sent as the 414 page, mapped once at load"},
    {"error_pages.431", .type = KT_PATH, .off = L(error_pages[4].file),
     .doc = "http: a file sent as the 431 page, mapped once at load"},
    {"error_pages.501", .type = KT_PATH, .off = L(error_pages[5].file),
     .doc = "http: a file sent as the 501 page, mapped once at load"},
    {"error_pages.502", .type = KT_PATH, .off = L(error_pages[6].file),
     .doc = "http: a file sent as the 502 page, mapped once at load"},
    {"error_pages.503", .type = KT_PATH, .off = L(error_pages[7].file),
     .doc = "http: a file sent as the 503 page, mapped once at load"},
    {"error_pages.504", .type = KT_PATH, .off = L(error_pages[8].file),
     .doc = "http: a file sent as the 504 page, mapped once at load"},
    {"error_pages.505", .type = KT_PATH, .off = L(error_pages[9].file),
     .doc = "http: a file sent as the 505 page, mapped once at load"},
    {"via", .type = KT_NAME, .off = L(via),
     .doc = "http: adds \"Via: 1.1 NAME\" to requests sent upstream; unset = none"},
    {"tls.cert", .type = KT_PATH, .off = LS(cert),
     .doc = "tcp, http: the default certificate, PEM (a chain file is allowed); any tls key "
            "makes the listener TLS, and then tls.cert and tls.key are required"},
    {"tls.key", .type = KT_PATH, .off = LS(key),
     .doc = "the default certificate's private key, PEM, unencrypted"},
    {"tls.certificates", .type = KT_LIST, .list = &schema_certs,
     .doc = "more certificates, chosen by SNI from the names in each (subject alternative "
            "names, else the CN; *. wildcards included); an unknown name gets the default"},
    {"tls.min_version", ENUM(tls_version_names, "TLS version"), .off = LS(min_version),
     .def = "1.2", .doc = "oldest protocol version accepted: 1.2 or 1.3"},
    {"tls.ciphers", .type = KT_CIPHERS, .off = LS(ciphers),
     .doc = "TLS 1.2 cipher list (OpenSSL syntax), server preference; unset = the TLS "
            "code's safe default"},
    {"tls.ciphersuites", .type = KT_CIPHERS, .off = LS(ciphersuites),
     .doc = "TLS 1.3 cipher suites (TLS_AES_128_GCM_SHA256:...), server preference; unset = "
            "the TLS code's safe default"},
    {"tls.alpn", .type = KT_STRLIST, .off = LS(alpn),
     .doc = "ALPN protocols offered, in order of preference; unset = [http/1.1] on http "
            "listeners, none on tcp; [] = none; http listeners speak http/1.1 and http/1.0 only"},
    {"tls.client_ca", .type = KT_PATH, .off = LS(client_ca),
     .doc = "PEM CA file client certificates must chain to (needed by verify_client optional "
            "and required)"},
    {"tls.verify_client", ENUM(verify_client_names, "verification mode"), .off = LS(verify_client),
     .def = "none",
     .doc = "none (no client certificate asked), optional (asked; one sent must verify) or "
            "required"},
    {"tls.session_tickets", .type = KT_BOOL, .off = LS(session_tickets), .def = "true",
     .doc = "resumption by session ticket, with keys shared by all workers"},
    {"tls.session_cache", .type = KT_BOOL, .off = LS(session_cache), .def = "true",
     .doc = "resumption by a server-side session cache"},
    {"tls.ticket_key_rotation", DUR(1 * MIN, 3 * DAYS), .off = LS(ticket_key_rotation),
     .def = "12h",
     .doc = "a new ticket key this often; the previous one is still accepted for one more "
            "interval (a ticket under an older key gets a full handshake, whatever its "
            "session_lifetime)"},
    {"tls.session_lifetime", DUR(10 * SEC, 7 * DAYS), .off = LS(session_lifetime), .def = "5m",
     .doc = "how long a session resumes after its full handshake, by ticket or by cache: the "
            "ticket lifetime told to clients and the age past which the server refuses it "
            "(nginx's ssl_session_timeout, HAProxy's tune.ssl.lifetime; whole seconds)"},
    {"tls.sni_cache_size", COUNT(1, 10000000), .off = LS(sni_cache_size), .def = "1000",
     .doc = "certificate contexts of tls.certificates kept loaded (LRU; also bounded by "
            "memory_limits.cache_memory)"},
    {"access_log.path", .type = KT_LOGDEST, .off = L(access_log.path),
     .doc = "tcp, http: access log destination: a file (appended, reopened on SIGUSR2), "
            "stderr, syslog (/dev/log) or syslog:SOCKET; unset = no access log"},
    {"access_log.format", .type = KT_LOGFMT, .off = L(access_log.format), .def = "text",
     .doc = "text (the default line, see the README), json (one object per line) or a "
            "template of %{field} names and text (%% is a %)"},
    {"access_log.facility", ENUM(facility_names, "syslog facility"), .off = L(access_log.facility),
     .def = "local0", .doc = "syslog: local0..local7, user or daemon (severity info)"},
    {"proxy_protocol", ENUM(pp_accept_names, "PROXY protocol mode"), .off = L(proxy_protocol),
     .def = "none",
     .doc = "tcp, http: accept = every connection starts with a PROXY protocol header (v1 or "
            "v2, detected), read before TLS; its addresses are the client's from then on"},
    {"proxy_protocol_trusted", .type = KT_STRLIST, .noun = "networks like [10.0.0.0/8, ::1/128]",
     .off = L(proxy_protocol_trusted),
     .doc = "with proxy_protocol accept, required: the networks (CIDR, IPv4 or IPv6, e.g. "
            "10.0.0.0/8, ::1/128) allowed to send the header; others are closed"},
};
const struct schema_list schema_listeners = {
    "listener",
    listener_keys,
    sizeof(listener_keys) / sizeof(listener_keys[0]),
    sizeof(struct cfg_listener),
    offsetof(struct config, listeners),
    offsetof(struct config, nlisteners),
    L(line),
    L(keys_set),
    "name, bind and mode",
    L(key_line),
};
_Static_assert(sizeof(listener_keys) / sizeof(listener_keys[0]) <= CFG_LISTENER_KEYS,
               "key_line[] too small");

/* ---- pools[].backends[] ---- */
#define B(f) offsetof(struct cfg_backend, f)
static const struct key backend_keys[] = {
    {"address", .type = KT_ADDR, .flags = K_REQ, .off = B(address), .doc = "IP address and port"},
    {"weight", COUNT(0, 10000), .off = B(weight), .def = "1",
     .doc = "relative share; 0 = never picked"},
    {"max_connections", COUNT(0, 10000000), .off = B(max_connections), .def = "0",
     .doc = "connections at once; 0 = unlimited"},
};
const struct schema_list schema_backends = {
    "backend",
    backend_keys,
    sizeof(backend_keys) / sizeof(backend_keys[0]),
    sizeof(struct cfg_backend),
    offsetof(struct cfg_pool, backends),
    offsetof(struct cfg_pool, nbackends),
    B(line),
    B(keys_set),
    "an address",
    B(key_line),
};
_Static_assert(sizeof(backend_keys) / sizeof(backend_keys[0]) <= CFG_BACKEND_KEYS,
               "key_line[] too small");

/* ---- pools[] ---- */
#define P(f) offsetof(struct cfg_pool, f)
static const struct key pool_keys[] = {
    {"name", .type = KT_NAME, .flags = K_REQ, .off = P(name),
     .doc = "unique name, referenced by listeners and routes"},
    {"algorithm", ENUM(schema_algo_names, "algorithm"), .off = P(algorithm), .def = "round_robin",
     .doc = "round_robin, weighted_round_robin, least_conn, p2c or maglev"},
    {"hash", .type = KT_HASH, .off = P(hash), .def = "client_ip",
     .doc = "maglev key: client_ip or header:NAME"},
    {"backends", .type = KT_LIST, .list = &schema_backends,
     .doc = "the backends, at least one; or discovery instead"},
    {"keepalive.max_idle", COUNT(0, 65535), .off = P(keepalive.max_idle), .def = "32",
     .doc = "http: idle connections each worker keeps open to each backend; 0 = none"},
    {"keepalive.timeout", DUR(1, 365 * DAYS), .off = P(keepalive.timeout), .def = "60s",
     .doc = "http: an idle upstream connection is closed after this"},
    {"health.type", ENUM(check_type_names, "check type"), .off = P(health.type), .def = "tcp",
     .doc = "active checks: tcp (a connect) or http (a request); any health key but "
            "health.passive.* turns active checks on"},
    {"health.interval", DUR(10, 1 * DAYS), .off = P(health.interval), .def = "2s",
     .doc = "time between two checks of one backend"},
    {"health.timeout", DUR(1, 1 * DAYS), .off = P(health.timeout), .def = "1s",
     .doc = "a check not done in this time failed"},
    {"health.rise", COUNT(1, 1000), .off = P(health.rise), .def = "2",
     .doc = "consecutive good checks that bring a down backend up"},
    {"health.fall", COUNT(1, 1000), .off = P(health.fall), .def = "3",
     .doc = "consecutive failed checks that take an up backend down"},
    {"health.jitter", RATIO, .off = P(health.jitter), .def = "0.1",
     .doc = "each wait is interval x (1 +- jitter/2), drawn at random; the first check of "
            "each backend falls anywhere in the first interval"},
    {"health.method", ENUM(method_names, "method"), .off = P(health.method), .def = "GET",
     .doc = "http: request method"},
    {"health.path", .type = KT_TARGET, .off = P(health.path), .def = "/",
     .doc = "http: request target"},
    {"health.host", .type = KT_AUTHORITY, .off = P(health.host),
     .doc = "http: Host header; unset = the backend's address"},
    {"health.status", .type = KT_STATUSES, .off = P(health.status), .def = "200-399",
     .doc = "http: statuses that pass"},
    {"health.body", .type = KT_STRING, .off = P(health.body), .len_off = P(health.body_len),
     .doc =
         "http: a string the response body must contain (within the first 16KB of the answer); unset = any"},
    {"health.passive.failures", COUNT(1, 1000000), .off = P(health.passive.failures), .def = "5",
     .doc = "passive: consecutive connect failures, resets and (http) 5xx answers that take a "
            "backend down; any health.passive key turns passive checks on"},
    {"health.passive.window", DUR(1, 1 * DAYS), .off = P(health.passive.window), .def = "10s",
     .doc = "passive: the failures must come within this time of the first"},
    {"health.passive.down_time", DUR(1, 1 * DAYS), .off = P(health.passive.down_time), .def = "30s",
     .doc = "passive: how long the backend stays down; then it is up again, or with active "
            "checks once they pass rise times"},
    {"tls.ca", .type = KT_PATH, .off = P(tls.ca),
     .doc = "upstream TLS: PEM CA file backend certificates must chain to; unset with verify "
            "peer = the system store " CFG_SYSTEM_CA "; any tls key makes the pool TLS"},
    {"tls.sni", .type = KT_SNI, .off = P(tls.sni),
     .doc = "upstream TLS: server name sent (SNI) and verified in the backend's certificate; "
            "unset = none sent, the backend's IP address is verified"},
    {"tls.verify", ENUM(verify_peer_names, "verification mode"), .off = P(tls.verify),
     .def = "peer", .doc = "upstream TLS: peer (the backend's certificate must verify) or none"},
    {"tls.cert", .type = KT_PATH, .off = P(tls.cert),
     .doc = "upstream TLS: client certificate presented to backends, PEM; with tls.key"},
    {"tls.key", .type = KT_PATH, .off = P(tls.key),
     .doc = "upstream TLS: the client certificate's private key, PEM, unencrypted"},
    {"discovery.dns", .type = KT_DNS, .off = P(discovery.dns),
     .doc = "backends from DNS instead of backends: the name asked for (any discovery key "
            "makes the pool a discovery pool, and then dns is required)"},
    {"discovery.type", ENUM(dns_type_names, "record type"), .off = P(discovery.type), .def = "A",
     .doc = "A or AAAA (addresses, with discovery.port) or SRV (targets, ports and weights "
            "from the records; the lowest priority present only)"},
    {"discovery.port", COUNT(1, 65535), .off = P(discovery.port),
     .doc = "A, AAAA: the backends' port (required); SRV: not used"},
    {"discovery.resolvers", .type = KT_ADDRLIST, .off = P(discovery.resolvers),
     .doc = "DNS servers asked, in order, as ADDR:PORT; unset = the nameservers of "
            "/etc/resolv.conf"},
    {"discovery.interval", DUR(1 * SEC, 1 * DAYS), .off = P(discovery.interval), .def = "30s",
     .doc = "the name is asked again after min(interval, the answer's TTL), at least 1s "
            "apart; a failing one is retried after 1s, 2s, 4s... up to interval"},
    {"proxy_protocol", ENUM(pp_send_names, "PROXY protocol version"), .off = P(proxy_protocol),
     .def = "none",
     .doc = "tcp, http: v1 or v2 = a PROXY protocol header with the client's addresses is the "
            "first thing sent on each new upstream connection (before TLS); http: an idle "
            "connection is reused only for the same client IP"},
};
const struct schema_list schema_pools = {
    "pool",
    pool_keys,
    sizeof(pool_keys) / sizeof(pool_keys[0]),
    sizeof(struct cfg_pool),
    offsetof(struct config, pools),
    offsetof(struct config, npools),
    P(line),
    P(keys_set),
    "name and backends or discovery",
    P(key_line),
};
_Static_assert(sizeof(pool_keys) / sizeof(pool_keys[0]) <= CFG_POOL_KEYS, "key_line[] too small");

/* ---- the top level ---- */
#define C(f)      offsetof(struct config, f)
#define BP(cl, f) C(buffer_pools[cl].f)
#define BUFCLASS(name, cl, ini, max, g)                                                            \
	{"buffer_pools." name ".initial_count", COUNT(0, 10000000), .off = BP(cl, initial_count),  \
	 .def = ini, .doc = "buffers allocated at start, and the floor when shrinking"},           \
	    {"buffer_pools." name ".max_count", COUNT(1, 10000000), .off = BP(cl, max_count),      \
	     .def = max,                                                                           \
	     .doc = "the most buffers the class keeps and grows to; past it a buffer comes from "  \
	            "outside the pool and is freed on return (only memory_limits refuse one)"},    \
	{                                                                                          \
		"buffer_pools." name ".growth_factor", GROWTH,                                     \
		    .off = BP(cl, growth_factor), .def = g,                                        \
		    .doc = "grow by this factor, shrink by dividing by it"                         \
	}
#define ML(f) C(memory_limits.f)
#define MT(f) C(memory_tuning.f)
const struct key schema_top[] = {
    {"workers", .type = KT_WORKERS, .off = C(workers), .max = 4096, .def = "auto",
     .cli = "--workers", .doc = "worker threads: auto = one per CPU of the chosen set"},
    {"cpus", .type = KT_LIST_TEXT, .flags = K_NOFILE | K_NOENV, .off = C(cpus), .cli = "--cpus",
     .doc = "CPUs to run workers on (\"0-7,16-23\"); unset = all online"},
    {"nodes", .type = KT_LIST_TEXT, .flags = K_NOFILE | K_NOENV, .off = C(nodes), .cli = "--nodes",
     .doc = "NUMA nodes to run workers on (\"0,1\"); unset = all"},
    {"wake_coalesce_us", COUNT(0, 10000), .off = C(wake_coalesce_us), .def = "50",
     .doc = "a worker with nothing to do, once a completion has come, sleeps on until 32 have "
            "or this many microseconds have passed (io_uring min-wait, Linux 6.12+), so its "
            "peers' packets do not each wake it; 0 = wake at the first completion (also on "
            "older kernels)"},
    {"user", .type = KT_NAME, .off = C(user),
     .doc = "after binding every listener as root, run as this user (a name from the passwd "
            "database); unset = stay as started"},
    {"group", .type = KT_NAME, .off = C(group),
     .doc = "with user: run with this group (a name from the group database); unset = the "
            "user's primary group"},
    {"admin.enabled", .type = KT_BOOL, .off = C(admin_enabled), .def = "true",
     .doc = "run the admin endpoint (/metrics, /stats, /config, /health, /reload, /backends)"},
    {"admin.bind", .type = KT_ADDR, .off = C(admin_bind), .def = "127.0.0.1:9090",
     .doc = "admin endpoint address; one that is not loopback requires admin.token"},
    {"admin.token", .type = KT_STRING, .flags = K_SECRET, .off = C(admin_token),
     .doc = "bearer token every admin request but GET /health must carry (Authorization: "
            "Bearer TOKEN); unset = none"},
    {"upgrade.socket", .type = KT_PATH, .off = C(upgrade_socket),
     .doc = "Unix socket (mode 0600) the running process offers its listening sockets on to "
            "`ringlb --upgrade`; unset = $RUNTIME_DIRECTORY/upgrade.sock, else beside "
            "--pidfile (NAME.upgrade.sock), else none; off = none; read at start"},
    {"logging.level", ENUM(level_names, "log level"), .off = C(log_level), .def = "info",
     .alias = "LOG_LEVEL", .cli = "--log-level", .doc = "error, warning, info or debug"},
    {"logging.access_log_buffer", SIZE(64 * KB, 1 * GB), .off = C(access_log_buffer),
     .def = "256KB",
     .doc = "each worker's access log ring (fixed, at start); a record that finds it full is "
            "dropped and counted (log_dropped)"},
    {"listeners", .type = KT_LIST, .list = &schema_listeners, .doc = "the listeners, at least one"},
    {"pools", .type = KT_LIST, .list = &schema_pools, .doc = "backend pools"},
    BUFCLASS("small_buffers", BUF_SMALL, "1000", "10000", "1.5"),
    BUFCLASS("medium_buffers", BUF_MEDIUM, "500", "5000", "1.3"),
    BUFCLASS("large_buffers", BUF_LARGE, "100", "1000", "1.2"),
    BUFCLASS("giant_buffers", BUF_GIANT, "10", "100", "1.1"),
    {"memory_limits.max_total_memory", SIZE(1 * MB, 64 * TB), .off = ML(max_total_memory),
     .def = "512MB", .doc = "ceiling of everything ringlb holds"},
    {"memory_limits.buffer_pool_memory", SIZE(0, 64 * TB), .off = ML(buffer_pool_memory),
     .def = "256MB", .doc = "ceiling of the buffer pools"},
    {"memory_limits.connection_memory", SIZE(0, 64 * TB), .off = ML(connection_memory),
     .def = "128MB", .doc = "ceiling of connection state"},
    {"memory_limits.ssl_context_memory", SIZE(0, 64 * TB), .off = ML(ssl_context_memory),
     .def = "64MB", .doc = "ceiling of TLS state"},
    {"memory_limits.cache_memory", SIZE(0, 64 * TB), .off = ML(cache_memory), .def = "64MB",
     .doc = "ceiling of caches"},
    {"memory_tuning.pool_growth_threshold", RATIO, .off = MT(pool_growth_threshold), .def = "0.8",
     .doc = "grow a pool when more than this share is in use"},
    {"memory_tuning.pool_shrink_threshold", RATIO, .off = MT(pool_shrink_threshold), .def = "0.3",
     .doc = "shrink a pool when less than this share is in use"},
    {"memory_tuning.pool_check_interval", DUR(1, 365 * DAYS), .off = MT(pool_check_interval),
     .def = "30s", .doc = "how often pool sizes are checked"},
    {"memory_tuning.initial_buffer_size", SIZE(1 * KB, 1 * GB), .off = MT(initial_buffer_size),
     .def = "16KB", .doc = "a connection's first buffer"},
    {"memory_tuning.max_buffer_size", SIZE(1 * KB, 1 * GB), .off = MT(max_buffer_size),
     .def = "256KB", .doc = "most a connection buffers per direction (431 past it)"},
    {"memory_tuning.buffer_growth_factor", GROWTH, .off = MT(buffer_growth_factor), .def = "2.0",
     .doc = "a connection buffer grows by this factor"},
    {"memory_tuning.warning_threshold", RATIO, .off = MT(warning_threshold), .def = "0.8",
     .doc = "pressure Warning from this share of a limit"},
    {"memory_tuning.critical_threshold", RATIO, .off = MT(critical_threshold), .def = "0.95",
     .doc = "pressure Critical from this share of a limit"},
    {"memory_tuning.backpressure_start", RATIO, .off = MT(backpressure_start), .def = "0.85",
     .doc = "new connections may be deferred from this share"},
    {"memory_tuning.idle_connection_timeout", DUR(1, 365 * DAYS),
     .off = MT(idle_connection_timeout), .def = "300s",
     .doc = "default of every listener's timeouts.idle"},
    {"memory_tuning.memory_cleanup_interval", DUR(1, 365 * DAYS),
     .off = MT(memory_cleanup_interval), .def = "60s",
     .doc = "how often idle memory is given back"},
    {"memory_tuning.leak_check_interval", DUR(1, 365 * DAYS), .off = MT(leak_check_interval),
     .def = "600s", .doc = "how often the leak check runs (debug builds)"},
    {"memory_tuning.warning_defer_ratio", RATIO, .off = MT(warning_defer_ratio), .def = "0.1",
     .doc = "Warning, past backpressure_start: share of new connections deferred"},
    {"memory_tuning.critical_reject_ratio", RATIO, .off = MT(critical_reject_ratio), .def = "0.7",
     .doc = "Critical: share of new connections rejected (the rest deferred)"},
    {"memory_tuning.defer_delay", DUR(1, 60 * SEC), .off = MT(defer_delay), .def = "10ms",
     .doc = "a deferred listener pauses accepting this long"},
    {"memory_tuning.socket_sndbuf", SIZE(0, 1 * GB), .off = MT(socket_sndbuf), .def = "0",
     .doc = "SO_SNDBUF of every socket; 0 = the kernel's default"},
    {"memory_tuning.socket_rcvbuf", SIZE(0, 1 * GB), .off = MT(socket_rcvbuf), .def = "0",
     .doc = "SO_RCVBUF of every socket; 0 = the kernel's default"},
    {"memory_tuning.leak_threshold", DUR(1, 365 * DAYS), .off = MT(leak_threshold), .def = "300s",
     .doc = "pooled memory held longer than this is reported"},
    {"seed", .type = KT_U64, .flags = K_NOFILE, .off = C(seed), .max = UINT64_MAX, .def = "0",
     .cli = "--seed", .doc = "PRNG seed for reproducible tests; 0 = random"},
};
const unsigned schema_ntop = sizeof(schema_top) / sizeof(schema_top[0]);
_Static_assert(sizeof(schema_top) / sizeof(schema_top[0]) <= CFG_MAX_KEYS,
               "config.keys[] too small");
_Static_assert(sizeof(listener_keys) / sizeof(listener_keys[0]) <= 64, "keys_set is 64 bits");
_Static_assert(CFG_LISTENER_KEYS <= 64 && CFG_POOL_KEYS <= 64, "the loader's marks are 64");

const struct schema_list *const schema_lists[] = {
    &schema_listeners, &schema_routes, &schema_certs, &schema_pools, &schema_backends,
};
const unsigned schema_nlists = sizeof(schema_lists) / sizeof(schema_lists[0]);

const struct key *schema_find(const struct key *keys, unsigned n, const char *path)
{
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(keys[i].path, path) == 0)
			return &keys[i];
	}
	return NULL;
}

static bool schema_is_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && !strchr("-_.", *s))
			return false;
	}
	return true;
}

static bool schema_is_host(const char *s)
{
	if (strncmp(s, "*.", 2) == 0)
		s += 2;
	if (!*s || *s == '.')
		return false;
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && !strchr("-.", *s))
			return false;
	}
	return true;
}

/* A host name for SNI: no wildcard, no IPv4 literal (RFC 6066 3); an IPv6
 * one cannot pass schema_is_host(). */
static bool schema_is_sni(const char *s)
{
	struct in_addr a;

	return strncmp(s, "*.", 2) != 0 && schema_is_host(s) && inet_pton(AF_INET, s, &a) != 1;
}

/* Visible ASCII only: nothing that could end a request line or a header. */
static bool schema_is_visible(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s > '~')
			return false;
	return true;
}

/* A DNS name to resolve: dot-separated labels of 1 to 63 letters, digits,
 * '-' and '_' (SRV names: _http._tcp.web.service.consul), 253 characters at
 * most, one final '.' allowed. */
static bool schema_is_dns(const char *s)
{
	size_t len = strlen(s), label = 0;

	if (len && s[len - 1] == '.')
		len--;
	if (!len || len > 253)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (!label)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

/* A file path, "stderr", "syslog" or "syslog:/absolute/socket/path". */
static bool schema_is_logdest(const char *s)
{
	if (strncmp(s, "syslog:", 7) == 0)
		return s[7] == '/' && strlen(s + 7) < 108; /* sun_path */
	return *s;
}

/* An HTTP header name: a token. */
static bool schema_is_hash(const char *s)
{
	if (strcmp(s, "client_ip") == 0)
		return true;
	if (strncmp(s, "header:", 7) != 0 || !s[7])
		return false;
	return strspn(s + 7, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	                     "!#$%&'*+-.^_`|~") == strlen(s + 7);
}

static int schema_enum(const struct key *k, const char *text)
{
	for (int i = 0; k->names[i]; i++) {
		if (strcmp(k->names[i], text) == 0)
			return i;
	}
	return -1;
}

/* Validates a string-typed value. */
static bool schema_text_ok(const struct key *k, const char *text)
{
	switch (k->type) {
	case KT_NAME:
		return schema_is_name(text);
	case KT_PATH:
	case KT_LIST_TEXT:
		return *text;
	case KT_HOST:
		return schema_is_host(text);
	case KT_PREFIX:
		return text[0] == '/';
	case KT_HASH:
		return schema_is_hash(text);
	case KT_SNI:
		return schema_is_sni(text);
	case KT_TARGET:
		return text[0] == '/' && schema_is_visible(text);
	case KT_AUTHORITY:
		return *text && !strchr(text, '/') && schema_is_visible(text);
	case KT_STATUSES:
		return value_statuses(text, NULL, NULL) > 0;
	case KT_DNS:
		return schema_is_dns(text);
	case KT_LOGDEST:
		return schema_is_logdest(text);
	case KT_LOGFMT: {
		struct logfmt f;
		char why[128];

		return logfmt_compile(text, &f, why, sizeof(why)) == 0;
	}
	case KT_CIPHERS:
		return *text && strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                             "0123456789-_:+!@=.,") == strlen(text);
	default:
		return true;
	}
}

static int schema_set_text(const struct key *k, void *base, const char *text)
{
	char **p = (char **)((char *)base + k->off);
	char *s;

	if (!schema_text_ok(k, text))
		return -EINVAL;
	s = strdup(text);
	if (!s)
		return -ENOMEM;
	free(*p);
	*p = s;
	if (k->len_off)
		*(size_t *)((char *)base + k->len_off) = strlen(text);
	return 0;
}

static int schema_set_int(const struct key *k, void *base, const char *text)
{
	void *p = (char *)base + k->off;
	uint64_t v;
	int ret;

	if (k->type == KT_WORKERS && strcmp(text, "auto") == 0)
		text = "0";
	if (k->type == KT_SIZE)
		ret = value_size(text, &v);
	else if (k->type == KT_DURATION)
		ret = value_duration(text, &v);
	else
		ret = value_count(text, &v);
	if (ret)
		return ret;
	if (v < k->min || v > k->max)
		return -ERANGE;
	if (k->type == KT_COUNT)
		*(uint32_t *)p = v;
	else if (k->type == KT_WORKERS)
		*(unsigned *)p = v;
	else
		*(uint64_t *)p = v;
	return 0;
}

/* An ALPN protocol name: 1 to 255 visible ASCII characters but ','. */
static bool schema_is_proto(const char *s, size_t n)
{
	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] > '~' || s[i] == ',')
			return false;
	}
	return true;
}

static struct cfg_strlist *schema_strlist(const struct key *k, void *base)
{
	return (struct cfg_strlist *)((char *)base + k->off);
}

static void schema_strlist_free(struct cfg_strlist *l)
{
	for (unsigned i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* An address and port as value_addr() reads them. */
static bool schema_is_addr(const char *s, size_t n)
{
	struct cfg_addr a;
	char buf[sizeof(a.text)];

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return value_addr(buf, &a) == 0;
}

/* Appends the <n> bytes at <s> to <k>'s list <l>; <l> is unchanged on
 * error. */
static int schema_strlist_add(const struct key *k, struct cfg_strlist *l, const char *s, size_t n)
{
	char **v;

	if (k->type == KT_ADDRLIST ? !schema_is_addr(s, n) : !schema_is_proto(s, n))
		return -EINVAL;
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	l->v = v;
	v[l->n] = strndup(s, n);
	if (!v[l->n])
		return -ENOMEM;
	l->n++;
	return 0;
}

void schema_strlist_clear(const struct key *k, void *base)
{
	schema_strlist_free(schema_strlist(k, base));
}

int schema_strlist_push(const struct key *k, void *base, const char *text)
{
	return schema_strlist_add(k, schema_strlist(k, base), text, strlen(text));
}

/* "a,b" or "a, b" (the environment's and a YAML scalar's form); "" = empty. */
static int schema_set_strlist(const struct key *k, void *base, const char *text)
{
	struct cfg_strlist nl = {0};
	const char *p = text + strspn(text, " ");
	int ret = 0;

	while (*p && !ret) {
		size_t n = strcspn(p, ",");
		const char *s = p + strspn(p, " "), *e = p + n;

		while (e > s && e[-1] == ' ')
			e--;
		ret = schema_strlist_add(k, &nl, s, e > s ? e - s : 0);
		p += n;
		if (*p == ',' && !ret)
			ret = *++p ? 0 : -EINVAL; /* "a," */
	}
	if (ret) {
		schema_strlist_free(&nl);
		return ret;
	}
	schema_strlist_free(schema_strlist(k, base));
	*schema_strlist(k, base) = nl;
	return 0;
}

static int schema_set_double(const struct key *k, void *base, const char *text)
{
	double v;
	int ret = value_number(text, &v);

	if (ret)
		return ret;
	if (v > k->dmax || v < k->dmin || (k->type == KT_GROWTH && v == k->dmin))
		return -ERANGE;
	*(double *)((char *)base + k->off) = v;
	return 0;
}

int schema_set(const struct key *k, void *base, const char *text)
{
	int v;

	switch (k->type) {
	case KT_COUNT:
	case KT_WORKERS:
	case KT_U64:
	case KT_SIZE:
	case KT_DURATION:
		return schema_set_int(k, base, text);
	case KT_RATIO:
	case KT_GROWTH:
		return schema_set_double(k, base, text);
	case KT_ADDR:
		return value_addr(text, (struct cfg_addr *)((char *)base + k->off));
	case KT_ENUM:
		v = schema_enum(k, text);
		if (v < 0)
			return -EINVAL;
		*(int *)((char *)base + k->off) = v;
		return 0;
	case KT_BOOL:
		return value_bool(text, (bool *)((char *)base + k->off));
	case KT_STRLIST:
	case KT_ADDRLIST:
		return schema_set_strlist(k, base, text);
	case KT_LIST:
		return -EINVAL;
	default:
		return schema_set_text(k, base, text);
	}
}

/* "tcp, http or static" */
static void schema_join(const char *const *names, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; names[i] && n < len; i++) {
		const char *sep = i == 0 ? "" : names[i + 1] ? ", " : " or ";

		n += snprintf(buf + n, len - n, "%s%s", sep, names[i]);
	}
}

static void schema_range(const struct key *k, char *lo, char *hi, size_t len)
{
	if (k->type == KT_SIZE) {
		value_fmt_size(k->min, lo, len);
		value_fmt_size(k->max, hi, len);
	} else if (k->type == KT_DURATION) {
		value_fmt_duration(k->min, lo, len);
		value_fmt_duration(k->max, hi, len);
	} else if (k->type == KT_RATIO || k->type == KT_GROWTH) {
		value_fmt_number(k->dmin, lo, len);
		value_fmt_number(k->dmax, hi, len);
	} else {
		snprintf(lo, len, "%llu", (unsigned long long)k->min);
		snprintf(hi, len, "%llu", (unsigned long long)k->max);
	}
}

void schema_expect(const struct key *k, char *buf, size_t len)
{
	char lo[32], hi[32];

	schema_range(k, lo, hi, sizeof(lo));
	switch (k->type) {
	case KT_COUNT:
	case KT_U64:
		snprintf(buf, len, "a count in %s..%s", lo, hi);
		break;
	case KT_WORKERS:
		snprintf(buf, len, "auto or a count in 0..%s", hi);
		break;
	case KT_SIZE:
		snprintf(buf, len, "a size in %s..%s, like 16KB or 4GB", lo, hi);
		break;
	case KT_DURATION:
		snprintf(buf, len, "a duration in %s..%s, like 30s or 250ms", lo, hi);
		break;
	case KT_RATIO:
		snprintf(buf, len, "a ratio in %s..%s", lo, hi);
		break;
	case KT_GROWTH:
		snprintf(buf, len, "a growth factor above %s and at most %s", lo, hi);
		break;
	case KT_ADDR:
		snprintf(buf, len, "an IP address and port like 127.0.0.1:8080 or [::1]:8080");
		break;
	case KT_ENUM:
		schema_join(k->names, buf, len);
		break;
	case KT_NAME:
		snprintf(buf, len, "a name of letters, digits, '-', '_' and '.'");
		break;
	case KT_PATH:
		snprintf(buf, len, "a file path");
		break;
	case KT_HOST:
		snprintf(buf, len, "a host name or *.suffix");
		break;
	case KT_PREFIX:
		snprintf(buf, len, "a path prefix starting with /");
		break;
	case KT_HASH:
		snprintf(buf, len, "client_ip or header:NAME");
		break;
	case KT_LIST_TEXT:
		snprintf(buf, len, "a list like 0-7,16-23");
		break;
	case KT_BOOL:
		snprintf(buf, len, "true or false");
		break;
	case KT_STRLIST:
		if (k->noun)
			snprintf(buf, len, "a list of %s", k->noun);
		else
			snprintf(buf, len, "a list of protocol names like [http/1.1]");
		break;
	case KT_ADDRLIST:
		snprintf(buf, len,
		         "a list of IP addresses and ports like [10.0.0.53:53, \"[::1]:53\"]");
		break;
	case KT_CIPHERS:
		snprintf(buf, len, "a cipher list of names joined by ':'");
		break;
	case KT_SNI:
		snprintf(buf, len, "a host name like api.example.com, no wildcard or address");
		break;
	case KT_DNS:
		snprintf(buf, len, "a DNS name like web.service.consul or _http._tcp.web");
		break;
	case KT_LOGDEST:
		snprintf(buf, len, "a file path, stderr, syslog or syslog:/SOCKET/PATH");
		break;
	case KT_LOGFMT: {
		char names[400];

		logfmt_field_list(names, sizeof(names));
		snprintf(buf, len, "text, json or a template of %%{field} names: %s", names);
		break;
	}
	case KT_STRING:
		snprintf(buf, len, "a string");
		break;
	case KT_TARGET:
		snprintf(buf, len, "a request target like /health, visible ASCII");
		break;
	case KT_AUTHORITY:
		snprintf(buf, len, "a host or host:port like api.example.com, visible ASCII");
		break;
	case KT_STATUSES:
		snprintf(buf, len,
		         "HTTP statuses like 200-399 or 200,204,300-399, at most 8 ranges");
		break;
	case KT_LIST:
		snprintf(buf, len, "a sequence of %ss", k->list->what);
		break;
	}
}

static const char *schema_noun(const struct key *k)
{
	static const char *const nouns[] = {
	    [KT_COUNT] = "a count",
	    [KT_WORKERS] = "a count",
	    [KT_U64] = "a count",
	    [KT_SIZE] = "a size",
	    [KT_DURATION] = "a duration",
	    [KT_RATIO] = "a number",
	    [KT_GROWTH] = "a number",
	    [KT_ADDR] = "an address",
	    [KT_NAME] = "a name",
	    [KT_STRING] = "a string",
	    [KT_PATH] = "a file path",
	    [KT_HOST] = "a host",
	    [KT_PREFIX] = "a path prefix",
	    [KT_HASH] = "a hash key",
	    [KT_LIST_TEXT] = "a list",
	    [KT_LIST] = "a list",
	    [KT_BOOL] = "a boolean",
	    [KT_CIPHERS] = "a cipher list",
	    [KT_SNI] = "a server name",
	    [KT_STRLIST] = "a list of protocol names",
	    [KT_TARGET] = "a request target",
	    [KT_AUTHORITY] = "a host",
	    [KT_STATUSES] = "a status list",
	    [KT_DNS] = "a DNS name",
	    [KT_ADDRLIST] = "a list of addresses",
	    [KT_LOGDEST] = "a log destination",
	    [KT_LOGFMT] = "a log format",
	};
	return nouns[k->type];
}

/* "unknown field %{x} in "..." (expected ...)" */
static void schema_explain_logfmt(const char *all, const char *cut, const char *exp, char *buf,
                                  size_t len)
{
	struct logfmt f;
	char why[128];

	if (logfmt_compile(all, &f, why, sizeof(why)) == 0)
		snprintf(why, sizeof(why), "not a log format");
	snprintf(buf, len, "%s in \"%s\" (expected %s)", why, cut, exp);
}

void schema_explain(const struct key *k, const char *text, int err, char *buf, size_t len)
{
	char exp[600], cut[VALUE_CUT_BUF];
	const char *all = text;

	text = value_cut(text, cut);
	schema_expect(k, exp, sizeof(exp));
	if (err == -ERANGE)
		snprintf(buf, len, "%s is out of range (expected %s)", text, exp);
	else if (k->type == KT_ENUM)
		snprintf(buf, len, "\"%s\" is not %s %s (expected %s)", text,
		         strchr("aeiou", k->noun[0]) ? "an" : "a", k->noun, exp);
	else if (k->type == KT_LOGFMT)
		schema_explain_logfmt(all, text, exp, buf, len);
	else if (k->type == KT_DURATION && strspn(all, "0123456789") == strlen(all) && *all)
		snprintf(buf, len, "\"%s\" has no unit (expected a duration like 30s or 250ms)",
		         text);
	else
		snprintf(buf, len, "\"%s\" is not %s (expected %s)", text, schema_noun(k), exp);
}

/* A string as a double-quoted YAML scalar, cut after 60 characters. */
static void schema_quote(const char *s, size_t n, char *buf, size_t len)
{
	size_t o = 0;

	buf[o++] = '"';
	for (size_t i = 0; i < n && i < 60 && o + 8 < len; i++) {
		unsigned char ch = s[i];

		if (ch == '\n')
			o += snprintf(buf + o, len - o, "\\n");
		else if (ch == '"' || ch == '\\')
			o += snprintf(buf + o, len - o, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			o += snprintf(buf + o, len - o, "\\x%02x", ch);
		else
			buf[o++] = ch;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	if (n > 60)
		snprintf(buf + o, len - o, "...  (%zu bytes)", n);
}

/* "[a, b]", "[]" */
static void schema_format_strlist(const struct cfg_strlist *l, char *buf, size_t len)
{
	size_t o = snprintf(buf, len, "[");

	for (unsigned i = 0; i < l->n && o < len; i++)
		o += snprintf(buf + o, len - o, "%s%s", i ? ", " : "", l->v[i]);
	if (o < len)
		snprintf(buf + o, len - o, "]");
}

void schema_format(const struct key *k, const void *base, char *buf, size_t len)
{
	const char *p = (const char *)base + k->off;
	const char *s = k->type >= KT_NAME ? *(char *const *)p : NULL;

	if (k->flags & K_SECRET) {
		snprintf(buf, len, "%s", s ? "(set)" : "(none)");
		return;
	}
	switch (k->type) {
	case KT_COUNT:
		snprintf(buf, len, "%u", *(const uint32_t *)p);
		break;
	case KT_WORKERS:
		if (*(const unsigned *)p == 0)
			snprintf(buf, len, "auto");
		else
			snprintf(buf, len, "%u", *(const unsigned *)p);
		break;
	case KT_U64:
		snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)p);
		break;
	case KT_SIZE:
		value_fmt_size(*(const uint64_t *)p, buf, len);
		break;
	case KT_DURATION:
		value_fmt_duration(*(const uint64_t *)p, buf, len);
		break;
	case KT_RATIO:
	case KT_GROWTH:
		value_fmt_number(*(const double *)p, buf, len);
		break;
	case KT_ADDR:
		snprintf(buf, len, "%s", ((const struct cfg_addr *)p)->text);
		break;
	case KT_ENUM:
		snprintf(buf, len, "%s", k->names[*(const int *)p]);
		break;
	case KT_LIST:
		snprintf(buf, len, "(list)");
		break;
	case KT_BOOL:
		snprintf(buf, len, "%s", *(const bool *)p ? "true" : "false");
		break;
	case KT_STRLIST:
	case KT_ADDRLIST:
		schema_format_strlist((const struct cfg_strlist *)p, buf, len);
		break;
	case KT_STRING:
		if (s)
			schema_quote(s, *(const size_t *)((const char *)base + k->len_off), buf,
			             len);
		else
			snprintf(buf, len, "(none)");
		break;
	default:
		snprintf(buf, len, "%s", s ? s : k->type == KT_LIST_TEXT ? "(all)" : "(none)");
		break;
	}
}

void schema_defaults(const struct key *keys, unsigned n, void *base)
{
	for (unsigned i = 0; i < n; i++) {
		if (keys[i].def)
			schema_set(&keys[i], base, keys[i].def);
	}
}

static void schema_free_list(const struct schema_list *l, void *parent)
{
	char **arr = (char **)((char *)parent + l->arr_off);
	unsigned *n = (unsigned *)((char *)parent + l->n_off);

	for (unsigned i = 0; *arr && i < *n; i++)
		schema_free(l->keys, l->nkeys, *arr + i * l->size);
	free(*arr);
	*arr = NULL;
	*n = 0;
}

void schema_free(const struct key *keys, unsigned n, void *base)
{
	for (unsigned i = 0; i < n; i++) {
		const struct key *k = &keys[i];
		char **p = (char **)((char *)base + k->off);

		if (k->type == KT_LIST) {
			schema_free_list(k->list, base);
		} else if (k->type == KT_STRLIST || k->type == KT_ADDRLIST) {
			schema_strlist_clear(k, base);
		} else if (k->type >= KT_NAME) { /* every type from KT_NAME on is a char * */
			free(*p);
			*p = NULL;
		}
	}
}

static char env_full[CFG_MAX_KEYS][64];
static char env_short[CFG_MAX_KEYS][64];
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

static const char *schema_leaf(const char *path)
{
	const char *dot = strrchr(path, '.');

	return dot ? dot + 1 : path;
}

/* How many rows of every table end in <leaf>. */
static unsigned schema_leaf_count(const char *leaf)
{
	unsigned n = 0;

	for (unsigned i = 0; i < schema_ntop; i++)
		n += strcmp(schema_leaf(schema_top[i].path), leaf) == 0;
	for (unsigned j = 0; j < schema_nlists; j++) {
		for (unsigned i = 0; i < schema_lists[j]->nkeys; i++)
			n += strcmp(schema_leaf(schema_lists[j]->keys[i].path), leaf) == 0;
	}
	return n;
}

static void schema_env_upper(char *dst, const char *src)
{
	size_t o = strlen(dst);

	for (; *src && o < 63; src++)
		dst[o++] = *src == '.' ? '_' : toupper((unsigned char)*src);
	dst[o] = '\0';
}

static void schema_env_init(void)
{
	for (unsigned i = 0; i < schema_ntop; i++) {
		const struct key *k = &schema_top[i];
		const char *leaf = schema_leaf(k->path);

		if (k->flags & K_NOENV || k->type == KT_LIST)
			continue;
		strcpy(env_full[i], "RINGLB_");
		schema_env_upper(env_full[i], k->path);
		if (!k->alias && (leaf == k->path || schema_leaf_count(leaf) != 1))
			continue;
		strcpy(env_short[i], "RINGLB_");
		schema_env_upper(env_short[i], k->alias ? k->alias : leaf);
	}
}

const char *schema_env_full(unsigned i)
{
	pthread_once(&env_once, schema_env_init);
	return env_full[i][0] ? env_full[i] : NULL;
}

const char *schema_env_short(unsigned i)
{
	pthread_once(&env_once, schema_env_init);
	return env_short[i][0] ? env_short[i] : NULL;
}
