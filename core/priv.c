/* Dropping root after the listeners are bound, and what a reload may still
 * do afterwards.
 *
 * glibc applies setgroups/setresgid/setresuid to every thread it created
 * (the workers are running by now), so the whole process changes at once.
 * The io_uring worker threads the kernel made for the rings (iou-wrk-*)
 * are not glibc's and keep the credentials they were made with, but they
 * run each request with the credentials of the thread that submitted it
 * (io_uring captures them at submission), so nothing runs as root.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/base/log.h"
#include "core/priv.h"

/* The effective, permitted and inheritable sets of the calling thread
 * (capget(2) without libcap), or -errno. */
static int priv_caps(uint64_t *eff, uint64_t *prm, uint64_t *inh)
{
	struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	*prm = d[0].permitted | (uint64_t)d[1].permitted << 32;
	*inh = d[0].inheritable | (uint64_t)d[1].inheritable << 32;
	return 0;
}

/* After the drop: every id is the target, uid 0 does not come back and no
 * capability is left (the kernel clears them on leaving uid 0, unless
 * SECBIT_KEEP_CAPS was set: we check rather than trust). */
static int priv_verify(const struct config *cfg)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	uint64_t eff, prm, inh;

	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		return -errno;
	if (ru != cfg->uid || eu != cfg->uid || su != cfg->uid || rg != cfg->gid ||
	    eg != cfg->gid || sg != cfg->gid) {
		log_err("user %s: ids after the drop are uid %u/%u/%u gid %u/%u/%u", cfg->user, ru,
		        eu, su, rg, eg, sg);
		return -EPERM;
	}
	if (cfg->uid == 0)
		return 0;
	if (setuid(0) == 0 || seteuid(0) == 0) {
		log_err("user %s: uid 0 could be regained after the drop", cfg->user);
		return -EPERM;
	}
	if (priv_caps(&eff, &prm, &inh) < 0 || eff || prm || inh ||
	    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_BIND_SERVICE, 0, 0) == 1) {
		log_err(
		    "user %s: capabilities left after the drop (effective %#llx permitted %#llx)",
		    cfg->user, (unsigned long long)eff, (unsigned long long)prm);
		return -EPERM;
	}
	return 0;
}

static const char *priv_group_name(const struct config *cfg, char *buf, size_t len)
{
	struct group gr, *g = NULL;
	char tmp[4096];

	if (cfg->group)
		return cfg->group;
	if (getgrgid_r(cfg->gid, &gr, tmp, sizeof(tmp), &g) == 0 && g)
		snprintf(buf, len, "%s", g->gr_name);
	else
		snprintf(buf, len, "%u", cfg->gid);
	return buf;
}

int priv_drop(const struct config *cfg)
{
	char gname[64];
	const char *group;
	int ret;

	if (!cfg->user)
		return 0;
	group = priv_group_name(cfg, gname, sizeof(gname));
	if (getuid() == cfg->uid && geteuid() == cfg->uid && getgid() == cfg->gid &&
	    getegid() == cfg->gid && cfg->uid != 0) {
		log_info("user %s group %s: already running as them", cfg->user, group);
		return 0;
	}
	if (geteuid() != 0) {
		log_err(
		    "user %s: switching to it needs root, and ringlb runs as uid %u (start it as "
		    "root, or leave user: unset)",
		    cfg->user, geteuid());
		return -EPERM;
	}
	if (initgroups(cfg->user, cfg->gid) < 0 || setresgid(cfg->gid, cfg->gid, cfg->gid) < 0 ||
	    setresuid(cfg->uid, cfg->uid, cfg->uid) < 0) {
		ret = -errno;
		log_err("user %s group %s: %s", cfg->user, group, strerror(-ret));
		return ret;
	}
	ret = priv_verify(cfg);
	if (ret < 0)
		return ret;
	log_info("user %s group %s: running as uid=%u gid=%u, no capabilities", cfg->user, group,
	         cfg->uid, cfg->gid);
	return 0;
}

/* net.ipv4.ip_unprivileged_port_start (also IPv6's), 1024 when unreadable. */
static unsigned priv_low_ports(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "re");
	unsigned v = 1024;

	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 1024;
		fclose(f);
	}
	return v;
}

static unsigned priv_port(const struct cfg_addr *a)
{
	if (a->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
	return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
}

/* Whether <run> has the listener <l> as the workers take a socket over. */
static bool priv_kept(const struct config *run, const struct cfg_listener *l)
{
	for (unsigned i = 0; i < run->nlisteners; i++) {
		const struct cfg_listener *o = &run->listeners[i];

		if (o->mode == l->mode && strcmp(o->name, l->name) == 0 &&
		    o->bind.len == l->bind.len &&
		    memcmp(&o->bind.ss, &l->bind.ss, l->bind.len) == 0)
			return true;
	}
	return false;
}

static bool priv_same(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

int priv_reload_check(const struct config *run, const struct config *next)
{
	uint64_t eff = 0, prm, inh;
	unsigned low;

	if (!priv_same(run->user, next->user) || !priv_same(run->group, next->group))
		log_warn(
		    "reload: a change of user or group applies at the next start: ringlb keeps "
		    "the uid %u and gid %u it runs as",
		    geteuid(), getegid());
	if (priv_caps(&eff, &prm, &inh) == 0 && (eff & (1ull << CAP_NET_BIND_SERVICE)))
		return 0;
	low = priv_low_ports();
	for (unsigned i = 0; i < next->nlisteners; i++) {
		const struct cfg_listener *l = &next->listeners[i];

		if (priv_port(&l->bind) >= low || priv_kept(run, l))
			continue;
		log_err(
		    "reload generation=%llu: listener %s: bind %s: a port below %u needs root or "
		    "CAP_NET_BIND_SERVICE, and ringlb runs as %s%s%suid %u since start "
		    "(restart it to bind this port)",
		    (unsigned long long)run->generation + 1, l->name, l->bind.text, low,
		    run->user ? "user " : "", run->user ? run->user : "", run->user ? " " : "",
		    geteuid());
		return -EPERM;
	}
	return 0;
}
