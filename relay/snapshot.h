/* snapshot.h — a room's registry cut into SNAPSHOT_CHUNK frames of at most a bound (16 KiB
 * by default) and a SNAPSHOT_DONE, encoded once and shared by every peer that asks while
 * the registry is unchanged; kept by each peer for a while so missing chunks can be
 * re-requested.
 *   chunk: {"op":41,"snapshot":S,"index":i,"count":n,"manifests":{id:{"properties":…}},
 *           "objects":[object…]}   (manifests first, then objects in spawn order; n >= 1)
 *   done:  {"op":42,"snapshot":S,"chunks":n,"objects":k,"manifests":m,"watermark":W} */
#ifndef ROOMSTATE_RELAY_SNAPSHOT_H
#define ROOMSTATE_RELAY_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "relay/registry.h"

struct relay_msg;
struct msg_pool;

struct relay_snapshot {
    unsigned refs;
    uint64_t id, watermark;
    size_t nchunks, nobjects, nmanifests;
    struct relay_msg **chunks;
    struct relay_msg *done;
};

/* Room for the chunk envelope: no single object or manifest may encode to more than
 * frame_bytes - SNAPSHOT_ENVELOPE_BYTES. */
#define SNAPSHOT_ENVELOPE_BYTES 160

/* Builds the snapshot of r.  NULL when out of memory or an item does not fit a frame. */
struct relay_snapshot *snapshot_build(const struct registry *r, const char *host_id, uint64_t id,
                                      uint64_t watermark, size_t frame_bytes,
                                      struct msg_pool *pool);
struct relay_snapshot *snapshot_ref(struct relay_snapshot *s);
void snapshot_unref(struct relay_snapshot *s);

#endif
