/* The process's listening sockets, for a binary upgrade (lsock.h).
 *
 * Every listening socket a worker holds (added when bound or inherited,
 * removed before it is closed), so that the control thread can hand copies
 * to the process replacing this one; and the sockets this process received
 * from the one it replaces, until the workers took them.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/loop/lsock.h"

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct listen_sock *reg, *inh;
static unsigned nreg, reg_cap, ninh;

void lsock_add(uint32_t worker, int fd, const struct cfg_addr *a)
{
	pthread_mutex_lock(&reg_lock);
	if (nreg == reg_cap) {
		unsigned n = reg_cap ? reg_cap * 2 : 16;
		struct listen_sock *grown = realloc(reg, n * sizeof(*grown));

		if (!grown) { /* only a later upgrade misses it: bind afresh then */
			pthread_mutex_unlock(&reg_lock);
			return;
		}
		reg = grown;
		reg_cap = n;
	}
	reg[nreg] = (struct listen_sock){.fd = fd, .worker = worker, .len = a->len};
	memcpy(&reg[nreg].ss, &a->ss, a->len);
	nreg++;
	pthread_mutex_unlock(&reg_lock);
}

void lsock_del(int fd)
{
	pthread_mutex_lock(&reg_lock);
	for (unsigned i = 0; i < nreg; i++)
		if (reg[i].fd == fd) {
			reg[i] = reg[--nreg];
			break;
		}
	if (!nreg) {
		free(reg);
		reg = NULL;
		reg_cap = 0;
	}
	pthread_mutex_unlock(&reg_lock);
}

static int sock_cmp(const void *a, const void *b)
{
	const struct listen_sock *x = a, *y = b;

	return x->worker < y->worker ? -1 : x->worker > y->worker;
}

int lsock_export(struct listen_sock **out)
{
	struct listen_sock *v;
	unsigned i, n = 0;
	int ret = 0;

	pthread_mutex_lock(&reg_lock);
	v = calloc(nreg ? nreg : 1, sizeof(*v));
	for (i = 0; v && i < nreg; i++) {
		v[n] = reg[i];
		v[n].fd = fcntl(reg[i].fd, F_DUPFD_CLOEXEC, 3);
		if (v[n].fd < 0) {
			ret = -errno;
			break;
		}
		n++;
	}
	pthread_mutex_unlock(&reg_lock);
	if (!v)
		return -ENOMEM;
	if (ret < 0) {
		while (n)
			close(v[--n].fd);
		free(v);
		return ret;
	}
	qsort(v, n, sizeof(*v), sock_cmp);
	*out = v;
	return (int)n;
}

void lsock_inherit(struct listen_sock *s, unsigned n)
{
	pthread_mutex_lock(&reg_lock);
	inh = s;
	ninh = n;
	qsort(inh, ninh, sizeof(*inh), sock_cmp); /* worker order within each address */
	pthread_mutex_unlock(&reg_lock);
}

int lsock_take(unsigned rank, const struct cfg_addr *a)
{
	unsigned i, k = 0;
	int fd = -1;

	pthread_mutex_lock(&reg_lock);
	for (i = 0; i < ninh; i++) {
		if (inh[i].len != a->len || memcmp(&inh[i].ss, &a->ss, a->len))
			continue;
		if (k++ == rank) {
			fd = inh[i].fd;
			inh[i].fd = -1;
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	return fd;
}

unsigned lsock_inherit_close(void)
{
	unsigned i, n = 0;

	pthread_mutex_lock(&reg_lock);
	for (i = 0; i < ninh; i++)
		if (inh[i].fd >= 0) {
			close(inh[i].fd);
			n++;
		}
	free(inh);
	inh = NULL;
	ninh = 0;
	pthread_mutex_unlock(&reg_lock);
	return n;
}
