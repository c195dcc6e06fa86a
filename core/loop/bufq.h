/* Out queues: the bytes waiting to be written to a connection's socket, as
 * a list of buffer descriptors (struct buf) over pool buffers or memory the
 * caller keeps alive; and the worker's pool of splice pipes. Descriptors
 * come from a per-worker free list charged to the accountant's buffer
 * component.
 */
#ifndef RINGLB_CORE_BUFQ_H
#define RINGLB_CORE_BUFQ_H

#include "core/loop/worker-t.h"

/* Makes sure a descriptor is free for every buffer in the provided ring
 * plus one, so a received buffer can always be queued. 0 or -ENOMEM. */
int bufq_spare(struct worker *w);

/* Queues <len> bytes of pool buffer <data>, written up to <used> (its
 * zeroing prefix), on <c>'s out queue; small writes are copied into the
 * room left in the last buffer. The queue owns <data> from here (it is
 * given back on failure). Returns 0 or -ENOMEM. */
int bufq_queue(struct worker *w, struct conn *c, char *data, uint32_t len, uint32_t used);
/* bufq_queue() onto the detached queue <q> (a transport's own: TLS holds
 * ciphertext and plaintext aside); the caller counts the bytes. */
int bufq_queue_to(struct worker *w, struct bufq *q, char *data, uint32_t len, uint32_t used);
/* Takes, into the detached queue <rsv>, the buffers of class <cls> (with
 * their descriptors) that appending <len> bytes to <c>'s queue would need
 * past the room in its last buffer, so the append cannot be refused (a TLS
 * record, once made, must go out). 0, or -ENOMEM with nothing taken; what
 * is left after the append goes back with bufq_drop_q(). */
int bufq_reserve(struct worker *w, const struct conn *c, size_t len, int cls, struct bufq *rsv);
/* Copies <len> bytes to the end of <c>'s queue: into the room left in its
 * last pool buffer (which may be in flight: the next send takes the rest),
 * then into buffers reserved in <rsv> (NULL: none) and after those new
 * ones of class <cls>, so a run of small writes (TLS records) packs
 * densely. 0 or -ENOMEM (what was copied stays queued). */
int bufq_append(struct worker *w, struct conn *c, const char *data, size_t len, int cls,
                struct bufq *rsv);
/* Queues a reference to <len> bytes at <data> that outlive the send;
 * <flags> BUF_F_MORE: sent with MSG_MORE. 0 or -ENOMEM. */
int bufq_queue_ref(struct worker *w, struct conn *c, const char *data, uint32_t len,
                   uint32_t flags);
/* bufq_queue_ref() onto the detached queue <q>. */
int bufq_queue_ref_to(struct worker *w, struct bufq *q, const char *data, uint32_t len,
                      uint32_t flags);
/* Queues <len> bytes at <data> with the descriptor <b>: both are the
 * caller's, alive and unchanged until sent or dropped, so queueing needs
 * nothing the accountant could refuse (the admin endpoint answers at the
 * memory limit). Plain TCP only: it bypasses the transport. Returns 0. */
int bufq_queue_own(struct worker *w, struct conn *c, struct buf *b, const char *data, uint32_t len);
/* Accounts <res> bytes sent from the head of <c>'s queue, giving back the
 * buffers that are done. */
void bufq_sent(struct worker *w, struct conn *c, uint32_t res);
/* Gives back everything queued on <c>. */
void bufq_drop(struct worker *w, struct conn *c);
/* Gives back every buffer of the detached queue <q>. */
void bufq_drop_q(struct worker *w, struct bufq *q);
/* Gives back the buffer at the head of <q> (not empty). */
void bufq_pop(struct worker *w, struct bufq *q);
/* Moves <from>'s queue to <to> (whose queue is empty). */
void bufq_move(struct conn *to, struct conn *from);

/* Every memory_cleanup_interval (worker.c's cleanup): descriptors beyond
 * what the ring needs go back, pooled pipes unused since the last run are
 * closed, and the worker's pool cache is flushed to the node's pool. */
void bufq_trim(struct worker *w);
/* Frees every free descriptor (worker teardown). */
void bufq_deinit(struct worker *w);

/* A splice pipe from the worker's pool (at most pipes_max), or NULL. */
struct pipe_pair *bufq_pipe_get(struct worker *w);
/* Gives <pp> back: pooled when empty, closed when bytes are left in it. */
void bufq_pipe_put(struct worker *w, struct pipe_pair *pp);
/* Closes every pooled pipe (worker teardown). */
void bufq_pipe_deinit(struct worker *w);

#endif
