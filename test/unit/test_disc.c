/* Unit tests for service discovery: DNS answers (packets built here) into
 * backend sets (core/disc/dset.c), sets compared, and the snapshots the
 * control thread publishes from them (core/disc/disc.c, config_derive(),
 * snapshot_build_derived()). No query is sent: the integration test
 * test_discovery.py runs the real thing against a DNS server.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "core/disc/disc.c"
#include "core/lb/backend.h"
#include "core/lb/lb.h"
#include "core/lb/snapshot.h"
#include "test/unit/ck.h"

/* ---- packets ---- */

struct rr {
	uint16_t type;
	uint32_t ttl;
	const char *a;    /* A/AAAA: the address */
	uint16_t prio;    /* SRV */
	uint16_t weight;  /* SRV */
	uint16_t port;    /* SRV */
	const char *host; /* SRV: the target */
};

static size_t put_name(unsigned char *b, const char *name)
{
	size_t o = 0;

	while (*name) {
		size_t n = strcspn(name, ".");

		b[o++] = (unsigned char)n;
		memcpy(b + o, name, n);
		o += n;
		name += n + (name[n] == '.');
	}
	b[o++] = 0;
	return o;
}

static size_t put16(unsigned char *b, unsigned v)
{
	b[0] = v >> 8;
	b[1] = v & 255;
	return 2;
}

/* A response to <qname> <qtype> with the <n> records <rr>, every owner a
 * pointer to the question's name. */
static size_t packet(unsigned char *b, const char *qname, unsigned qtype, const struct rr *rr,
                     unsigned n)
{
	size_t o = 0;

	o += put16(b + o, 0x1234);
	o += put16(b + o, 0x8180);
	o += put16(b + o, 1);
	o += put16(b + o, n);
	o += put16(b + o, 0);
	o += put16(b + o, 0);
	o += put_name(b + o, qname);
	o += put16(b + o, qtype);
	o += put16(b + o, C_IN);
	for (unsigned i = 0; i < n; i++) {
		size_t len_at;

		o += put16(b + o, 0xc00c);
		o += put16(b + o, rr[i].type);
		o += put16(b + o, C_IN);
		o += put16(b + o, rr[i].ttl >> 16);
		o += put16(b + o, rr[i].ttl & 0xffff);
		len_at = o;
		o += 2;
		if (rr[i].type == T_A) {
			inet_pton(AF_INET, rr[i].a, b + o);
			o += 4;
		} else if (rr[i].type == T_AAAA) {
			inet_pton(AF_INET6, rr[i].a, b + o);
			o += 16;
		} else {
			o += put16(b + o, rr[i].prio);
			o += put16(b + o, rr[i].weight);
			o += put16(b + o, rr[i].port);
			o += put_name(b + o, rr[i].host);
		}
		put16(b + len_at, o - len_at - 2);
	}
	return o;
}

static void setup(void)
{
	ck_assert_uint_eq(backend_count(), 0);
}

static void teardown(void)
{
	disc_stop();
	ck_assert_uint_eq(backend_count(), 0);
}

/* ---- answers into sets ---- */

START_TEST(an_a_answer_is_sorted_backends_with_the_port_and_the_smallest_ttl)
{
	static const struct rr rr[] = {{T_A, 30, "10.0.0.3", 0, 0, 0, NULL},
	                               {T_A, 5, "10.0.0.1", 0, 0, 0, NULL},
	                               {T_A, 60, "10.0.0.20", 0, 0, 0, NULL}};
	unsigned char b[512];
	size_t n = packet(b, "web.test", T_A, rr, 3);
	struct dset s = {0};
	uint32_t ttl;

	ck_assert_int_eq(dset_parse_addr(b, n, AF_INET, 8080, &s, &ttl), 0);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_uint_eq(ttl, 5);
	dset_sort(&s);
	ck_assert_str_eq(s.b[0].address.text, "10.0.0.1:8080");
	ck_assert_str_eq(s.b[1].address.text, "10.0.0.20:8080");
	ck_assert_str_eq(s.b[2].address.text, "10.0.0.3:8080");
	ck_assert_uint_eq(s.b[0].weight, 1);
	ck_assert_uint_eq(s.b[0].address.ss.ss_family, AF_INET);
	ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&s.b[0].address.ss)->sin_port), 8080);
	dset_free(&s);
}
END_TEST

