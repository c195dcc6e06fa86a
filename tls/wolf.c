/* The one file that reaches into wolfSSL's internals (wolfssl/internal.h
 * of the version the Makefile pins, installed beside the public headers by
 * tools/build-wolfssl.sh): what an established server WOLFSSL keeps that
 * it will not use again, released; and a TLS 1.2 ticket renewed.
 *
 * wolfSSL frees most handshake state itself (FreeHandshakeResources()). It
 * keeps two things a server connection never needs after its handshake
 * here, measured at about 800 bytes of its ~3.2 KB:
 * - the TLS extensions list (the client's key shares, groups, versions,
 *   ALPN...) and a copy of the client's ALPN list, kept "for
 *   post-handshake querying": the negotiated ALPN is
 *   read before (tls/conn.c keeps it), SNI is kept by tls/conn.c too. The
 *   renegotiation_info state points into that list and is dropped with it:
 *   this build has no renegotiation (a client asking gets an alert).
 * - with TLS 1.3, the DRBG, kept to issue more session tickets later,
 *   which ringlb never does; TLS 1.3 records need no randomness (TLS 1.2's
 *   AES-GCM explicit nonces do: there it stays). A call that would still
 *   want it fails cleanly (wc_RNG_GenerateBlock() refuses a NULL
 *   generator), it does not crash.
 */
#include "tls/tls-int.h"

#include <wolfssl/internal.h>

void tls__trim(WOLFSSL *ssl)
{
	TLSX_FreeAll(ssl->extensions, ssl->heap);
	ssl->extensions = NULL;
#if defined(HAVE_SECURE_RENEGOTIATION) || defined(HAVE_SERVER_RENEGOTIATION_INFO)
	ssl->secure_renegotiation = NULL;
#endif
#ifdef HAVE_ALPN
	XFREE(ssl->alpn_peer_requested, ssl->heap, DYNAMIC_TYPE_ALPN);
	ssl->alpn_peer_requested = NULL;
	ssl->alpn_peer_requested_length = 0;
#endif
	if (ssl->options.tls1_3 && ssl->options.weOwnRng && ssl->rng) {
		wc_FreeRng(ssl->rng);
		XFREE(ssl->rng, ssl->heap, DYNAMIC_TYPE_RNG);
		ssl->rng = NULL;
		ssl->options.weOwnRng = 0;
	}
}

/* wolfSSL 5.5.4 documents WOLFSSL_TICKET_RET_CREATE from the ticket
 * callback as "resume, and send a new ticket", but DoDecryptTicket() turns
 * it into a plain 0 before TLSX_SessionTicket_Parse() looks at it, so the
 * client keeps its old ticket. This does what that parse does for CREATE:
 * answer the ticket extension and issue a ticket. It runs inside the parse
 * (the callback is called from it), where the parse would have run it. */
void tls__ticket_renew(WOLFSSL *ssl)
{
	TLSX *ext;

	if (!ssl || TLSX_UseSessionTicket(&ssl->extensions, NULL, ssl->heap) != WOLFSSL_SUCCESS)
		return; /* the client keeps its ticket, which still resumes for an interval */
	ext = TLSX_Find(ssl->extensions, TLSX_SESSION_TICKET);
	if (ext)
		ext->resp = 1;
	ssl->options.createTicket = 1;
}
