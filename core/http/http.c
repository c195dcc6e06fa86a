/* The HTTP/1.1 reverse proxy: `mode: http` listeners. This file is the two
 * protocols' tables (the client side, http_req.c; the upstream side,
 * http_resp.c) and their registration; http-int.h says which file does
 * what.
 */
#include <errno.h>
#include <stdlib.h>

#include "core/http/http.h"
#include "core/http/http-int.h"
#include "core/mem/slab.h"
#include "core/loop/ops.h"
#include "core/proto/pump.h"

static const char *const head_slab_name[HTTP_WAIT_CLASSES] = {"http_head_256", "http_head_512",
                                                              "http_head_1k", "http_head_2k"};

static void http_worker_deinit(struct worker *w)
{
	struct http_worker *hw = w->pstate[http__client_id];

	if (!hw)
		return;
	slab_free(hw->ctx);
	slab_free(hw->log);
	for (int i = 0; i < HTTP_WAIT_CLASSES; i++)
		slab_free(hw->heads[i]);
	free(hw);
	w->pstate[http__client_id] = NULL;
}

/* The worker's slabs: request contexts (connection memory) and waiting
 * heads (buffer memory), on its node. */
static int http_worker_init(struct worker *w)
{
	struct http_worker *hw = calloc(1, sizeof(*hw));
	bool ok;

	if (!hw)
		return -ENOMEM;
	w->pstate[http__client_id] = hw;
	hw->ctx = slab_new("http_ctx", sizeof(struct http_ctx), ACCT_CONN, w->real_node, w->acct);
	hw->log =
	    slab_new("http_log", sizeof(struct http_log_str), ACCT_CONN, w->real_node, w->acct);
	ok = hw->ctx && hw->log;
	for (int i = 0; i < HTTP_WAIT_CLASSES; i++) {
		hw->heads[i] = slab_new(head_slab_name[i], HTTP_WAIT_MIN << i, ACCT_BUF,
		                        w->real_node, w->acct);
		ok = ok && hw->heads[i];
	}
	if (!ok) {
		http_worker_deinit(w);
		return -ENOMEM;
	}
	return 0;
}

/* The slabs' spare spans go back while the worker is idle. */
static void http_trim(struct worker *w)
{
	struct http_worker *hw = w->pstate[http__client_id];

	slab_trim(hw->ctx);
	slab_trim(hw->log);
	for (int i = 0; i < HTTP_WAIT_CLASSES; i++)
		slab_trim(hw->heads[i]);
}

static const struct proto_ops http_client = {
    .name = "http",
    .records = 2,
    .worker_init = http_worker_init,
    .worker_deinit = http_worker_deinit,
    .trim = http_trim,
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
