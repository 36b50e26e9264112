/* HMAC-SHA-256 (RFC 2104, FIPS 180-4) for the TCP handshake, in which the
 * program and the server each prove that they know the token without
 * sending it (docs/protocol.md). Compiled into libhotc, and into hotc
 * through lsp/hmac.c. */
#ifndef HOTC_HMAC_H
#define HOTC_HMAC_H

#include <stdbool.h>
#include <stddef.h>

#define HMAC_HEX_LEN 64

/* HMAC-SHA-256 of `msg` under `key`, as 64 lowercase hex digits and a
 * terminating NUL into `out`. */
void hmac_sha256_hex(const char *key, const char *msg, char out[HMAC_HEX_LEN + 1]);

/* Whether `given` is exactly `expected` (NULL never is), compared without
 * stopping at the first difference. */
bool hmac_equal(const char *given, const char *expected);

#endif
