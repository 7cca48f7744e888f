/* roomschema.h — the room document described once (docs/http-api.md "The room document",
 * "Validation", "What is stored"): the members of a document, a manifest and an object,
 * what each must be and when it is required, the persist modes and which one is stored,
 * the tiers and the durability rule, the limits, and the stored form of an object.
 *
 * Both readers of a save body follow these tables: common/roomdoc.c (the jansson tree; every
 * problem reported with its path) and common/roomscan.c (the single-pass fast path).  A new
 * member, mode, tier or limit is written here once; tests/unit/test_roomschema.c walks the
 * tables and checks that the two readers apply every entry alike.  The functions and types
 * the server and the relay already use keep their roomdoc_ names. */
#ifndef ROOMSTATE_ROOMSCHEMA_H
#define ROOMSTATE_ROOMSCHEMA_H

#include <stdbool.h>
#include <stddef.h>

/* ---- limits ---- */

#define ROOMSCHEMA_OBJECT_ID_MAX_BYTES 128
#define ROOMSCHEMA_ROOM_ID_MAX_BYTES 128
#define ROOMSCHEMA_MAX_OBJECTS 10000  /* default of roomdoc_limits.max_objects */
#define ROOMSCHEMA_MAX_VALUE_DEPTH 32 /* default of roomdoc_limits.max_value_depth */

struct roomdoc_limits {
    size_t max_objects;     /* 0: ROOMSCHEMA_MAX_OBJECTS */
    size_t max_value_depth; /* JSON nesting depth of a property value; 0: the default */
};

/* The limits in force: those of limits, the defaults for NULL or a 0. */
struct roomdoc_limits roomschema_limits(const struct roomdoc_limits *limits);

/* Room ids: ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$ */
bool roomdoc_room_id_valid(const char *id, size_t len);

/* What a filter counts (both readers give the same counts for the same document). */
struct roomdoc_stats {
    size_t objects_saved;
    size_t dropped_transient_held;
    size_t dropped_placed_room;
    size_t non_durable_properties; /* of stored objects */
};

/* ---- the document's and a manifest's members ---- */

#define ROOMSCHEMA_MANIFESTS "manifests"  /* required: an object of manifest id to manifest */
#define ROOMSCHEMA_OBJECTS "objects"      /* required: an array of objects */
#define ROOMSCHEMA_DECLS "properties"     /* a manifest's: property name to declaration */
#define ROOMSCHEMA_DECL_TIER "tier"       /* a declaration's: required, a tier name */
#define ROOMSCHEMA_DECL_DURABLE "durable" /* a declaration's: optional boolean */

/* ---- persist modes ---- */

enum roomdoc_persist { ROOMDOC_TRANSIENT_HELD = 0, ROOMDOC_PLACED_ROOM, ROOMDOC_PLACED_SAVED };
#define ROOMSCHEMA_MODES 3

struct roomschema_mode {
    const char *name;
    size_t len;
    /* Objects in this mode are stored: manifest_id and transform are required, the manifest
     * must exist and declare every property.  Objects in other modes are counted in the
     * roomdoc_stats member at offset dropped and not stored. */
    bool stored;
    size_t dropped;
};
extern const struct roomschema_mode roomschema_modes[ROOMSCHEMA_MODES];
/* Counts an object of a mode that is not stored in its roomdoc_stats member. */
void roomschema_count_dropped(struct roomdoc_stats *st, int mode);
#define ROOMSCHEMA_MODE_LIST "transient_held, placed_room or placed_saved" /* for messages */

/* ---- tiers and the durability rule ---- */

enum roomdoc_tier {
    ROOMDOC_HIGH_RATE_UNRELIABLE = 0,
    ROOMDOC_RELIABLE_ON_CHANGE,
    ROOMDOC_SNAPSHOT_ONLY
};
#define ROOMSCHEMA_TIERS 3

struct roomschema_tier {
    const char *name;
    size_t len;
    bool durable; /* a property of this tier without a "durable" flag is stored */
};
extern const struct roomschema_tier roomschema_tiers[ROOMSCHEMA_TIERS];
#define ROOMSCHEMA_TIER_LIST "high_rate_unreliable, reliable_on_change or snapshot_only"

/* Index in roomschema_modes / roomschema_tiers of the name s[n] (not NUL-terminated); -1. */
int roomschema_mode_of(const char *s, size_t n);
int roomschema_tier_of(const char *s, size_t n);

/* The same for NUL-terminated names (NULL gives -1), and back ("unknown" when out of range). */
int roomdoc_persist_parse(const char *name);
const char *roomdoc_persist_name(enum roomdoc_persist p);
int roomdoc_tier_parse(const char *name);
const char *roomdoc_tier_name(enum roomdoc_tier t);
/* The durability rule: durable_flag (-1 absent, 0 false, 1 true), else the tier's. */
bool roomdoc_is_durable(enum roomdoc_tier tier, int durable_flag);

