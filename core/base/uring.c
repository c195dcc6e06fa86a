/* io_uring feature probe. */
#include <errno.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>

#include "core/base/uring.h"

static int read_disabled(void)
{
	FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "r");
	int v = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%d", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static bool kernel_at_least(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return true; /* unknown: let the real operations tell */
	return ma > major || (ma == major && mi >= minor);
}

static const struct {
	int op;
	const char *name;
} uring_ops[] = {
    {IORING_OP_ACCEPT, "accept"},     {IORING_OP_RECV, "recv"},
    {IORING_OP_SEND, "send"},         {IORING_OP_CONNECT, "connect"},
    {IORING_OP_CLOSE, "close"},       {IORING_OP_ASYNC_CANCEL, "cancel"},
    {IORING_OP_POLL_ADD, "poll"},     {IORING_OP_LINK_TIMEOUT, "link timeout"},
    {IORING_OP_MSG_RING, "msg ring"},
};

static int probe_buf_ring(struct io_uring *ring, char *msg, size_t len)
{
	struct io_uring_buf_reg reg = {0};
	void *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ret;

	if (mem == MAP_FAILED)
		return -errno;
	reg.ring_addr = (unsigned long)mem;
	reg.ring_entries = 8;
	reg.bgid = 0;
	ret = io_uring_register_buf_ring(ring, &reg, 0);
	if (ret == 0)
		io_uring_unregister_buf_ring(ring, 0);
	munmap(mem, 4096);
	if (ret < 0)
		snprintf(
		    msg, len,
		    "io_uring: provided buffer rings unavailable (%s): ringlb needs Linux >= 6.0",
		    strerror(-ret));
	return ret;
}

int uring_probe(char *msg, size_t len)
{
	struct io_uring_probe *probe;
	struct io_uring ring;
	unsigned i;
	int ret;

	if (read_disabled() == 2) {
		snprintf(
		    msg, len,
		    "io_uring is disabled by sysctl kernel.io_uring_disabled=2: set it to 0 (sysctl -w kernel.io_uring_disabled=0)");
		return -EPERM;
	}
	ret = io_uring_queue_init(8, &ring, 0);
	if (ret == -ENOSYS) {
		snprintf(msg, len,
		         "io_uring is not available in this kernel: ringlb needs Linux >= 6.0");
		return ret;
	}
	if (ret == -EPERM || ret == -EACCES) {
		snprintf(
		    msg, len,
		    "io_uring is forbidden here (%s): kernel.io_uring_disabled=%d or a seccomp profile (e.g. a container runtime's default) blocks it; allow io_uring_setup/io_uring_enter/io_uring_register",
		    strerror(-ret), read_disabled());
		return ret;
	}
	if (ret < 0) {
		snprintf(msg, len,
		         "io_uring setup failed: %s (RLIMIT_MEMLOCK too low? try ulimit -l)",
		         strerror(-ret));
		return ret;
	}
	probe = io_uring_get_probe_ring(&ring);
	for (i = 0; probe && i < sizeof(uring_ops) / sizeof(uring_ops[0]); i++) {
		if (!io_uring_opcode_supported(probe, uring_ops[i].op)) {
			snprintf(msg, len,
			         "io_uring lacks the %s operation: ringlb needs Linux >= 6.0",
			         uring_ops[i].name);
			ret = -EOPNOTSUPP;
			break;
		}
	}
	if (probe)
		io_uring_free_probe(probe);
	if (!ret && !kernel_at_least(6, 0)) {
		snprintf(msg, len, "multishot recv needs Linux >= 6.0");
		ret = -EOPNOTSUPP;
	}
	if (!ret)
		ret = probe_buf_ring(&ring, msg, len);
	io_uring_queue_exit(&ring);
	return ret;
}
