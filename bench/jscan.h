/* jscan.h — a small single-pass scanner for the relay's JSON frames (bench/ only).
 *
 * A frame is one message object or a JSON array of message objects.  For each object the
 * scanner picks the top-level keys the load generator needs (op, seq, t, c, epoch, from, code,
 * object_id) and
 * skips every other value without building anything, so reading a delivery costs one pass
 * over its bytes.  It never reads past the given length.  It checks structure (quotes,
 * brackets, separators) but is not a full validator: numbers and literals are only
 * checked where they are read. */
#ifndef ROOMSTATE_BENCH_JSCAN_H
#define ROOMSTATE_BENCH_JSCAN_H

#include <stdbool.h>
#include <stddef.h>

struct jscan_msg {
    long long op, seq, c, epoch;
    double t;
    bool has_op, has_seq, has_c, has_t, has_epoch;
    /* raw bytes between the quotes (escapes not decoded) */
    const char *from, *code, *object_id;
    size_t from_len, code_len, object_id_len;
};

/* Called once per message object; return 0 to go on, non-zero to stop. */
typedef int (*jscan_fn)(void *arg, const struct jscan_msg *m);

/* Scans a frame.  Returns the number of messages seen, or -1 when the frame is malformed
 * (messages before the fault were already passed to fn). */
int jscan_frame(const char *p, size_t len, jscan_fn fn, void *arg);

#endif
