/* keys.h — loading the bearer-token keys at start-up, the same way in every program:
 * the Nakama session key (file wins over value; with neither, Nakama's development default
 * with a loud warning, or a refusal under --require-key) and the optional service key
 * (never equal to the session key).  A configured session key equal to Nakama's public
 * development default is refused under --require-key (warned about otherwise). */
#ifndef ROOMSTATE_KEYS_H
#define ROOMSTATE_KEYS_H

#include <stdbool.h>

struct keys_source {
    const char *session_file;  /* --nakama-key-file / NAKAMA_SESSION_KEY_FILE */
    const char *session_value; /* NAKAMA_SESSION_KEY */
    bool require_session;      /* --require-key */
    const char *service_file;  /* --service-key-file / ROOMSTATE_SERVICE_KEY_FILE */
    const char *service_value; /* ROOMSTATE_SERVICE_KEY */
};

/* Sets *session_key (always, on success) and *service_key (NULL when none), malloc'd: the
 * caller frees both.  Returns 0, or -1 after logging why (nothing to free then). */
int keys_load(const struct keys_source *src, char **session_key, char **service_key)
    __attribute__((warn_unused_result));

/* Sets the log level from its name; prints an error and returns -1 for an unknown one. */
int keys_set_log_level(const char *name) __attribute__((warn_unused_result));

#endif