START_TEST(an_aaaa_answer_is_written_in_brackets)
{
	static const struct rr rr[] = {{T_AAAA, 10, "fd00::2", 0, 0, 0, NULL},
	                               {T_AAAA, 10, "fd00::1", 0, 0, 0, NULL}};
	unsigned char b[512];
	size_t n = packet(b, "web.test", T_AAAA, rr, 2);
	struct dset s = {0};
	uint32_t ttl;

	ck_assert_int_eq(dset_parse_addr(b, n, AF_INET6, 443, &s, &ttl), 0);
	dset_sort(&s);
	ck_assert_uint_eq(s.n, 2);
	ck_assert_str_eq(s.b[0].address.text, "[fd00::1]:443");
	ck_assert_str_eq(s.b[1].address.text, "[fd00::2]:443");
	dset_free(&s);
}
END_TEST

START_TEST(an_answer_without_records_is_an_empty_set_and_garbage_an_error)
{
	unsigned char b[512];
	size_t n = packet(b, "web.test", T_A, NULL, 0);
	struct dset s = {0};
	struct dset_srv *t;
	unsigned nt;
	uint32_t ttl;

	ck_assert_int_eq(dset_parse_addr(b, n, AF_INET, 80, &s, &ttl), 0);
	ck_assert_uint_eq(s.n, 0);
	ck_assert_int_lt(dset_parse_addr(b, 7, AF_INET, 80, &s, &ttl), 0);
	ck_assert_int_eq(dset_parse_srv(b, n, &t, &nt, &ttl), 0);
	ck_assert_uint_eq(nt, 0);
	ck_assert_int_lt(dset_parse_srv(b, 9, &t, &nt, &ttl), 0);
	dset_free(&s);
}
END_TEST

START_TEST(srv_keeps_the_lowest_priority_and_maps_weights)
{
	static const struct rr rr[] = {
	    {T_SRV, 7, NULL, 20, 5, 83, "c.web.test"},
	    {T_SRV, 3, NULL, 10, 0, 81, "a.web.test"},
	    {T_SRV, 9, NULL, 10, 20000, 82, "b.web.test"},
	    {T_SRV, 9, NULL, 10, 30, 84, "d.web.test"},
	};
	unsigned char b[512];
	size_t n = packet(b, "_http._tcp.web.test", T_SRV, rr, 4);
	struct dset_srv *t;
	unsigned nt, i, seen = 0;
	uint32_t ttl;

	ck_assert_int_eq(dset_parse_srv(b, n, &t, &nt, &ttl), 0);
	ck_assert_uint_eq(nt, 3);
	ck_assert_uint_eq(ttl, 3);
	for (i = 0; i < nt; i++) {
		ck_assert_str_ne(t[i].host, "c.web.test"); /* priority 20: a backup */
		if (!strcmp(t[i].host, "a.web.test")) {
			ck_assert_uint_eq(t[i].port, 81);
			ck_assert_uint_eq(t[i].weight, 1); /* 0: a small share */
			seen |= 1;
		} else if (!strcmp(t[i].host, "b.web.test")) {
			ck_assert_uint_eq(t[i].weight, 10000); /* the backends' range */
			seen |= 2;
		} else {
			ck_assert_str_eq(t[i].host, "d.web.test");
			ck_assert_uint_eq(t[i].weight, 30);
			seen |= 4;
		}
	}
	ck_assert_uint_eq(seen, 7);
	dset_srv_free(t, nt);
}
END_TEST

