/* l4client: the integration tests' TCP client. One thread, epoll, non-blocking.
 *
 *   l4client -c HOST:PORT -n CONNS -b BYTES [-m echo|send|hold|recv] [--half-close] [--reset-at-end]
 *            [--parallel P] [--timeout SECS] [--seed S]
 *
 * Modes:
 *   echo  each connection sends BYTES of a pattern derived from (seed, index)
 *         and reads BYTES back, checked byte for byte; with --half-close it
 *         shuts its write side after sending and expects exactly BYTES, then EOF
 *   send  pushes BYTES without reading, then closes (flood)
 *   hold  opens CONNS connections (sending BYTES on each first, if BYTES > 0),
 *         prints "l4client: holding N" once every connect has resolved, and
 *         keeps them until SIGTERM or --timeout, which then end the run normally
 *   recv  reads until EOF (or until BYTES, if BYTES > 0, then closes)
 *
 * With --reset-at-end, connections still open when the run ends (SIGTERM,
 * --timeout) are reset (SO_LINGER 0) rather than closed.
 *
 * At most P connections are open at once (default: all). The run ends with
 * "l4client: done ok=N failed=M bytes=B secs=T refused=F reset=R dropped=D
 * unfinished=U sent=S recvd=V". bytes is the payload measure: verified bytes
 * (echo), bytes send() accepted (send), bytes received (recv), both ways (hold).
 * In hold mode each connection the peer closes prints "l4client: dropped n=K".
 * refused: connects refused; reset: ECONNRESET/EPIPE on an established
 * connection (send, hold); dropped: held connections the peer closed (hold).
 * In send and hold these are not failures. Exit status is 0 only if failed=0
 * and nothing is unfinished; --timeout (default 120 s) bounds the whole run.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IO_CHUNK     (64 * 1024)
#define MAX_EVENTS   256
#define MAX_MESSAGES 10
#define SIGNAL_TAG   UINT32_MAX

enum cli_mode {
	MODE_ECHO,
	MODE_SEND,
	MODE_HOLD,
	MODE_RECV,
};

enum conn_state {
	ST_IDLE,
	ST_CONNECTING,
	ST_ACTIVE,
	ST_HELD,
	ST_DONE,
};

struct cli_conn {
	int fd;
	enum conn_state state;
	bool wr_shut;
	uint32_t events;
	uint64_t sent, recvd;
};

struct cli {
	enum cli_mode mode;
	struct sockaddr_in dst;
	const char *dst_text;
	unsigned n, parallel;
	uint64_t bytes;
	uint64_t seed;
	double timeout;
	bool half_close;
	bool reset_at_end;
	bool filled; /* send/hold: iobuf holds the pattern block */
	int ep, sfd;
	struct cli_conn *conns;
	unsigned next, open, held, resolved;
	bool holding_said;
	unsigned long long ok, failed, refused, reset, dropped;
	unsigned long long sent, recvd, verified;
	unsigned messages;
	double t0;
};

static uint8_t iobuf[IO_CHUNK];
static uint8_t expect[IO_CHUNK];

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: l4client -c HOST:PORT -n CONNS -b BYTES [-m echo|send|hold|recv] "
	                "[--half-close] [--parallel P] [--timeout SECS] [--seed S]\n");
	exit(2);
}

static uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Writes bytes [off, off+len) of connection <idx>'s pattern into <dst>. */
static void pattern_fill(const struct cli *cl, unsigned idx, uint64_t off, uint8_t *dst, size_t len)
{
	uint64_t base = mix64(cl->seed ^ mix64(idx + 1));

	while (len) {
		uint64_t w = mix64(base + (off >> 3));
		size_t r = off & 7, take = 8 - r < len ? 8 - r : len;

		memcpy(dst, (uint8_t *)&w + r, take);
		dst += take;
		off += take;
		len -= take;
	}
}

static void say(struct cli *cl, unsigned idx, const char *fmt, const char *detail)
{
	if (cl->messages++ >= MAX_MESSAGES)
		return;
	fprintf(stderr, "l4client: conn %u: %s%s%s\n", idx, fmt, detail ? ": " : "",
	        detail ? detail : "");
}

