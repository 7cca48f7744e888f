/* config.h — one descriptor table per program: flag, environment variable, type, default,
 * bounds and help.  --help, parsing and validation all come from the table.  The flag wins
 * over the environment, which wins over the default.  The parsed struct is read-only after
 * start-up: pass it as `const struct ... *`. */
#ifndef ROOMSTATE_CONFIG_H
#define ROOMSTATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum config_type {
    CONFIG_STRING, /* field: const char * (points into argv, environ or the default) */
    CONFIG_INT,    /* field: long long, within [min, max] */
    CONFIG_BOOL,   /* field: bool; a flag without value sets it; env accepts 1/0/true/false */
};

struct config_opt {
    const char *flag; /* "--listen" */
    const char *env;  /* "ROOMSTATE_LISTEN", or NULL */
    enum config_type type;
    const char *def; /* default as text, NULL for none */
    long long min, max;
    size_t offset; /* offsetof(struct your_config, field) */
    const char *help;
};

enum config_result { CONFIG_OK = 0, CONFIG_HELP, CONFIG_ERROR };

/* Fills cfg from defaults, environment and argv.  Arguments that are not options are
 * returned in positional[] (up to max_positional; more is an error).  On CONFIG_HELP the
 * help text was printed to stdout; on CONFIG_ERROR a message was printed to stderr. */
enum config_result config_parse(const struct config_opt *opts, size_t nopts, void *cfg, int argc,
                                char **argv, const char *usage, const char **positional,
                                int max_positional, int *npositional)
    __attribute__((warn_unused_result));

/* For main(): the exit code a result calls for (0 after --help, 2 on an error), or -1 to go
 * on.  Usage: int ex = config_exit_code(config_parse(...)); if (ex >= 0) return ex; */
int config_exit_code(enum config_result r);

void config_print_help(const struct config_opt *opts, size_t nopts, const char *usage);

/* Splits "HOST:PORT" ("[::1]:80" too) into host (NUL-terminated, host_size bytes) and port.
 * Returns 0, or -1 when malformed or the port is not 1..65535. */
int config_split_hostport(const char *s, char *host, size_t host_size, int *port);

/* Reads a secret: the whole file at path when path is set, else the value of value.
 * Trailing CR/LF are stripped.  Returns a malloc'd NUL-terminated string the caller
 * frees, or NULL (with *err set to a static message) when the file cannot be read, is
 * empty, or is over 4096 bytes.  Returns NULL with *err NULL when neither is set. */
char *config_read_secret(const char *path, const char *value, const char **err);

#endif
