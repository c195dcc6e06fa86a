/* Unit tests for the health checker (core/health/health.c): the schedule's
 * jitter bounds, rise/fall counting, status ranges, and real tcp and http
 * checks on an io_uring of the test's own against loopback sockets, across
 * a sync that keeps, adds and drops backends.
 *
 * core/health/health.c is included to reach its static functions.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config/config.h"
#include "core/health/health.c"
#include "test/unit/ck.h"

static void setup(void)
{
	ck_assert_uint_eq(backend_count(), 0);
}

static void teardown(void)
{
	ck_assert_uint_eq(backend_count(), 0);
}

/* ---- pure parts ---- */

START_TEST(waits_stay_within_half_the_jitter_of_the_interval_and_average_it)
{
	struct health h = {.rng = 12345};
	double sum = 0, lo = 1e18, hi = 0;
	const int n = 100000;

	for (int i = 0; i < n; i++) {
		uint64_t w = health__wait(2000, 0.2, health__rand(&h));

		FAIL_IF(w < 1800 || w > 2200, "wait %llu outside 1800..2200",
		        (unsigned long long)w);
		sum += (double)w;
		lo = (double)w < lo ? (double)w : lo;
		hi = (double)w > hi ? (double)w : hi;
	}
	ck_assert_msg(sum / n > 1990 && sum / n < 2010, "mean %f", sum / n);
	ck_assert_msg(lo < 1810 && hi > 2190, "spread %f..%f does not fill the range", lo, hi);
	ck_assert_uint_eq(health__wait(2000, 0, 0.7), 2000); /* no jitter: the interval */
	ck_assert_uint_eq(health__wait(1, 1, 0), 1);         /* never 0 */
	ck_assert_uint_eq(health__wait(1000, 1, 0), 500);
	ck_assert_uint_le(health__wait(1000, 1, 0.999999), 1500);
}
END_TEST

START_TEST(fall_failures_in_a_row_take_it_down_rise_successes_bring_it_up)
{
	struct hcount s = {.up = true};

	/* fall 3: two failures, a success, two failures: still up */
	ck_assert_int_eq(health__count(&s, false, 2, 3), 0);
	ck_assert_int_eq(health__count(&s, false, 2, 3), 0);
	ck_assert_int_eq(health__count(&s, true, 2, 3), 0);
	ck_assert_int_eq(health__count(&s, false, 2, 3), 0);
	ck_assert_int_eq(health__count(&s, false, 2, 3), 0);
	ck_assert(s.up);
	ck_assert_int_eq(health__count(&s, false, 2, 3), -1); /* the third in a row */
	ck_assert(!s.up);
	ck_assert_int_eq(health__count(&s, false, 2, 3), 0); /* once */
	/* rise 2: a success, a failure, then two successes */
	ck_assert_int_eq(health__count(&s, true, 2, 3), 0);
	ck_assert_int_eq(health__count(&s, false, 2, 3), 0);
	ck_assert_int_eq(health__count(&s, true, 2, 3), 0);
	ck_assert_int_eq(health__count(&s, true, 2, 3), 1);
	ck_assert(s.up);
	ck_assert_int_eq(health__count(&s, true, 2, 3), 0);
	/* rise 1, fall 1: every result decides */
	ck_assert_int_eq(health__count(&s, false, 1, 1), -1);
	ck_assert_int_eq(health__count(&s, true, 1, 1), 1);
}
END_TEST

START_TEST(statuses_pass_only_inside_their_ranges)
{
	struct hparams p = {0};

	p.nstatus = value_statuses("200-299,304,401", p.lo, p.hi);
	ck_assert_int_eq(p.nstatus, 3);
	ck_assert(health__status_ok(&p, 200) && health__status_ok(&p, 299));
	ck_assert(health__status_ok(&p, 304) && health__status_ok(&p, 401));
	ck_assert(!health__status_ok(&p, 199) && !health__status_ok(&p, 300));
	ck_assert(!health__status_ok(&p, 403) && !health__status_ok(&p, 500));
}
END_TEST

/* ---- real checks on a ring ---- */

static struct io_uring ring;

/* A listening socket on 127.0.0.1; its port to *port. */
static int listener(unsigned *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 64), 0);
	getsockname(fd, (struct sockaddr *)&a, &len);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A port nothing listens on (bound, then closed). */
static unsigned dead_port(void)
{
	unsigned port;

	close(listener(&port));
	return port;
}

/* A built snapshot of pool "app" with <health> (a YAML flow mapping) over
 * backends on 127.0.0.1 at <ports>. */
static struct config *snap(const char *health, const unsigned *ports, unsigned n)
{
	struct cfg_errors errs;
	struct config *c;
	char yaml[2048];
	int len =
	    snprintf(yaml, sizeof(yaml),
	             "listeners:\n  - { name: l4, bind: 127.0.0.1:8080, mode: tcp, pool: app }\n"
	             "pools:\n  - name: app\n    health: %s\n    backends:\n",
	             health);