static void ep_set(struct cli *cl, unsigned idx, uint32_t events)
{
	struct cli_conn *c = &cl->conns[idx];
	struct epoll_event ev = {.events = events, .data.u32 = idx};

	if (events == c->events)
		return;
	if (epoll_ctl(cl->ep, c->events == UINT32_MAX ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &ev) <
	    0) {
		perror("l4client: epoll_ctl");
		exit(1);
	}
	c->events = events;
}

static void conn_finish(struct cli *cl, unsigned idx, bool ok)
{
	struct cli_conn *c = &cl->conns[idx];

	if (c->state == ST_HELD)
		cl->held--;
	if (c->state == ST_CONNECTING || (c->state == ST_ACTIVE && cl->mode == MODE_HOLD))
		cl->resolved++;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->state = ST_DONE;
	cl->open--;
	if (ok)
		cl->ok++;
}

static void conn_fail(struct cli *cl, unsigned idx, const char *what, int err)
{
	say(cl, idx, what, err ? strerror(err) : NULL);
	cl->failed++;
	conn_finish(cl, idx, false);
}

/* A held connection the peer closed: counted, and one line each so tests
 * can wait for it. */
static void note_dropped(struct cli *cl)
{
	cl->dropped++;
	printf("l4client: dropped n=%llu\n", cl->dropped);
	fflush(stdout);
}

/* A socket error on <idx>: counted as refused/reset/dropped where the mode
 * allows, else a failure. */
static void conn_error(struct cli *cl, unsigned idx, int err)
{
	struct cli_conn *c = &cl->conns[idx];
	bool tolerant = cl->mode == MODE_SEND || cl->mode == MODE_HOLD;

	if (c->state == ST_CONNECTING && err == ECONNREFUSED && tolerant) {
		cl->refused++;
		conn_finish(cl, idx, false);
	} else if ((err == ECONNRESET || err == EPIPE) && tolerant && c->state != ST_CONNECTING) {
		cl->reset++;
		if (c->state == ST_HELD)
			note_dropped(cl);
		conn_finish(cl, idx, false);
	} else {
		conn_fail(cl, idx, c->state == ST_CONNECTING ? "connect" : "io", err);
	}
}

static void conn_start(struct cli *cl, unsigned idx)
{
	struct cli_conn *c = &cl->conns[idx];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	cl->open++;
	c->state = ST_CONNECTING;
	c->events = UINT32_MAX;
	c->fd = fd;
	if (fd < 0) {
		conn_fail(cl, idx, "socket", errno);
		return;
	}
	if (connect(fd, (struct sockaddr *)&cl->dst, sizeof(cl->dst)) < 0 && errno != EINPROGRESS) {
		conn_error(cl, idx, errno);
		return;
	}
	ep_set(cl, idx, EPOLLOUT);
}

/* Sends the rest of the pattern; returns 0 or -errno (-EAGAIN is normal). */
static int conn_send(struct cli *cl, unsigned idx)
{
	struct cli_conn *c = &cl->conns[idx];

	while (c->sent < cl->bytes) {
		size_t len = cl->bytes - c->sent < IO_CHUNK ? cl->bytes - c->sent : IO_CHUNK;
		ssize_t n;

		/* Only echo mode checks what comes back: the other modes send
		 * one pattern block over and over, so the load generator spends
		 * its CPU on moving bytes, not on making them. */
		if (cl->mode == MODE_ECHO || !cl->filled) {
			pattern_fill(cl, idx, c->sent, iobuf,
			             cl->mode == MODE_ECHO ? len : IO_CHUNK);
			cl->filled = cl->mode != MODE_ECHO;
		}
		n = send(c->fd, iobuf, len, MSG_NOSIGNAL);
		if (n < 0)
			return -errno;
		c->sent += n;
		cl->sent += n;
	}
	if (cl->mode == MODE_ECHO && cl->half_close && !c->wr_shut) {
		shutdown(c->fd, SHUT_WR);
		c->wr_shut = true;
	}
	return 0;
}

