/* token.c — roomstate-token: mints a Nakama-shaped session token (or a service token) for
 * trying the API with curl without running Nakama.  Development helper, not for production. */
#include "common/auth.h"
#include "common/config.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

struct token_config {
    const char *uid;
    const char *username;
    long long ttl;
    const char *key_file;
    const char *service;
    const char *service_key_file;
};

static const struct config_opt opts[] = {
    {"--uid", NULL, CONFIG_STRING, "7f0c6a52-1f8e-4c39-9a57-5d7c0e1b2a3d", 0, 0,
     offsetof(struct token_config, uid),
     "user id (a UUID, as Nakama's; also a service token's sub)"},
    {"--username", NULL, CONFIG_STRING, "player1", 0, 0, offsetof(struct token_config, username),
     "username (usn claim)"},
    {"--ttl", NULL, CONFIG_INT, "3600", -315360000, 315360000, offsetof(struct token_config, ttl),
     "seconds until exp (negative: already expired, for testing)"},
    {"--key-file", "NAKAMA_SESSION_KEY_FILE", CONFIG_STRING, NULL, 0, 0,
     offsetof(struct token_config, key_file),
     "file holding Nakama's session.encryption_key (or the key itself in env NAKAMA_SESSION_KEY; "
     "default: Nakama's dev key defaultencryptionkey)"},
    {"--service", NULL, CONFIG_STRING, NULL, 0, 0, offsetof(struct token_config, service),
     "mint a service token with this svc claim instead (sub = --uid unless --uid '')"},
    {"--service-key-file", "ROOMSTATE_SERVICE_KEY_FILE", CONFIG_STRING, NULL, 0, 0,
     offsetof(struct token_config, service_key_file),
     "file holding the service key (or the key itself in env ROOMSTATE_SERVICE_KEY)"},
};

int main(int argc, char **argv)
{
    struct token_config cfg = {0};
    int ex = config_exit_code(
        config_parse(opts, sizeof opts / sizeof opts[0], &cfg, argc, argv,
                     "usage: roomstate-token [--uid UUID] [--username NAME] [--ttl SECONDS]\n"
                     "       roomstate-token --service NAME [--uid UUID] [--ttl SECONDS]\n"
                     "Prints an HS256 token on stdout.  Keys come from files (--key-file,\n"
                     "--service-key-file) or the environment (NAKAMA_SESSION_KEY,\n"
                     "ROOMSTATE_SERVICE_KEY), never from the command line.",
                     NULL, 0, NULL));
    if (ex >= 0)
        return ex;
    const char *err = NULL;
    int64_t now = (int64_t)time(NULL);
    char *tok;
    if (cfg.service) {
        char *key = config_read_secret(cfg.service_key_file, getenv("ROOMSTATE_SERVICE_KEY"), &err);
        if (!key) {
            fprintf(stderr, "roomstate-token: %s\n",
                    err ? err
                        : "a service token needs ROOMSTATE_SERVICE_KEY or --service-key-file");
            return 2;
        }
        tok = auth_mint_service(key, cfg.service, cfg.uid, now, now + cfg.ttl);
        free(key);
    } else {
        char *key = config_read_secret(cfg.key_file, getenv("NAKAMA_SESSION_KEY"), &err);
        if (err) {
            fprintf(stderr, "roomstate-token: %s\n", err);
            return 2;
        }
        tok = auth_mint_session(key ? key : AUTH_DEV_SESSION_KEY, cfg.uid, cfg.username, now,
                                now + cfg.ttl);
        free(key);
    }
    if (!tok) {
        fprintf(stderr, "roomstate-token: could not mint a token\n");
        return 1;
    }
    printf("%s\n", tok);
    free(tok);
    return 0;
}
