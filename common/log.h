/* log.h — one line per event on stderr, with a level filter set once at start-up.
 * Never log tokens or request bodies: lengths and ids only. */
#ifndef ROOMSTATE_LOG_H
#define ROOMSTATE_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Parses "debug", "info", "warn", "error"; returns -1 for anything else. */
int log_level_parse(const char *name);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Writes "2026-11-25T11:30:00.123Z LEVEL message\n" atomically (one write). */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
/* A broken invariant: logged at error with file:line. */
#define log_bug(fmt, ...) log_msg(LOG_ERROR, "BUG %s:%d: " fmt, __FILE__, __LINE__, ##__VA_ARGS__)

#endif