START_TEST(an_address_listed_twice_is_one_backend_with_both_weights)
{
	struct sockaddr_in a = {.sin_family = AF_INET}, c = {.sin_family = AF_INET};
	struct dset s = {0};

	inet_pton(AF_INET, "10.0.0.9", &a.sin_addr);
	inet_pton(AF_INET, "10.0.0.8", &c.sin_addr);
	ck_assert_int_eq(dset_add(&s, (struct sockaddr *)&a, 80, 2), 0);
	ck_assert_int_eq(dset_add(&s, (struct sockaddr *)&c, 80, 1), 0);
	ck_assert_int_eq(dset_add(&s, (struct sockaddr *)&a, 80, 3), 0);
	ck_assert_int_eq(dset_add(&s, (struct sockaddr *)&a, 81, 9999), 0);
	ck_assert_int_eq(dset_add(&s, (struct sockaddr *)&a, 81, 9999), 0);
	dset_sort(&s);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_str_eq(s.b[0].address.text, "10.0.0.8:80");
	ck_assert_str_eq(s.b[1].address.text, "10.0.0.9:80");
	ck_assert_uint_eq(s.b[1].weight, 5);
	ck_assert_uint_eq(s.b[2].weight, 10000);
	dset_free(&s);
}
END_TEST

START_TEST(a_set_holds_at_most_dset_max_backends)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct dset s = {0};
	unsigned i;

	for (i = 0; i < DSET_MAX; i++) {
		a.sin_addr.s_addr = htonl(0x0a000000 + i);
		ck_assert_int_eq(dset_add(&s, (struct sockaddr *)&a, 80, 1), 0);
	}
	ck_assert_int_eq(dset_add(&s, (struct sockaddr *)&a, 81, 1), -ENOSPC);
	ck_assert_uint_eq(s.n, DSET_MAX);
	dset_free(&s);
}
END_TEST

/* <s> holds "ADDR:80" weight W for each "ADDR/W" of <spec>. */
static void set_of(struct dset *s, const char *const *spec, unsigned n)
{
	dset_clear(s);
	for (unsigned i = 0; i < n; i++) {
		struct sockaddr_in a = {.sin_family = AF_INET};
		char ip[32];
		unsigned w;

		ck_assert_int_eq(sscanf(spec[i], "%31[^/]/%u", ip, &w), 2);
		inet_pton(AF_INET, ip, &a.sin_addr);
		ck_assert_int_eq(dset_add(s, (struct sockaddr *)&a, 80, w), 0);
	}
	dset_sort(s);
}

START_TEST(diff_counts_added_removed_and_reweighted_backends)
{
	static const char *const from[] = {"10.0.0.1/1", "10.0.0.2/1", "10.0.0.3/1"};
	static const char *const to[] = {"10.0.0.4/1", "10.0.0.3/1", "10.0.0.2/5"};
	struct dset a = {0}, b = {0};
	struct dset_diff d;

	set_of(&a, from, 3);
	set_of(&b, to, 3);
	ck_assert(dset_diff(a.b, a.n, &b, &d));
	ck_assert_uint_eq(d.added, 1);
	ck_assert_uint_eq(d.removed, 1);
	ck_assert_uint_eq(d.reweighted, 1);
	ck_assert(!dset_diff(b.b, b.n, &b, &d));
	ck_assert(dset_diff(NULL, 0, &b, &d));
	ck_assert_uint_eq(d.added, 3);
	dset_clear(&b);
	ck_assert(dset_diff(a.b, a.n, &b, &d));
	ck_assert_uint_eq(d.removed, 3);
	dset_free(&a);
	dset_free(&b);
}
END_TEST

/* ---- snapshots ---- */

