/* Fixture: the lowest module. */
#ifndef FIXTURE_BASE_LOG_H
#define FIXTURE_BASE_LOG_H

void log_msg(const char *msg);

#endif
