/* b64.h — base64url (RFC 4648 §5) without padding, as JWTs use it. */
#ifndef ROOMSTATE_B64_H
#define ROOMSTATE_B64_H

#include <stddef.h>

/* Decodes len bytes of base64url (padding '=' tolerated at the end) into out, which must
 * hold at least b64url_decoded_max(len) bytes.  Returns the decoded length or -1 when the
 * input holds a character outside the alphabet or has an impossible length. */
long b64url_decode(const char *in, size_t len, unsigned char *out);
static inline size_t b64url_decoded_max(size_t len)
{
    return len / 4 * 3 + 3;
}

/* Encodes len bytes into out (at least b64url_encoded_len(len) + 1 bytes), NUL-terminated,
 * no padding.  Returns the encoded length. */
size_t b64url_encode(const unsigned char *in, size_t len, char *out);
static inline size_t b64url_encoded_len(size_t len)
{
    return (len * 4 + 2) / 3;
}

#endif
