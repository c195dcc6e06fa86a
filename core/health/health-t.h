/* Health checks: constants only (health.h). */
#ifndef RINGLB_CORE_HEALTH_T_H
#define RINGLB_CORE_HEALTH_T_H

/* user_data of the control ring's operations that belong to health checks
 * carry this in their low 3 bits (the rest is a pointer). */
#define HEALTH_UD_TAG  0x2ull
#define HEALTH_UD_MASK 0x7ull

#endif
