/* echo: the integration tests' TCP backend. One thread, epoll, non-blocking.
 *
 *   echo -l HOST:PORT [-m echo|sink|hold|source] [--rcvbuf N] [--sndbuf N] [-v]
 *
 * Modes:
 *   echo    sends every byte back; on read EOF it sends what is pending, shuts
 *           its write side down, and closes once both directions are done
 *   sink    reads and discards
 *   hold    accepts and never reads (watches only for the peer closing)
 *   source  writes a byte stream until the peer closes; never reads
 *
 * Prints "echo: listening HOST:PORT pid=N" when ready and, with -v,
 * "echo: accept n=K" per connection. SIGUSR1 prints "echo: summary ...";
 * SIGTERM and SIGINT print it too, then exit 0. --rcvbuf/--sndbuf are set on
 * the listen socket before listen(), so accepted sockets inherit them.
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
#include <unistd.h>

#define ECHO_BUF   (64 * 1024)
#define SOURCE_BUF (256 * 1024)
#define MAX_EVENTS 256

enum echo_mode {
	MODE_ECHO,
	MODE_SINK,
	MODE_HOLD,
	MODE_SOURCE,
};

struct echo_conn {
	int fd;
	bool rd_eof;
	bool wr_shut;
	uint32_t events;
	size_t head, tail; /* pending bytes are buf[head..tail) */
	size_t src_off;    /* source: offset into the pattern */
	char *buf;
};

struct echo {
	enum echo_mode mode;
	int lfd, ep, sfd;
	bool verbose;
	bool accept_paused;
	int rcvbuf, sndbuf;
	const char *addr_text;
	struct echo_conn **conns; /* indexed by fd */
	size_t nconns;
	unsigned long long accepted, active, bytes_in, bytes_out;
};

static char scratch[ECHO_BUF];
static char pattern[SOURCE_BUF];

