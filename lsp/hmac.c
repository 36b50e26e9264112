/* HMAC-SHA-256 for the TCP handshake (lsp/link.c): the runtime's own
 * implementation, compiled into hotc too, so that both sides compute the
 * proofs with the same code (runtime/hmac.h). */
#include "../runtime/hmac.c"