/* Checks <n> received bytes of <idx> at its current offset. */
static bool conn_verify(struct cli *cl, unsigned idx, size_t n)
{
	struct cli_conn *c = &cl->conns[idx];
	char msg[160];
	size_t i;

	if (c->recvd + n > cl->bytes) {
		snprintf(msg, sizeof(msg), "extra data: %llu bytes past the %llu expected",
		         (unsigned long long)(c->recvd + n - cl->bytes),
		         (unsigned long long)cl->bytes);
		conn_fail(cl, idx, msg, 0);
		return false;
	}
	pattern_fill(cl, idx, c->recvd, expect, n);
	if (!memcmp(iobuf, expect, n))
		return true;
	for (i = 0; iobuf[i] == expect[i]; i++)
		;
	snprintf(msg, sizeof(msg), "mismatch at offset %llu (got 0x%02x want 0x%02x)",
	         (unsigned long long)(c->recvd + i), iobuf[i], expect[i]);
	conn_fail(cl, idx, msg, 0);
	return false;
}

/* Echo mode: what a readable (or EOF) socket means. */
static void echo_read(struct cli *cl, unsigned idx)
{
	struct cli_conn *c = &cl->conns[idx];

	for (;;) {
		ssize_t n = recv(c->fd, iobuf, IO_CHUNK, 0);
		char msg[96];

		if (n < 0) {
			if (errno != EAGAIN)
				conn_error(cl, idx, errno);
			return;
		}
		if (n == 0) {
			if (c->recvd == cl->bytes && c->sent == cl->bytes) {
				conn_finish(cl, idx, true);
				return;
			}
			snprintf(msg, sizeof(msg), "EOF after %llu of %llu bytes (sent %llu)",
			         (unsigned long long)c->recvd, (unsigned long long)cl->bytes,
			         (unsigned long long)c->sent);
			conn_fail(cl, idx, msg, 0);
			return;
		}
		if (!conn_verify(cl, idx, n))
			return;
		c->recvd += n;
		cl->recvd += n;
		cl->verified += n;
		if (c->recvd == cl->bytes && c->sent == cl->bytes && !cl->half_close) {
			conn_finish(cl, idx, true);
			return;
		}
	}
}

/* Reads and counts what arrives (recv, hold); returns false once <idx> ended. */
static bool drain_read(struct cli *cl, unsigned idx)
{
	struct cli_conn *c = &cl->conns[idx];

	for (;;) {
		size_t want = IO_CHUNK;
		ssize_t n;

		if (cl->mode == MODE_RECV && cl->bytes && cl->bytes - c->recvd < want)
			want = cl->bytes - c->recvd;
		n = recv(c->fd, iobuf, want, 0);
		if (n < 0) {
			if (errno == EAGAIN)
				return true;
			conn_error(cl, idx, errno);
			return false;
		}
		c->recvd += n;
		cl->recvd += n;
		if (cl->mode == MODE_HOLD && n == 0) {
			note_dropped(cl);
			conn_finish(cl, idx, false);
			return false;
		}
		if (n == 0 && cl->bytes && c->recvd < cl->bytes) {
			conn_fail(cl, idx, "EOF before the expected bytes", 0);
			return false;
		}
		if (cl->mode == MODE_HOLD)
			continue; /* held until the end of the run */
		if (n == 0 || (cl->bytes && c->recvd == cl->bytes)) {
			conn_finish(cl, idx, true);
			return false;
		}
	}
}

static void conn_connected(struct cli *cl, unsigned idx)
{
	struct cli_conn *c = &cl->conns[idx];
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		conn_error(cl, idx, err);
		return;
	}
	c->state = ST_ACTIVE;
}