	for (unsigned i = 0; i < n; i++)
		len += snprintf(yaml + len, sizeof(yaml) - len,
		                "      - { address: 127.0.0.1:%u }\n", ports[i]);
	config_errors_init(&errs);
	c = config_load_string("t.yaml", yaml, &errs);
	ck_assert_msg(c && config_validate(c, &errs) == 0, "%s", errs.n ? errs.lines[0] : "NULL");
	config_errors_deinit(&errs);
	ck_assert_int_eq(snapshot_build(c), 0);
	return c;
}

/* Runs the checker's loop as the control thread does, for <ms>, or until
 * backend <i> of <c> is in <state> (when <i> >= 0). Answers one http
 * request per connection accepted on <http_fd> (>= 0) with <answer>. */
static void run_until(struct health *h, const struct config *c, int i, enum backend_state state,
                      uint64_t ms, int http_fd, const char *answer)
{
	uint64_t end = clock_ms() + ms;

	while (clock_ms() < end) {
		uint64_t next = health_run(h, clock_ms()), now = clock_ms();
		uint64_t left = next > now ? next - now : 0;
		struct __kernel_timespec ts = {.tv_nsec =
		                                   (long long)(left < 20 ? left : 20) * 1000000};
		struct io_uring_cqe *cqe;

		if (i >= 0 && backend_state(lb_backend(snapshot_lb(c, 0), i)) == state)
			return;
		io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
		while (io_uring_peek_cqe(&ring, &cqe) == 0) {
			if ((cqe->user_data & HEALTH_UD_MASK) == HEALTH_UD_TAG)
				health_cqe(h, cqe);
			io_uring_cqe_seen(&ring, cqe);
		}
		if (http_fd >= 0) {
			int cfd = accept4(http_fd, NULL, NULL, SOCK_NONBLOCK);

			if (cfd >= 0) {
				char req[1024];

				usleep(2000);
				(void)!read(cfd, req, sizeof(req));
				(void)!write(cfd, answer, strlen(answer));
				close(cfd);
			}
		}
	}
	ck_assert_msg(i < 0, "backend %d not %s after %llums", i, backend_state_name(state),
	              (unsigned long long)ms);
}

static void ring_setup(void)
{
	setup();
	ck_assert_int_eq(io_uring_queue_init(64, &ring, 0), 0);
}

static void ring_teardown(void)
{
	io_uring_queue_exit(&ring);
	teardown();
}

START_TEST(tcp_checks_take_a_dead_backend_down_and_leave_a_live_one_up)
{
	unsigned ports[2];
	int lfd = listener(&ports[0]);
	struct config *c;
	struct health *h = health_new(&ring, 1);

	ports[1] = dead_port();
	c = snap("{ type: tcp, interval: 20ms, timeout: 200ms, fall: 2, rise: 2 }", ports, 2);
	ck_assert_int_eq(health_sync(h, c, clock_ms()), 0);
	run_until(h, c, 1, BACKEND_DOWN, 5000, -1, NULL);
	run_until(h, c, -1, BACKEND_UP, 200, -1, NULL);
	ck_assert_int_eq(backend_state(lb_backend(snapshot_lb(c, 0), 0)), BACKEND_UP);
	ck_assert_uint_ge(atomic_load(&lb_backend(snapshot_lb(c, 0), 0)->checks_ok), 2);
	ck_assert_uint_eq(atomic_load(&lb_backend(snapshot_lb(c, 0), 1)->transitions), 1);
	health_free(h);
	snapshot_put(c);
	close(lfd);
}
END_TEST

/* http: a status outside the ranges, or a body without the string, fails;
 * the right answer brings the backend back after rise checks. */
START_TEST(http_checks_read_the_status_and_the_body)
{
	unsigned port;
	int lfd = listener(&port);
	struct config *c;
	struct health *h = health_new(&ring, 2);
	const char *bad = "HTTP/1.1 503 Busy\r\nContent-Length: 2\r\n\r\nok";
	const char *nobody = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nfine";
	const char *good = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nall is ok";

	fcntl(lfd, F_SETFL, O_NONBLOCK);
	c = snap("{ type: http, interval: 20ms, timeout: 500ms, fall: 2, rise: 3, path: /hz, "
	         "status: \"200-299\", body: \"is ok\" }",
	         &port, 1);
	ck_assert_int_eq(health_sync(h, c, clock_ms()), 0);
	run_until(h, c, 0, BACKEND_DOWN, 5000, lfd, bad);
	run_until(h, c, -1, BACKEND_UP, 300, lfd, nobody);
	ck_assert_int_eq(backend_state(lb_backend(snapshot_lb(c, 0), 0)), BACKEND_DOWN);
	run_until(h, c, 0, BACKEND_UP, 5000, lfd, good);
	ck_assert_uint_eq(atomic_load(&lb_backend(snapshot_lb(c, 0), 0)->transitions), 2);
	health_free(h);
	snapshot_put(c);
	close(lfd);
}
END_TEST

