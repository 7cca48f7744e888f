/* config.c — descriptor-table driven flags and environment variables. */
#include "common/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int set_value(const struct config_opt *o, void *cfg, const char *val, const char *src)
{
    char *field = (char *)cfg + o->offset;
    switch (o->type) {
    case CONFIG_STRING:
        *(const char **)field = val;
        return 0;
    case CONFIG_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(val, &end, 10);
        if (errno || end == val || *end != '\0') {
            fprintf(stderr, "%s: '%s' is not an integer (%s)\n", o->flag, val, src);
            return -1;
        }
        if (v < o->min || v > o->max) {
            fprintf(stderr, "%s: %lld is outside %lld..%lld (%s)\n", o->flag, v, o->min, o->max,
                    src);
            return -1;
        }
        *(long long *)field = v;
        return 0;
    }
    case CONFIG_BOOL:
        if (!strcmp(val, "1") || !strcmp(val, "true") || !strcmp(val, "yes") ||
            !strcmp(val, "on")) {
            *(bool *)field = true;
        } else if (!strcmp(val, "0") || !strcmp(val, "false") || !strcmp(val, "no") ||
                   !strcmp(val, "off") || !strcmp(val, "")) {
            *(bool *)field = false;
        } else {
            fprintf(stderr, "%s: '%s' is not a boolean (%s)\n", o->flag, val, src);
            return -1;
        }
        return 0;
    }
    return -1;
}

int config_exit_code(enum config_result r)
{
    switch (r) {
    case CONFIG_OK:
        return -1;
    case CONFIG_HELP:
        return 0;
    case CONFIG_ERROR:
        break;
    }
    return 2;
}

void config_print_help(const struct config_opt *opts, size_t nopts, const char *usage)
{
    printf("%s\n\nOptions (flag, environment variable, default):\n", usage);
    for (size_t i = 0; i < nopts; i++) {
        const struct config_opt *o = &opts[i];
        printf("  %s%s\n      %s\n      env %s, default %s\n", o->flag,
               o->type == CONFIG_BOOL ? "" : " VALUE", o->help, o->env ? o->env : "-",
               o->def ? (o->def[0] ? o->def : "\"\"") : "none");
    }
    printf("  --help\n      print this help and exit\n");
}

enum config_result config_parse(const struct config_opt *opts, size_t nopts, void *cfg, int argc,
                                char **argv, const char *usage, const char **positional,
                                int max_positional, int *npositional)
{
    if (npositional)
        *npositional = 0;
    for (size_t i = 0; i < nopts; i++) {
        const struct config_opt *o = &opts[i];
        if (o->def && set_value(o, cfg, o->def, "default"))
            return CONFIG_ERROR;
        const char *ev = o->env ? getenv(o->env) : NULL;
        if (ev && set_value(o, cfg, ev, o->env))
            return CONFIG_ERROR;
    }
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            config_print_help(opts, nopts, usage);
            return CONFIG_HELP;
        }
        if (strncmp(arg, "--", 2) != 0) {
            if (!positional || *npositional >= max_positional) {
                fprintf(stderr, "unexpected argument '%s' (see --help)\n", arg);
                return CONFIG_ERROR;
            }
            positional[(*npositional)++] = arg;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t namelen = eq ? (size_t)(eq - arg) : strlen(arg);
        const struct config_opt *o = NULL;
        for (size_t i = 0; i < nopts; i++)
            if (strlen(opts[i].flag) == namelen && !strncmp(opts[i].flag, arg, namelen))
                o = &opts[i];
        if (!o) {
            fprintf(stderr, "unknown option '%.*s' (see --help)\n", (int)namelen, arg);
            return CONFIG_ERROR;
        }
        const char *val;
        if (eq) {
            val = eq + 1;
        } else if (o->type == CONFIG_BOOL) {
            val = "1";
        } else if (a + 1 < argc) {
            val = argv[++a];
        } else {
            fprintf(stderr, "%s needs a value (see --help)\n", o->flag);
            return CONFIG_ERROR;
        }
        if (set_value(o, cfg, val, "command line"))
            return CONFIG_ERROR;
    }
    return CONFIG_OK;
}

int config_split_hostport(const char *s, char *host, size_t host_size, int *port)
{
    const char *colon;
    const char *h = s;
    size_t hl;
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');
        if (!rb || rb[1] != ':')
            return -1;
        h = s + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= host_size)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p < 1 || p > 65535)
        return -1;
    *port = (int)p;
    return 0;
}

char *config_read_secret(const char *path, const char *value, const char **err)
{
    *err = NULL;
    char *out = NULL;
    size_t len = 0;
    if (path && *path) {
        FILE *f = fopen(path, "rb");
        if (!f) {
            *err = "cannot open the key file";
            return NULL;
        }
        out = malloc(4097);
        if (!out) {
            fclose(f);
            *err = "out of memory";
            return NULL;
        }
        len = fread(out, 1, 4097, f);
        fclose(f);
        if (len > 4096) {
            free(out);
            *err = "key file is over 4096 bytes";
            return NULL;
        }
        out[len] = '\0';
    } else if (value && *value) {
        len = strlen(value);
        if (len > 4096) {
            *err = "key is over 4096 bytes";
            return NULL;
        }
        out = strdup(value);
        if (!out) {
            *err = "out of memory";
            return NULL;
        }
    } else {
        return NULL;
    }
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
        out[--len] = '\0';
    if (len == 0) {
        free(out);
        *err = "key is empty";
        return NULL;
    }
    return out;
}