/* Moves <idx> on after an event; sets its epoll interest for what is next. */
static void conn_step(struct cli *cl, unsigned idx)
{
	struct cli_conn *c = &cl->conns[idx];
	int ret = 0;

	if (cl->mode != MODE_RECV && (c->sent < cl->bytes || (cl->half_close && !c->wr_shut)))
		ret = conn_send(cl, idx);
	if (ret < 0 && ret != -EAGAIN) {
		conn_error(cl, idx, -ret);
		return;
	}
	switch (cl->mode) {
	case MODE_ECHO:
		if (!cl->half_close && c->sent == cl->bytes && c->recvd == cl->bytes) {
			conn_finish(cl, idx, true); /* -b 0 */
			break;
		}
		ep_set(cl, idx, EPOLLIN | (c->sent < cl->bytes ? EPOLLOUT : 0));
		break;
	case MODE_SEND:
		if (c->sent == cl->bytes)
			conn_finish(cl, idx, true);
		else
			ep_set(cl, idx, EPOLLOUT);
		break;
	case MODE_HOLD:
		if (c->sent < cl->bytes) {
			ep_set(cl, idx, EPOLLIN | EPOLLOUT);
		} else if (c->state == ST_ACTIVE) {
			c->state = ST_HELD;
			cl->held++;
			cl->resolved++;
			ep_set(cl, idx, EPOLLIN);
		}
		break;
	case MODE_RECV:
		ep_set(cl, idx, EPOLLIN);
		break;
	}
}

static void conn_event(struct cli *cl, unsigned idx, uint32_t ev)
{
	struct cli_conn *c = &cl->conns[idx];

	if (c->state == ST_CONNECTING) {
		conn_connected(cl, idx);
		if (c->state == ST_DONE)
			return;
	} else if (ev & EPOLLERR) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			conn_error(cl, idx, err);
			return;
		}
	}
	if (c->state != ST_CONNECTING && (ev & (EPOLLIN | EPOLLHUP))) {
		if (cl->mode == MODE_ECHO)
			echo_read(cl, idx);
		else if (cl->mode != MODE_SEND)
			drain_read(cl, idx);
		if (c->state == ST_DONE)
			return;
	}
	conn_step(cl, idx);
}

