/* The HTTP/1.1 reverse proxy: `mode: http` listeners. This file is the two
 * protocols' tables (the client side, http_req.c; the upstream side,
 * http_resp.c) and their registration; http-int.h says which file does
 * what.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/http/http.h"
#include "core/http/http-int.h"
#include "core/loop/ops.h"
#include "core/proto/pump.h"

static int http_worker_init(struct worker *w)
{
	struct http_worker *hw = calloc(1, sizeof(*hw));

	if (!hw)
		return -ENOMEM;
	w->pstate[http__client_id] = hw;
	return 0;
}

static void http_worker_deinit(struct worker *w)
{
	free(w->pstate[http__client_id]);
	w->pstate[http__client_id] = NULL;
}

static const struct proto_ops http_client = {
    .name = "http",
    .records = 2,
    .worker_init = http_worker_init,
    .worker_deinit = http_worker_deinit,
    .accept = http__accept,
    .reject = http__reject,
    .data = http__client_data,
    .eof = http__client_eof,
    .error = http__client_error,
    .drained = http__client_drained,
    .resume = http__client_resume,
    .drain = http__client_drain,
    .abort = pump_close_pair,
    .release = http__client_release,
};

static const struct proto_ops http_upstream = {
    .name = "http-upstream",
    .data = http__up_data,
    .eof = http__up_eof,
    .error = http__up_error,
    .drained = http__up_drained,
    .connected = http__up_connected,
    .resume = http__up_resume,
    .drain = http__up_drain,
    .abort = pump_close_pair,
    .release = http__up_release,
};

int http_register(void)
{
	http__client_id = ops_proto_add(&http_client);
	http__up_id = ops_proto_add(&http_upstream);
	if (http__client_id < 0 || http__up_id < 0)
		return -ENOSPC;
	ops_mode_set(LMODE_HTTP, http__client_id);
	return 0;
}
