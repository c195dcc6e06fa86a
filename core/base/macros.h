/* Small macros every module may use (no functions: not a module). */
#ifndef RINGLB_CORE_MACROS_H
#define RINGLB_CORE_MACROS_H

#include <stddef.h>

/* The struct <type> whose <member> is at <p>. */
#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

#endif
