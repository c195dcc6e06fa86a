/* The access log: one line per HTTP request and per L4 session, written
 * off the data path.
 *
 * Each worker appends fixed-size fields and a few strings to its own ring
 * (alog_emit(): a copy and one release store, no lock, no system call but
 * a rare wake-up of the log thread when the ring is half full); when the
 * ring is full the record is dropped and counted in the worker's
 * log_dropped. One log thread per process drains every ring, formats the
 * records (afmt.c) and writes them in batches: write(2) for files and
 * stderr, sendmmsg(2) for syslog. A destination that blocks stalls only
 * the log thread: the rings fill and records are dropped, counted.
 *
 * A listener's settings are a sink (its name, format, destination),
 * built with its config snapshot and freed with it; destinations are
 * shared by path and kept open across reloads. SIGUSR2 reopens files.
 */
#ifndef RINGLB_CORE_ALOG_H
#define RINGLB_CORE_ALOG_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config-t.h"
#include "core/alog/alog-t.h"

/* Creates <n> rings of <bytes> each (rounded up to a power of two) and
 * starts the log thread. Returns 0 or -errno. */
int alog_start(unsigned n, uint64_t bytes);

/* Ring <i> of alog_start(), for worker <i>; <dropped> and <unwritten> are
 * the worker's counters (see alog-t.h). */
struct alog_ring *alog_ring(unsigned i, _Atomic uint64_t *dropped, _Atomic uint64_t *unwritten);

/* After the last producer stopped: drains every ring, writes what it can
 * (a blocked destination is given up to 2 s), stops the thread and frees
 * the rings. */
void alog_stop(void);

/* Asks the log thread to reopen every file destination (SIGUSR2); safe
 * from the control thread at any time, a no-op before alog_start(). */
void alog_reopen(void);

/* The sink of listener <name> with settings <al>, sharing the open
 * destination of the same path. <dry>: only check that the destination
 * can be written (--check). Returns NULL with a message in <why> (like
 * "cannot open \"x\": Permission denied") when it cannot. */
struct alog_sink *alog_sink_new(const char *name, const struct cfg_access_log *al, bool dry,
                                char *why, size_t len);

/* Frees <s> once no ring holds a record of it (from any thread: the log
 * thread frees it after its next pass). */
void alog_sink_free(struct alog_sink *s);

/* Appends one record to <r>: <hdr>'s fixed fields and <s>'s strings
 * (ALOG_NSTR of them). Returns 0, or -ENOBUFS when the ring is full (the
 * record is dropped and counted). */
int alog_emit(struct alog_ring *r, const struct alog_rec *hdr, const struct alog_str *s);

#endif