static void report(struct cli *cl)
{
	unsigned long long bytes, unfinished = 0;
	unsigned i;

	for (i = 0; i < cl->n; i++) {
		struct cli_conn *c = &cl->conns[i];

		if (c->state == ST_DONE || c->state == ST_HELD || unfinished++ >= MAX_MESSAGES)
			continue;
		fprintf(stderr, "l4client: unfinished conn %u: %s sent=%llu recvd=%llu\n", i,
		        c->state == ST_IDLE         ? "not started"
		        : c->state == ST_CONNECTING ? "connecting"
		                                    : "active",
		        (unsigned long long)c->sent, (unsigned long long)c->recvd);
	}
	bytes = cl->mode == MODE_ECHO   ? cl->verified
	        : cl->mode == MODE_SEND ? cl->sent
	        : cl->mode == MODE_RECV ? cl->recvd
	                                : cl->sent + cl->recvd;
	printf("l4client: done ok=%llu failed=%llu bytes=%llu secs=%.3f refused=%llu reset=%llu "
	       "dropped=%llu unfinished=%llu sent=%llu recvd=%llu\n",
	       cl->ok + (cl->mode == MODE_HOLD ? cl->held : 0), cl->failed, bytes, now_s() - cl->t0,
	       cl->refused, cl->reset, cl->dropped, unfinished, cl->sent, cl->recvd);
	fflush(stdout);
	/* --reset-at-end: a flooding client that gives up aborts; its unsent
	 * bytes could never carry a FIN to a proxy that stopped reading. */
	if (cl->reset_at_end) {
		struct linger lg = {.l_onoff = 1, .l_linger = 0};

		for (i = 0; i < cl->n; i++)
			if (cl->conns[i].fd >= 0)
				setsockopt(cl->conns[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	exit(cl->failed || unfinished ? 1 : 0);
}

static void maybe_say_holding(struct cli *cl)
{
	if (cl->mode != MODE_HOLD || cl->holding_said || cl->resolved < cl->n)
		return;
	cl->holding_said = true;
	printf("l4client: holding %u\n", cl->held);
	fflush(stdout);
}

static void cli_loop(struct cli *cl)
{
	struct epoll_event evs[MAX_EVENTS];
	double deadline = cl->t0 + cl->timeout;

	for (;;) {
		double left = deadline - now_s();
		int i, n;

		while (cl->next < cl->n && cl->open < cl->parallel)
			conn_start(cl, cl->next++);
		maybe_say_holding(cl);
		if (cl->mode != MODE_HOLD && cl->next == cl->n && cl->open == 0)
			return;
		if (left <= 0) {
			if (cl->mode != MODE_HOLD)
				fprintf(stderr, "l4client: timeout after %.0f s\n", cl->timeout);
			return;
		}
		n = epoll_wait(cl->ep, evs, MAX_EVENTS, (int)(left * 1000) + 1);
		if (n < 0 && errno != EINTR) {
			perror("l4client: epoll_wait");
			exit(1);
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.u32 == SIGNAL_TAG) {
				if (cl->mode != MODE_HOLD)
					fprintf(stderr, "l4client: interrupted\n");
				return;
			}
			if (cl->conns[evs[i].data.u32].state != ST_DONE)
				conn_event(cl, evs[i].data.u32, evs[i].events);
		}
	}
}

static int parse_addr(const char *text, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	size_t hlen;
	char *end;
	long port;

	if (!colon)
		return -EINVAL;
	hlen = colon - text;
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return -EINVAL;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons(port);
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

static enum cli_mode parse_mode(const char *s)
{
	if (!strcmp(s, "echo"))
		return MODE_ECHO;
	if (!strcmp(s, "send"))
		return MODE_SEND;
	if (!strcmp(s, "hold"))
		return MODE_HOLD;
	if (!strcmp(s, "recv"))
		return MODE_RECV;
	usage();
	return MODE_ECHO;
}

static void parse_args(struct cli *cl, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"reset-at-end", no_argument, NULL, 'R'},
	    {"half-close", no_argument, NULL, 'H'},
	    {"parallel", required_argument, NULL, 'P'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"seed", required_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	bool have_n = false, have_b = false;
	int o;

	while ((o = getopt_long(argc, argv, "c:n:b:m:h", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			cl->dst_text = optarg;
			break;
		case 'n':
			cl->n = strtoul(optarg, NULL, 10);
			have_n = true;
			break;
		case 'b':
			cl->bytes = strtoull(optarg, NULL, 10);
			have_b = true;
			break;
		case 'm':
			cl->mode = parse_mode(optarg);
			break;
		case 'H':
			cl->half_close = true;
			break;
		case 'R':
			cl->reset_at_end = true;
			break;
		case 'P':
			cl->parallel = strtoul(optarg, NULL, 10);
			break;
		case 'T':
			cl->timeout = strtod(optarg, NULL);
			break;
		case 'S':
			cl->seed = strtoull(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (!cl->dst_text || !have_n || !have_b || optind != argc || cl->timeout <= 0)
		usage();
	if (parse_addr(cl->dst_text, &cl->dst) < 0)
		usage();
	if (!cl->parallel || cl->parallel > cl->n)
		cl->parallel = cl->n;
}

static void cli_setup(struct cli *cl)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.u32 = SIGNAL_TAG};
	struct rlimit rl;
	sigset_t set;
	unsigned i;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	cl->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	cl->ep = epoll_create1(EPOLL_CLOEXEC);
	cl->conns = calloc(cl->n ? cl->n : 1, sizeof(*cl->conns));
	if (cl->sfd < 0 || cl->ep < 0 || !cl->conns) {
		perror("l4client: setup");
		exit(1);
	}
	for (i = 0; i < cl->n; i++)
		cl->conns[i].fd = -1;
	if (epoll_ctl(cl->ep, EPOLL_CTL_ADD, cl->sfd, &ev) < 0) {
		perror("l4client: epoll_ctl");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	struct cli cl = {.mode = MODE_ECHO, .timeout = 120, .seed = 1};

	parse_args(&cl, argc, argv);
	cli_setup(&cl);
	cl.t0 = now_s();
	cli_loop(&cl);
	report(&cl);
	return 0;
}