/* ---- an object's members ---- */

/* Bounds of the description, checked when roomschema.c is compiled (a longer name or value
 * text there is a compile error): a reader may size a buffer by them. */
#define ROOMSCHEMA_NAME_MAX 16  /* bytes of a member's or a vector's name */
#define ROOMSCHEMA_VALUE_MAX 16 /* bytes of a member's or a vector's value (JSON text) */

/* In the order they are checked (and problems reported): persist_mode comes before the
 * members whose need depends on it, manifest_id before properties. */
enum roomschema_field {
    ROOMSCHEMA_OTHER = 0, /* any other member: kept as sent */
    ROOMSCHEMA_OBJECT_ID,
    ROOMSCHEMA_PERSIST_MODE,
    ROOMSCHEMA_SEQ,
    ROOMSCHEMA_OWNER_ID,
    ROOMSCHEMA_HELD_BY,
    ROOMSCHEMA_PLACED,
    ROOMSCHEMA_MANIFEST_ID,
    ROOMSCHEMA_TRANSFORM,
    ROOMSCHEMA_PROPERTIES,
    ROOMSCHEMA_FIELDS
};

/* What a member's value must be. */
enum roomschema_kind {
    ROOMSCHEMA_KIND_ID,             /* a string of 1 to OBJECT_ID_MAX_BYTES bytes, unique */
    ROOMSCHEMA_KIND_MODE,           /* a string naming a persist mode */
    ROOMSCHEMA_KIND_COUNT,          /* a non-negative integer */
    ROOMSCHEMA_KIND_STRING_OR_NULL, /* a string or null */
    ROOMSCHEMA_KIND_BOOLEAN,        /* true or false */
    ROOMSCHEMA_KIND_MANIFEST,       /* a string; in a stored object, a key of "manifests" */
    ROOMSCHEMA_KIND_TRANSFORM,      /* an object whose roomschema_vectors are valid */
    ROOMSCHEMA_KIND_PROPERTIES,     /* an object; values at most max_value_depth deep; in a stored
                                  object every key declared by the manifest */
};

enum roomschema_need {
    ROOMSCHEMA_OPTIONAL,
    ROOMSCHEMA_REQUIRED,        /* in every object */
    ROOMSCHEMA_REQUIRED_STORED, /* in an object of a stored mode */
};

/* What the stored form of an object has for a member. */
enum roomschema_store {
    ROOMSCHEMA_STORE_KEEP,    /* as sent */
    ROOMSCHEMA_STORE_SET,     /* value, whether sent or not */
    ROOMSCHEMA_STORE_DEFAULT, /* as sent; value when absent */
    ROOMSCHEMA_STORE_DURABLE, /* the durable properties only; value when absent */
    ROOMSCHEMA_STORE_VECTORS, /* the roomschema_vectors only, each as sent or its default */
};

struct roomschema_member {
    const char *name;
    size_t len;
    enum roomschema_kind kind;
    enum roomschema_need need;
    const char *what;     /* "must be <what>" */
    const char *required; /* the message when a required member is missing */
    enum roomschema_store store;
    const char *value; /* JSON text for ROOMSCHEMA_SET / DEFAULT / DURABLE, else NULL */
};
extern const struct roomschema_member roomschema_members[ROOMSCHEMA_FIELDS];

/* The member of name k[kn], ROOMSCHEMA_OTHER when none. */
enum roomschema_field roomschema_field_of(const char *k, size_t kn);

/* The members the stored form sets or adds, in the order they are appended to an object
 * that lacks them. */
#define ROOMSCHEMA_ADDED 5
extern const enum roomschema_field roomschema_added[ROOMSCHEMA_ADDED];

/* ---- the transform's vectors ---- */

struct roomschema_vector {
    const char *name;
    size_t len;
    size_t n;          /* exactly n finite numbers */
    bool required;     /* in an object of a stored mode */
    const char *value; /* JSON text stored when absent, or NULL */
};
#define ROOMSCHEMA_VECTORS_N 3
extern const struct roomschema_vector roomschema_vectors[ROOMSCHEMA_VECTORS_N];
#define ROOMSCHEMA_TRANSFORM_REQUIRED "position and rotation" /* for messages */

/* Index in roomschema_vectors of k[kn]; -1 when it is not a vector's name. */
int roomschema_vector_of(const char *k, size_t kn);

/* Whether the stored form of a transform of members members, among them the vectors whose
 * bit (1 << index) is set in present, is the transform as sent: nothing to drop, no
 * default to add. */
bool roomschema_vectors_as_sent(size_t members, unsigned present);

#endif