static const char yaml[] = "listeners:\n"
			   "  - name: l4\n"
			   "    bind: 127.0.0.1:8080\n"
			   "    mode: tcp\n"
			   "    pool: dyn\n"
			   "pools:\n"
			   "  - name: fixed\n"
			   "    backends:\n"
			   "      - { address: 10.9.0.1:80 }\n"
			   "  - name: dyn\n"
			   "    algorithm: maglev\n"
			   "    discovery:\n"
			   "      dns: web.test\n"
			   "      port: 80\n"
			   "      resolvers: 127.0.0.1:1, [::1]:1\n"
			   "      interval: 5s\n";

static struct config *load(void)
{
	struct cfg_errors errs;
	struct config *c;

	config_errors_init(&errs);
	c = config_load_string("t.yaml", yaml, &errs);
	ck_assert_msg(c && config_validate(c, &errs) == 0, "%s", errs.n ? errs.lines[0] : "NULL");
	config_errors_deinit(&errs);
	return c;
}

START_TEST(a_discovery_pool_loads_its_question_and_no_backends)
{
	struct config *c = load();
	const struct cfg_discovery *d = &c->pools[1].discovery;

	ck_assert(!c->pools[0].discovery.enabled);
	ck_assert(d->enabled);
	ck_assert_str_eq(d->dns, "web.test");
	ck_assert_int_eq(d->type, CFG_DNS_A);
	ck_assert_uint_eq(d->port, 80);
	ck_assert_uint_eq(d->interval, 5000);
	ck_assert_uint_eq(d->resolvers.n, 2);
	ck_assert_str_eq(d->resolvers.v[1], "[::1]:1");
	ck_assert_uint_eq(c->pools[1].nbackends, 0);
	config_free(c);
}
END_TEST

/* A watched pool "dyn" whose last good answer was <spec>. */
static struct disc_pool *answered(const struct config *c, const char *const *spec, unsigned n)
{
	struct disc_pool *p;

	ck_assert_int_eq(disc_sync(c), 0);
	ck_assert_uint_eq(disc.n, 1);
	p = disc.p[0];
	set_of(&p->good, spec, n);
	p->have_good = true;
	return p;
}

START_TEST(an_answer_is_published_as_a_derived_snapshot_sharing_backend_state)
{
	static const char *const one[] = {"10.0.0.1/1", "10.0.0.2/1"};
	static const char *const two[] = {"10.0.0.2/1", "10.0.0.3/1"};
	struct config *root = load(), *d1, *d2;
	struct disc_pool *p;

	ck_assert_int_eq(snapshot_build(root), 0);
	p = answered(root, one, 2);
	d1 = disc_derive(root);
	ck_assert_ptr_nonnull(d1);
	ck_assert_ptr_eq(d1->root, root);
	ck_assert_ptr_eq(d1->listeners, root->listeners); /* shared, not copied */
	ck_assert_uint_eq(d1->pools[1].nbackends, 2);
	ck_assert_str_eq(d1->pools[1].backends[1].address.text, "10.0.0.2:80");
	ck_assert_uint_eq(d1->pools[0].nbackends, 1);
	ck_assert_ptr_ne(d1->pools[0].backends, root->pools[0].backends);
	ck_assert_int_eq(snapshot_build_derived(d1), 0);
	ck_assert_ptr_null(disc_derive(d1)); /* nothing new */
	set_of(&p->good, two, 2);
	d2 = disc_derive(d1);
	ck_assert_ptr_nonnull(d2);
	ck_assert_ptr_eq(d2->root, root); /* derived from the loaded one */
	ck_assert_int_eq(snapshot_build_derived(d2), 0);
	/* 10.0.0.2 is one registry entry in both: its counters carry over */
	ck_assert_ptr_eq(lb_backend(snapshot_lb(d1, 1), 1), lb_backend(snapshot_lb(d2, 1), 0));
	ck_assert_ptr_eq(lb_backend(snapshot_lb(d1, 0), 0), lb_backend(snapshot_lb(d2, 0), 0));
	snapshot_put(root); /* the derived ones keep it */
	snapshot_put(d1);
	ck_assert_str_eq(d2->listeners[0].name, "l4");
	snapshot_put(d2);
}
END_TEST

