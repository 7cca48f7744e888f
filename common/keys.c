/* keys.c — start-up loading of the session and service keys (see keys.h). */
#include "common/keys.h"

#include "common/auth.h"
#include "common/config.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int keys_load(const struct keys_source *src, char **session_key, char **service_key)
{
    const char *err = NULL;
    *session_key = NULL;
    *service_key = NULL;
    char *session = config_read_secret(src->session_file, src->session_value, &err);
    if (!session && err) {
        log_error("Nakama session key: %s", err);
        return -1;
    }
    if (session && strcmp(session, AUTH_DEV_SESSION_KEY) == 0) {
        if (src->require_session) {
            log_error("--require-key: the configured Nakama session key is Nakama's public "
                      "development default '%s': anyone can mint tokens for it; set "
                      "session.encryption_key in Nakama to a secret and give the same value here",
                      AUTH_DEV_SESSION_KEY);
            free(session);
            return -1;
        }
        log_warn("the configured Nakama session key is Nakama's public development default "
                 "'%s': anyone can mint tokens for it (--require-key refuses it)",
                 AUTH_DEV_SESSION_KEY);
    }
    if (!session) {
        if (src->require_session) {
            log_error("--require-key: no Nakama session key configured (set "
                      "NAKAMA_SESSION_KEY_FILE, --nakama-key-file or NAKAMA_SESSION_KEY)");
            return -1;
        }
        log_warn("!!! ============================================================== !!!");
        log_warn("!!! NO NAKAMA SESSION KEY CONFIGURED: using Nakama's development     !!!");
        log_warn("!!! default '%s'. Anyone can mint tokens for it.  !!!", AUTH_DEV_SESSION_KEY);
        log_warn("!!! Set NAKAMA_SESSION_KEY_FILE (and --require-key) in production.  !!!");
        log_warn("!!! ============================================================== !!!");
        session = strdup(AUTH_DEV_SESSION_KEY);
        if (!session)
            return -1;
    }
    char *service = config_read_secret(src->service_file, src->service_value, &err);
    if (!service && err) {
        log_error("service key: %s", err);
        free(session);
        return -1;
    }
    if (service && strcmp(service, session) == 0) {
        log_error("the service key must differ from the Nakama session key");
        free(session);
        free(service);
        return -1;
    }
    if (!service)
        log_info("no service key configured: service tokens are refused");
    *session_key = session;
    *service_key = service;
    return 0;
}

int keys_set_log_level(const char *name)
{
    int level = log_level_parse(name ? name : "");
    if (level < 0) {
        fprintf(stderr, "--log-level: '%s' is not debug, info, warn or error\n", name ? name : "");
        return -1;
    }
    log_set_level((enum log_level)level);
    return 0;
}
