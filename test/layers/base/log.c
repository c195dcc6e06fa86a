#include <stdio.h>

#include "base/log.h"

void log_msg(const char *msg)
{
	fprintf(stderr, "%s\n", msg);
}
