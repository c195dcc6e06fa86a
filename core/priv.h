/* Privileges: ringlb binds its listeners as whoever started it (root, for
 * ports below 1024), then runs as the config's user: and group:, keeping no
 * capability. A reload runs with what is left, so it refuses a config that
 * needs a new port it can no longer bind.
 */
#ifndef RINGLB_CORE_PRIV_H
#define RINGLB_CORE_PRIV_H

#include "config/config.h"

/* Becomes <cfg>'s user and group (ids looked up when the config was
 * validated) in every thread of the process: the user's supplementary
 * groups (initgroups), then real, effective and saved gid, then uid. Checks
 * afterwards that uid 0 cannot be regained and that no capability is left.
 * Nothing to do without user:, or when already running as them (systemd's
 * User=). Returns 0, or -errno after logging one error line (not root,
 * a call that failed, a privilege still there). */
int priv_drop(const struct config *cfg);

/* Before reload publishes <next> over <run>: a listener of <next> on a port
 * below net.ipv4.ip_unprivileged_port_start that <run> does not already
 * have (same name, mode and address: its socket is taken over) needs
 * CAP_NET_BIND_SERVICE, which a process that dropped to its user: no longer
 * has. Returns 0, or -EPERM after logging which listener and why. A change
 * of user: or group: is logged as needing a restart (it does not fail). */
int priv_reload_check(const struct config *run, const struct config *next);

#endif