static void die(const char *what)
{
	fprintf(stderr, "echo: error: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage(void)
{
	fprintf(stderr, "usage: echo -l HOST:PORT [-m echo|sink|hold|source] [--rcvbuf N] "
	                "[--sndbuf N] [-v]\n");
	exit(2);
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
	if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void ep_set(struct echo *e, int fd, uint32_t events, int op)
{
	struct epoll_event ev = {.events = events, .data.fd = fd};

	if (epoll_ctl(e->ep, op, fd, &ev) < 0)
		die("epoll_ctl");
}

static void print_summary(const struct echo *e)
{
	printf("echo: summary accepted=%llu active=%llu bytes_in=%llu bytes_out=%llu\n",
	       e->accepted, e->active, e->bytes_in, e->bytes_out);
	fflush(stdout);
}

static void conn_close(struct echo *e, struct echo_conn *c)
{
	e->conns[c->fd] = NULL;
	close(c->fd);
	free(c->buf);
	free(c);
	e->active--;
	if (e->accept_paused) {
		e->accept_paused = false;
		ep_set(e, e->lfd, EPOLLIN, EPOLL_CTL_MOD);
	}
}

/* Sets the epoll interest of <c> to what its state needs. */
static void conn_update(struct echo *e, struct echo_conn *c)
{
	uint32_t want = 0;
	size_t pending = c->tail - c->head;

	switch (e->mode) {
	case MODE_ECHO:
		if (!c->rd_eof && c->tail < ECHO_BUF)
			want |= EPOLLIN;
		if (pending)
			want |= EPOLLOUT;
		break;
	case MODE_SINK:
		want |= EPOLLIN;
		break;
	case MODE_HOLD:
		want |= EPOLLRDHUP; /* only to see the peer go */
		break;
	case MODE_SOURCE:
		want |= EPOLLOUT | EPOLLRDHUP;
		break;
	}
	if (want != c->events) {
		c->events = want;
		ep_set(e, c->fd, want, EPOLL_CTL_MOD);
	}
}

/* Returns 0, or -1 when the connection must be closed. */
static int echo_flush(struct echo *e, struct echo_conn *c)
{
	while (c->head < c->tail) {
		ssize_t n = send(c->fd, c->buf + c->head, c->tail - c->head, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		c->head += n;
		e->bytes_out += n;
	}
	c->head = c->tail = 0;
	if (c->rd_eof && !c->wr_shut) {
		shutdown(c->fd, SHUT_WR);
		c->wr_shut = true;
	}
	return 0;
}

static int echo_fill(struct echo *e, struct echo_conn *c)
{
	if (!c->buf && !(c->buf = malloc(ECHO_BUF)))
		die("malloc");
	if (c->head && c->tail == ECHO_BUF) {
		memmove(c->buf, c->buf + c->head, c->tail - c->head);
		c->tail -= c->head;
		c->head = 0;
	}
	while (!c->rd_eof && c->tail < ECHO_BUF) {
		ssize_t n = recv(c->fd, c->buf + c->tail, ECHO_BUF - c->tail, 0);

		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		if (n == 0)
			c->rd_eof = true;
		c->tail += n;
		e->bytes_in += n;
	}
	return 0;
}

static int sink_read(struct echo *e, struct echo_conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, scratch, sizeof(scratch), 0);

		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		if (n == 0)
			return -1;
		e->bytes_in += n;
	}
}

static int source_write(struct echo *e, struct echo_conn *c)
{
	for (;;) {
		ssize_t n =
		    send(c->fd, pattern + c->src_off, SOURCE_BUF - c->src_off, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		e->bytes_out += n;
		c->src_off = (c->src_off + n) % SOURCE_BUF;
	}
}

static int conn_event(struct echo *e, struct echo_conn *c, uint32_t ev)
{
	if (ev & EPOLLERR)
		return -1;
	switch (e->mode) {
	case MODE_ECHO:
		if (echo_fill(e, c) < 0 || echo_flush(e, c) < 0)
			return -1;
		if (c->rd_eof && c->wr_shut)
			return -1; /* both directions done */
		break;
	case MODE_SINK:
		return sink_read(e, c);
	case MODE_HOLD:
		if (ev & (EPOLLRDHUP | EPOLLHUP))
			return -1;
		break;
	case MODE_SOURCE:
		if (ev & (EPOLLRDHUP | EPOLLHUP))
			return -1;
		return source_write(e, c);
	}
	return 0;
}

static void accept_all(struct echo *e)
{
	for (;;) {
		int fd = accept4(e->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct echo_conn *c;

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) {
				fprintf(stderr, "echo: warning: accept: %s (pausing)\n",
				        strerror(errno));
				e->accept_paused = true;
				ep_set(e, e->lfd, 0, EPOLL_CTL_MOD);
			}
			return;
		}
		if ((size_t)fd >= e->nconns || !(c = calloc(1, sizeof(*c))))
			die("connection table");
		c->fd = fd;
		c->events = 0;
		e->conns[fd] = c;
		e->accepted++;
		e->active++;
		if (e->verbose) {
			printf("echo: accept n=%llu\n", e->accepted);
			fflush(stdout);
		}
		ep_set(e, fd, 0, EPOLL_CTL_ADD);
		conn_update(e, c);
	}
}

/* Returns true when the process must exit. */
static bool signal_event(struct echo *e)
{
	struct signalfd_siginfo si;

	while (read(e->sfd, &si, sizeof(si)) == sizeof(si)) {
		print_summary(e);
		if (si.ssi_signo != SIGUSR1)
			return true;
	}
	return false;
}

static void echo_loop(struct echo *e)
{
	struct epoll_event evs[MAX_EVENTS];

	for (;;) {
		int i, n = epoll_wait(e->ep, evs, MAX_EVENTS, -1);

		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			struct echo_conn *c;

			if (fd == e->lfd) {
				accept_all(e);
			} else if (fd == e->sfd) {
				if (signal_event(e))
					return;
			} else if ((c = e->conns[fd])) {
				if (conn_event(e, c, evs[i].events) < 0)
					conn_close(e, c);
				else
					conn_update(e, c);
			}
		}
	}
}

static void echo_listen(struct echo *e)
{
	struct sockaddr_in sa;
	int one = 1;

	if (parse_addr(e->addr_text, &sa) < 0)
		usage();
	e->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (e->lfd < 0)
		die("socket");
	setsockopt(e->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (e->rcvbuf && setsockopt(e->lfd, SOL_SOCKET, SO_RCVBUF, &e->rcvbuf, sizeof(int)) < 0)
		die("SO_RCVBUF");
	if (e->sndbuf && setsockopt(e->lfd, SOL_SOCKET, SO_SNDBUF, &e->sndbuf, sizeof(int)) < 0)
		die("SO_SNDBUF");
	if (bind(e->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "echo: error: bind %s: %s\n", e->addr_text, strerror(errno));
		exit(1);
	}
	if (listen(e->lfd, 4096) < 0)
		die("listen");
}

static void echo_setup(struct echo *e)
{
	struct rlimit rl;
	sigset_t set;
	size_t i;

	raise_nofile();
	getrlimit(RLIMIT_NOFILE, &rl);
	e->nconns = rl.rlim_cur > (1u << 20) ? (1u << 20) : rl.rlim_cur;
	e->conns = calloc(e->nconns, sizeof(*e->conns));
	if (!e->conns)
		die("calloc");
	for (i = 0; i < SOURCE_BUF; i++)
		pattern[i] = (char)(i * 7 + (i >> 8));
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	e->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	e->ep = epoll_create1(EPOLL_CLOEXEC);
	if (e->sfd < 0 || e->ep < 0)
		die("signalfd/epoll");
	echo_listen(e);
	ep_set(e, e->lfd, EPOLLIN, EPOLL_CTL_ADD);
	ep_set(e, e->sfd, EPOLLIN, EPOLL_CTL_ADD);
}

static enum echo_mode parse_mode(const char *s)
{
	if (!strcmp(s, "echo"))
		return MODE_ECHO;
	if (!strcmp(s, "sink"))
		return MODE_SINK;
	if (!strcmp(s, "hold"))
		return MODE_HOLD;
	if (!strcmp(s, "source"))
		return MODE_SOURCE;
	usage();
	return MODE_ECHO;
}

static void parse_args(struct echo *e, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"rcvbuf", required_argument, NULL, 'R'},
	    {"sndbuf", required_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	int o;

	while ((o = getopt_long(argc, argv, "l:m:vh", opts, NULL)) != -1) {
		switch (o) {
		case 'l':
			e->addr_text = optarg;
			break;
		case 'm':
			e->mode = parse_mode(optarg);
			break;
		case 'v':
			e->verbose = true;
			break;
		case 'R':
			e->rcvbuf = atoi(optarg);
			break;
		case 'S':
			e->sndbuf = atoi(optarg);
			break;
		default:
			usage();
		}
	}
	if (!e->addr_text || optind != argc)
		usage();
}

int main(int argc, char **argv)
{
	struct echo e = {.mode = MODE_ECHO, .lfd = -1};

	parse_args(&e, argc, argv);
	echo_setup(&e);
	printf("echo: listening %s pid=%d\n", e.addr_text, (int)getpid());
	fflush(stdout);
	echo_loop(&e);
	return 0;
}
