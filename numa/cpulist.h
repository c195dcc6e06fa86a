/* CPU and node lists as operators write them: "0-7,16-23", "0,1", "3". */
#ifndef RINGLB_NUMA_CPULIST_H
#define RINGLB_NUMA_CPULIST_H

#include <sched.h>
#include <stddef.h>

/* Parses <s> into <set> (cleared first). Ranges are inclusive, ascending,
 * entries below CPU_SETSIZE. Returns 0, or -EINVAL with a message naming
 * the bad part in <err>. */
int cpulist_parse(const char *s, cpu_set_t *set, char *err, size_t errlen);

/* Writes <set> in the same format ("0-3,8"). Returns the length written. */
size_t cpulist_format(const cpu_set_t *set, char *buf, size_t len);

#endif