START_TEST(a_reload_gets_the_last_good_set_of_the_same_question_only)
{
	static const char *const one[] = {"10.0.0.1/1"};
	struct config *c = load(), *c2 = load();

	answered(c, one, 1);
	ck_assert_int_eq(disc_fill(c2), 0);
	ck_assert_uint_eq(c2->pools[1].nbackends, 1);
	ck_assert_str_eq(c2->pools[1].backends[0].address.text, "10.0.0.1:80");
	ck_assert_uint_eq(c2->pools[0].nbackends, 1); /* a list stays the list */
	config_free(c2);
	c2 = load();
	free(c2->pools[1].discovery.dns);
	c2->pools[1].discovery.dns = strdup("other.test");
	ck_assert_int_eq(disc_fill(c2), 0);
	ck_assert_uint_eq(c2->pools[1].nbackends, 0);
	ck_assert_int_eq(disc_sync(c2), 0); /* another question: a new watch */
	ck_assert(!disc.p[0]->have_good);
	config_free(c2);
	config_free(c);
}
END_TEST

START_TEST(a_failure_keeps_the_set_and_backs_off_up_to_the_interval)
{
	static const char *const one[] = {"10.0.0.1/1"};
	struct config *c = load();
	struct disc_pool *p = answered(c, one, 1);
	uint64_t t0;

	p->busy = true;
	t0 = clock_ms();
	disc_failed(p, "test");
	ck_assert(p->failing && !p->busy);
	ck_assert_uint_eq(p->good.n, 1);
	ck_assert_uint_ge(p->due, t0 + 1000);
	disc_failed(p, "test");
	disc_failed(p, "test");
	ck_assert_uint_eq(p->backoff, 4000);
	disc_failed(p, "test");
	ck_assert_uint_eq(p->backoff, 5000); /* the interval */
	ck_assert_uint_eq(p->fails, 4);
	set_of(&p->pend, one, 1);
	p->ttl = 0;
	t0 = clock_ms();
	disc_answered(p);
	ck_assert(!p->failing);
	ck_assert_uint_eq(p->fails, 0);
	ck_assert_uint_ge(p->due, t0 + DISC_FLOOR_MS); /* TTL 0: the floor */
	ck_assert_uint_le(p->due, clock_ms() + DISC_FLOOR_MS);
	p->ttl = 2;
	disc_answered(p);
	ck_assert_uint_ge(p->due, t0 + 2000);
	ck_assert_uint_le(p->due, clock_ms() + 2000);
	p->ttl = 3600;
	disc_answered(p);
	ck_assert_uint_le(p->due, clock_ms() + 5000); /* the interval */
	config_free(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("disc");
	TCase *tc = ck_tcase("answers", 10, setup, teardown);

	tcase_add_test(tc, an_a_answer_is_sorted_backends_with_the_port_and_the_smallest_ttl);
	tcase_add_test(tc, an_aaaa_answer_is_written_in_brackets);
	tcase_add_test(tc, an_answer_without_records_is_an_empty_set_and_garbage_an_error);
	tcase_add_test(tc, srv_keeps_the_lowest_priority_and_maps_weights);
	tcase_add_test(tc, an_address_listed_twice_is_one_backend_with_both_weights);
	tcase_add_test(tc, a_set_holds_at_most_dset_max_backends);
	tcase_add_test(tc, diff_counts_added_removed_and_reweighted_backends);
	suite_add_tcase(s, tc);
	tc = ck_tcase("snapshots", 10, setup, teardown);
	tcase_add_test(tc, a_discovery_pool_loads_its_question_and_no_backends);
	tcase_add_test(tc, an_answer_is_published_as_a_derived_snapshot_sharing_backend_state);
	tcase_add_test(tc, a_reload_gets_the_last_good_set_of_the_same_question_only);
	tcase_add_test(tc, a_failure_keeps_the_set_and_backs_off_up_to_the_interval);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return ck_run(suite());
}