/* A reload keeps the verdict of a backend that stays, checks a new one,
 * and stops checking one removed; a pool whose checks are removed gets its
 * backends back up. */
START_TEST(a_sync_keeps_adds_and_drops_checks)
{
	unsigned ports[3];
	struct config *c1, *c2, *c3;
	struct health *h = health_new(&ring, 3);
	struct backend *kept;

	ports[0] = dead_port();
	ports[1] = dead_port();
	ports[2] = dead_port();
	c1 = snap("{ type: tcp, interval: 20ms, timeout: 200ms, fall: 1, rise: 1 }", ports, 2);
	ck_assert_int_eq(health_sync(h, c1, clock_ms()), 0);
	run_until(h, c1, 0, BACKEND_DOWN, 5000, -1, NULL);
	run_until(h, c1, 1, BACKEND_DOWN, 5000, -1, NULL);
	kept = lb_backend(snapshot_lb(c1, 0), 0);
	/* backend 1 dropped, a third one added */
	c2 = snap("{ type: tcp, interval: 20ms, timeout: 200ms, fall: 1, rise: 1 }",
	          (unsigned[]){ports[0], ports[2]}, 2);
	ck_assert_ptr_eq(lb_backend(snapshot_lb(c2, 0), 0), kept);
	ck_assert_int_eq(health_sync(h, c2, clock_ms()), 0);
	snapshot_put(c1);
	ck_assert_int_eq(backend_state(kept), BACKEND_DOWN);
	ck_assert_uint_eq(atomic_load(&kept->transitions), 1);
	run_until(h, c2, 1, BACKEND_DOWN, 5000, -1, NULL);
	run_until(h, c2, -1, BACKEND_UP, 100, -1, NULL); /* frees the dropped check */
	ck_assert_uint_eq(h->n, 2);
	/* no checks any more: nobody would bring them back, so they are up */
	c3 = snap("{ passive: { failures: 3 } }", ports, 1);
	ck_assert_int_eq(health_sync(h, c3, clock_ms()), 0);
	ck_assert_int_eq(backend_state(kept), BACKEND_UP);
	health_free(h);
	snapshot_put(c2);
	snapshot_put(c3);
}
END_TEST

/* With active checks, a passive hold resets the verdict: the backend comes
 * back once the hold is over and rise checks passed. Without them, at the
 * end of the hold. */
START_TEST(a_passive_hold_ends_at_down_time_or_after_rise_checks)
{
	unsigned port;
	int lfd = listener(&port);
	struct config *c;
	struct health *h = health_new(&ring, 4);
	struct backend *be;
	uint64_t t0;

	c = snap("{ type: tcp, interval: 50ms, timeout: 200ms, fall: 2, rise: 3, "
	         "passive: { failures: 1, down_time: 200ms } }",
	         &port, 1);
	be = lb_backend(snapshot_lb(c, 0), 0);
	ck_assert_int_eq(health_sync(h, c, clock_ms()), 0);
	run_until(h, c, -1, BACKEND_UP, 100, -1, NULL);
	t0 = clock_ms();
	ck_assert(backend_passive_fail(be, t0, 1, 1000, 200));
	run_until(h, c, 0, BACKEND_UP, 5000, -1, NULL);
	ck_assert_uint_ge(clock_ms() - t0, 200);
	ck_assert_uint_eq(atomic_load(&be->transitions), 2);
	snapshot_put(c);

	c = snap("{ passive: { failures: 1, down_time: 200ms } }", &port, 1);
	ck_assert_int_eq(health_sync(h, c, clock_ms()), 0);
	t0 = clock_ms();
	ck_assert(backend_passive_fail(be, t0, 1, 1000, 200));
	run_until(h, c, 0, BACKEND_UP, 5000, -1, NULL);
	ck_assert_uint_ge(clock_ms() - t0, 200);
	health_free(h);
	snapshot_put(c);
	close(lfd);
}
END_TEST

static Suite *health_suite(void)
{
	Suite *s = suite_create("health");
	TCase *tp = ck_tcase("pure", 10, setup, teardown);
	TCase *tr = ck_tcase("ring", 30, ring_setup, ring_teardown);

	tcase_add_test(tp, waits_stay_within_half_the_jitter_of_the_interval_and_average_it);
	tcase_add_test(tp, fall_failures_in_a_row_take_it_down_rise_successes_bring_it_up);
	tcase_add_test(tp, statuses_pass_only_inside_their_ranges);
	suite_add_tcase(s, tp);
	tcase_add_test(tr, tcp_checks_take_a_dead_backend_down_and_leave_a_live_one_up);
	tcase_add_test(tr, http_checks_read_the_status_and_the_body);
	tcase_add_test(tr, a_sync_keeps_adds_and_drops_checks);
	tcase_add_test(tr, a_passive_hold_ends_at_down_time_or_after_rise_checks);
	suite_add_tcase(s, tr);
	return s;
}

int main(void)
{
	return ck_run(health_suite());
}
