/* alog-cost: what an access log record costs, on each side of the ring.
 *
 *   make build/tools/alog-cost && build/tools/alog-cost [FORMAT] [N]
 *
 * One ring, the real log thread, a file destination (a temporary file,
 * removed at the end): N records (200000) like a keep-alive GET through
 * an http listener, emitted as fast as the ring takes them. Prints the
 * producer's ns per record (alog_emit(): what a worker pays) and the log
 * thread's CPU per record (formatting and writing), from
 * RUSAGE_THREAD-like per-thread CPU clocks. Under callgrind the same run
 * gives exact instruction counts:
 *
 *   valgrind --tool=callgrind --toggle-collect=alog_emit build/tools/alog-cost
 *   valgrind --tool=callgrind --toggle-collect=consume build/tools/alog-cost
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/alog/alog.h"
#include "core/base/log.h"

static double cpu_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void record(struct alog_rec *r, struct alog_str *s, struct alog_sink *sink)
{
	static const char method[] = "GET", target[] = "/index.html?q=1", pool[] = "app",
			  backend[] = "127.0.0.1:8081";

	memset(r, 0, sizeof(*r));
	r->kind = ALOG_HTTP;
	r->sink = sink;
	r->start_ms = clock_ms();
	r->status = 200;
	r->minor = 1;
	r->term[0] = r->term[1] = '-';
	r->ms[ALOG_MS_REQUEST] = r->ms[ALOG_MS_CONNECT] = 0;
	r->ms[ALOG_MS_RESPONSE] = r->ms[ALOG_MS_TOTAL] = 1;
	r->bytes_in = 78;
	r->bytes_out = 131;
	r->client.family = 2; /* AF_INET */
	r->client.port = 43210;
	memcpy(r->client.a, "\x7f\0\0\1", 4);
	s[ALOG_S_METHOD] = (struct alog_str){method, sizeof(method) - 1};
	s[ALOG_S_TARGET] = (struct alog_str){target, sizeof(target) - 1};
	s[ALOG_S_SNI] = (struct alog_str){NULL, 0};
	s[ALOG_S_POOL] = (struct alog_str){pool, sizeof(pool) - 1};
	s[ALOG_S_BACKEND] = (struct alog_str){backend, sizeof(backend) - 1};
}

int main(int argc, char **argv)
{
	const char *format = argc > 1 ? argv[1] : "text";
	long n = argc > 2 ? atol(argv[2]) : 200000, full = 0;
	char path[] = "/tmp/alog-cost.XXXXXX", why[256];
	struct cfg_access_log al = {.path = path, .format = (char *)format};
	_Atomic uint64_t dropped = 0, unwritten = 0;
	struct alog_str s[ALOG_NSTR];
	struct alog_sink *sink;
	struct alog_ring *ring;
	struct alog_rec r;
	double t0, t1, all0, all1;
	int fd = mkstemp(path);

	if (fd < 0 || alog_start(1, 256 << 10) < 0)
		return 1;
	close(fd);
	sink = alog_sink_new("web", &al, false, why, sizeof(why));
	ring = alog_ring(0, &dropped, &unwritten);
	if (!sink || !ring) {
		fprintf(stderr, "alog-cost: %s\n", why);
		return 1;
	}
	record(&r, s, sink);
	all0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	t0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	for (long i = 0; i < n; i++) {
		while (alog_emit(ring, &r, s) == -ENOBUFS) {
			full++;
			sched_yield();
		}
	}
	t1 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	alog_sink_free(sink);
	alog_stop();
	all1 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	unlink(path);
	/* the producer's time includes its yields while the ring was full */
	printf("alog-cost: format=%s records=%ld producer %.0f ns/record (ring full %ld times), "
	       "log thread %.0f ns/record, unwritten %llu\n",
	       format, n, (t1 - t0) / n, full, ((all1 - all0) - (t1 - t0)) / n,
	       (unsigned long long)unwritten);
	return 0;
}
