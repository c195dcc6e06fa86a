/* systemd's readiness protocol (sd_notify(3), libsystemd): what the
 * control thread tells the service manager at start, around each reload and
 * at shutdown. Without $NOTIFY_SOCKET every call does nothing.
 */
#ifndef RINGLB_CORE_NOTIFY_H
#define RINGLB_CORE_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"

/* READY=1 with STATUS= naming <cfg>'s generation, its listeners and the
 * <nworkers> workers: after the ready line at start, and after a reload,
 * when <reload_failed> adds that the running config stayed. */
void notify_ready(const struct config *cfg, unsigned nworkers, bool reload_failed);
/* MAINPID= this process, READY=1 and STATUS=: a process started by
 * `ringlb --upgrade` is ready and takes the old one's place (systemd needs
 * NotifyAccess=all to take it from a process that is not the main one). */
void notify_mainpid(const struct config *cfg, unsigned nworkers);
/* RELOADING=1 with MONOTONIC_USEC= (what Type=notify-reload, systemd 253
 * on, asks for; 252 ignores it) and STATUS=: a reload to generation <gen>
 * begins. notify_ready() must follow. */
void notify_reloading(uint64_t gen);
/* STOPPING=1 and STATUS=, and EXTEND_TIMEOUT_USEC= covering the longest
 * drain of <cfg>'s listeners, so a stop timeout shorter than the drain
 * does not kill connections still finishing. */
void notify_stopping(const struct config *cfg);

#endif
