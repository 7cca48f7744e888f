/* ws_token.c — the credential of a WebSocket handshake (see ws_token.h). */
#include "relay/ws_token.h"

#include "common/clock.h"

#include <stdlib.h>
#include <string.h>

/* The ?token= arguments: how many, and the first one's value at buf + 6 (buf: alen + 1
 * bytes, enough for any argument). */
static int token_args(struct lws *wsi, char *buf, int alen, size_t *tlen, bool *too_large)
{
    int count = 0;
    size_t first_len = 0;
    for (int i = 0; i < 255; i++) {
        int flen = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (flen <= 0)
            break;
        int n = lws_hdr_copy_fragment(wsi, buf, alen + 1, WSI_TOKEN_HTTP_URI_ARGS, i);
        if (n < 5 || strncmp(buf, "token", 5) != 0 || (n > 5 && buf[5] != '='))
            continue;
        if (++count == 1) {
            first_len = n > 6 ? (size_t)n - 6 : 0;
            *too_large = flen >= WS_TOKEN_HDR_LIMIT;
        }
    }
    if (count == 1) { /* copy the first one back into buf */
        for (int i = 0; i < 255; i++) {
            int n = lws_hdr_copy_fragment(wsi, buf, alen + 1, WSI_TOKEN_HTTP_URI_ARGS, i);
            if (n < 0)
                break;
            if (n >= 5 && !strncmp(buf, "token", 5) && (n == 5 || buf[5] == '='))
                break;
        }
    }
    *tlen = first_len;
    return count;
}

/* Finds the token: the Authorization header or ?token=, exactly one of them, once (RFC 6750
 * §2: one method per request; a second credential is refused, never chosen between).
 * Returns the auth result, or WS_TOKEN_CUT for a credential lws cut (431); AUTH_REPEATED is
 * answered 400. */
enum auth_result ws_check_token(struct lws *wsi, const struct auth_keys *keys_in,
                                struct auth_identity *id)
{
    enum auth_result r = AUTH_MISSING;
    char *buf = NULL;
    int hlen = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION);
    int alen = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
    int64_t now_s = clock_wall_ms() / 1000;
    struct auth_keys keys = *keys_in;
    /* two Authorization headers are stored as fragments of one */
    bool two_headers =
        hlen > 0 && lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_AUTHORIZATION, 1) > 0;
    size_t tlen = 0;
    bool arg_too_large = false;
    int nargs = 0;
    if (alen > 0) {
        buf = malloc((size_t)alen + 1);
        if (!buf)
            return AUTH_MALFORMED;
        nargs = token_args(wsi, buf, alen, &tlen, &arg_too_large);
    }
    if (two_headers || nargs > 1 || (hlen > 0 && nargs > 0)) {
        r = AUTH_REPEATED;
    } else if (hlen >= WS_TOKEN_HDR_LIMIT || arg_too_large) {
        r = WS_TOKEN_CUT;
    } else if (hlen > 0) {
        char *hdr = malloc((size_t)hlen + 1);
        if (!hdr || lws_hdr_copy(wsi, hdr, hlen + 1, WSI_TOKEN_HTTP_AUTHORIZATION) < 0)
            r = AUTH_MALFORMED;
        else
            r = auth_verify_bearer(&keys, hdr, now_s, id);
        free(hdr);
    } else if (nargs == 1) {
        r = tlen == 0 ? AUTH_MISSING : auth_verify_token(&keys, buf + 6, tlen, now_s, id);
    }
    free(buf);
    return r;
}
