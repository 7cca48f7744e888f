/* registry.h — one room's object registry and replication manifests (docs/relay-protocol.md,
 * "Registry"): object_id -> {owner, held_by, placed, persist_mode, manifest_id, seq, epoch,
 * transform, properties}, in spawn order; manifest_id -> {property -> tier, durable}.
 * Data and validation only: who may do what is decided in room.c / control.c. */
#ifndef ROOMSTATE_RELAY_REGISTRY_H
#define ROOMSTATE_RELAY_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/roomdoc.h"
#include "relay/room.h"
#include "relay/strmap.h"

struct relay_msg;

struct reg_manifest {
    struct reg_manifest *prev, *next;
    json_t *properties; /* normalized {name: {"tier": "...", ["durable": bool]}} */
    char id[RELAY_MAX_OBJECT_ID + 1];
};

/* A latest-wins slot of a high_rate_unreliable property. */
struct reg_prop_slot {
    struct reg_prop_slot *next;
    struct relay_msg *msg;
    uint64_t tick;
    char name[];
};

struct reg_object {
    struct reg_object *prev, *next;
    char id[RELAY_MAX_OBJECT_ID + 1];
    char manifest_id[RELAY_MAX_OBJECT_ID + 1];
    enum roomdoc_persist persist;
    char owner[RELAY_MAX_USER_ID + 1];   /* "" = whoever is host */
    char held_by[RELAY_MAX_USER_ID + 1]; /* "" = nobody */
    bool placed;
    uint64_t seq;   /* last accepted REP_OBJECT / REP_PROPERTY seq (document field) */
    uint64_t epoch; /* raised by every grant and release */
    double pos[3], rot[4], scale[3];
    json_t *props; /* name -> value */
    /* replication state */
    uint64_t obj_seq, prop_seq;           /* last accepted, per sender: */
    char obj_from[RELAY_MAX_USER_ID + 1]; /* sender of obj_seq ("" none) */
    char prop_from[RELAY_MAX_USER_ID + 1];
    struct relay_msg *rep_msg; /* latest REP_OBJECT (encoded once) */
    uint64_t rep_tick;         /* tick window it arrived in */
    struct reg_prop_slot *slots;
    unsigned phase; /* spreads downshifted objects over the ticks */
};

struct registry {
    struct strmap objects, manifests;
    struct reg_object *ohead, *otail;
    struct reg_manifest *mhead, *mtail;
    size_t nobjects, nmanifests;
};

/* A refusal: a reason code of the protocol and a human message. */
struct reg_err {
    const char *code; /* "bad_field", "unknown_manifest", "undeclared", "exists", … */
    char message[200];
};

void registry_init(struct registry *r);
void registry_clear(struct registry *r);

struct reg_manifest *registry_manifest(const struct registry *r, const char *id);
/* Validates a manifest's "properties" value and returns a normalized copy (new
 * reference), or NULL with err filled. */
json_t *registry_manifest_parse(const json_t *properties, size_t max_properties,
                                struct reg_err *err);
/* Adds or replaces manifest id (steals properties).  NULL when out of memory. */
struct reg_manifest *registry_manifest_put(struct registry *r, const char *id, json_t *properties);
/* The tier of property name in m, or -1 when undeclared.  *durable gets its durability. */
int registry_manifest_tier(const struct reg_manifest *m, const char *name, bool *durable);

struct reg_object *registry_object(const struct registry *r, const char *id);
/* A new object (defaults: identity transform, no properties, epoch 0).  NULL when out of
 * memory or id exists. */
struct reg_object *registry_object_add(struct registry *r, const char *id);
void registry_object_del(struct registry *r, struct reg_object *o);

/* Object ids and manifest ids: 1..128 bytes of printable text. */
bool registry_id_valid(const json_t *v);
/* {"position":[3],"rotation":[4],"scale"?:[3]} of finite numbers into o.  -1: bad. */
int registry_parse_transform(const json_t *t, double pos[3], double rot[4], double scale[3]);
json_t *registry_transform_json(const double pos[3], const double rot[4], const double scale[3]);
/* Every key of props (an object) is declared by m and its value within depth 32.  0, or -1
 * with err filled ("undeclared" or "bad_field"). */
int registry_check_props(const struct reg_manifest *m, const json_t *props, struct reg_err *err);

/* The effective owner: o->owner, or host_id when that is empty (may be NULL: no host). */
const char *registry_owner(const struct reg_object *o, const char *host_id);
/* The object as a document entry; with_live adds "epoch" (snapshot, spawn).  NULL: nomem. */
json_t *registry_object_json(const struct reg_object *o, const char *host_id, bool with_live);
/* Size of the object's encoding in bytes (bounded by the snapshot chunk). */
size_t registry_object_size(const struct reg_object *o);

/* Validates a spawn (or restored document entry) — object_id, manifest_id (registered),
 * persist_mode, transform?, properties? (declared), seq? — and adds it (not owned, not
 * held, placed unless transient_held).  Its encoding must stay within max_bytes.  NULL
 * with err filled ("exists", "bad_field", "unknown_manifest", "undeclared", "too_large",
 * "nomem"). */
struct reg_object *registry_object_from_json(struct registry *r, const json_t *src,
                                             size_t max_bytes, struct reg_err *err);

/* roomdoc-shaped {"manifests", "objects"}. */
json_t *registry_export(const struct registry *r, const char *host_id);

/* Drops every replication slot of o (on ownership change or despawn). */
void registry_object_reset_slots(struct reg_object *o);

#endif
