/* roomschema.c — the room document's description (see roomschema.h) and its look-ups. */
#include "common/roomschema.h"

#include <stddef.h>
#include <string.h>

#define NAME(s) s, sizeof s - 1
/* The length of the string literal s, a compile error when it is over max (a static assertion
 * among a struct's members, C11 6.7.2.1); for the bounds roomschema.h promises. */
#define LEN_AT_MOST(s, max)                                                                        \
    (sizeof s - 1 + 0 * sizeof(struct {                                                            \
                        _Static_assert(sizeof s - 1 <= (max),                                      \
                                       #s " is longer than roomschema.h allows");                  \
                        char c;                                                                    \
                    }))
#define FIELD_NAME(s) s, LEN_AT_MOST(s, ROOMSCHEMA_NAME_MAX)     /* a member's or a vector's */
#define TEXT(s) (&(s)[0 * LEN_AT_MOST(s, ROOMSCHEMA_VALUE_MAX)]) /* a value: s */
#define STR_(x) #x
#define STR(x) STR_(x)

const struct roomschema_mode roomschema_modes[ROOMSCHEMA_MODES] = {
    [ROOMDOC_TRANSIENT_HELD] = {NAME("transient_held"), false,
                                offsetof(struct roomdoc_stats, dropped_transient_held)},
    [ROOMDOC_PLACED_ROOM] = {NAME("placed_room"), false,
                             offsetof(struct roomdoc_stats, dropped_placed_room)},
    [ROOMDOC_PLACED_SAVED] = {NAME("placed_saved"), true, 0},
};

const struct roomschema_tier roomschema_tiers[ROOMSCHEMA_TIERS] = {
    [ROOMDOC_HIGH_RATE_UNRELIABLE] = {NAME("high_rate_unreliable"), false},
    [ROOMDOC_RELIABLE_ON_CHANGE] = {NAME("reliable_on_change"), true},
    [ROOMDOC_SNAPSHOT_ONLY] = {NAME("snapshot_only"), true},
};

/* name, kind, need, what ("must be ..."), message when required and missing, what the
 * stored form has, the stored value (JSON text, written TEXT("...") so that its bound is
 * checked; a value written without TEXT is caught by test_roomschema only) */
#define MEMBER(name, kind, need, what, required, store, value)                                     \
    {                                                                                              \
        FIELD_NAME(name), ROOMSCHEMA_KIND_##kind, ROOMSCHEMA_##need, what, required,               \
            ROOMSCHEMA_STORE_##store, value                                                        \
    }

/* clang-format off */
const struct roomschema_member roomschema_members[ROOMSCHEMA_FIELDS] = {
    /* any other name: no rule, kept as sent */
    [ROOMSCHEMA_OTHER] = MEMBER("", ID, OPTIONAL, "", NULL, KEEP, NULL),
    [ROOMSCHEMA_OBJECT_ID] = MEMBER("object_id", ID, REQUIRED, "a string",
        "required: a string of 1 to " STR(ROOMSCHEMA_OBJECT_ID_MAX_BYTES) " bytes", KEEP, NULL),
    [ROOMSCHEMA_PERSIST_MODE] = MEMBER("persist_mode", MODE, REQUIRED, "a string",
        "required: " ROOMSCHEMA_MODE_LIST, KEEP, NULL),
    [ROOMSCHEMA_SEQ] = MEMBER("seq", COUNT, OPTIONAL, "a non-negative integer", NULL,
        DEFAULT, TEXT("0")),
    [ROOMSCHEMA_OWNER_ID] = MEMBER("owner_id", STRING_OR_NULL, OPTIONAL, "a string or null", NULL,
        SET, TEXT("null")),
    [ROOMSCHEMA_HELD_BY] = MEMBER("held_by", STRING_OR_NULL, OPTIONAL, "a string or null", NULL,
        SET, TEXT("null")),
    [ROOMSCHEMA_PLACED] = MEMBER("placed", BOOLEAN, OPTIONAL, "a boolean", NULL, SET, TEXT("true")),
    [ROOMSCHEMA_MANIFEST_ID] = MEMBER("manifest_id", MANIFEST, REQUIRED_STORED, "a string",
        "required for a placed_saved object: a manifest's id", KEEP, NULL),
    [ROOMSCHEMA_TRANSFORM] = MEMBER("transform", TRANSFORM, REQUIRED_STORED, "an object",
        "required for a placed_saved object: " ROOMSCHEMA_TRANSFORM_REQUIRED, VECTORS, NULL),
    [ROOMSCHEMA_PROPERTIES] = MEMBER("properties", PROPERTIES, OPTIONAL, "an object", NULL,
        DURABLE, TEXT("{}")),
};
/* clang-format on */

const enum roomschema_field roomschema_added[ROOMSCHEMA_ADDED] = {
    ROOMSCHEMA_OWNER_ID, ROOMSCHEMA_HELD_BY, ROOMSCHEMA_PLACED, ROOMSCHEMA_SEQ,
    ROOMSCHEMA_PROPERTIES};

const struct roomschema_vector roomschema_vectors[ROOMSCHEMA_VECTORS_N] = {
    {FIELD_NAME("position"), 3, true, NULL},
    {FIELD_NAME("rotation"), 4, true, NULL},
    {FIELD_NAME("scale"), 3, false, TEXT("[1,1,1]")},
};

struct roomdoc_limits roomschema_limits(const struct roomdoc_limits *limits)
{
    struct roomdoc_limits l = {ROOMSCHEMA_MAX_OBJECTS, ROOMSCHEMA_MAX_VALUE_DEPTH};
    if (limits && limits->max_objects)
        l.max_objects = limits->max_objects;
    if (limits && limits->max_value_depth)
        l.max_value_depth = limits->max_value_depth;
    return l;
}

static bool id_char(unsigned char c, bool first)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return true;
    return !first && (c == '.' || c == '_' || c == ':' || c == '-');
}

bool roomdoc_room_id_valid(const char *id, size_t len)
{
    if (!id || len == 0 || len > ROOMSCHEMA_ROOM_ID_MAX_BYTES)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!id_char((unsigned char)id[i], i == 0))
            return false;
    return true;
}

enum roomschema_field roomschema_field_of(const char *k, size_t kn)
{
    /* length and first byte first: most members are not the contract's */
    for (int f = ROOMSCHEMA_OBJECT_ID; f < ROOMSCHEMA_FIELDS; f++)
        if (kn == roomschema_members[f].len && k[0] == roomschema_members[f].name[0] &&
            memcmp(k, roomschema_members[f].name, kn) == 0)
            return (enum roomschema_field)f;
    return ROOMSCHEMA_OTHER;
}

int roomschema_vector_of(const char *k, size_t kn)
{
    for (int i = 0; i < ROOMSCHEMA_VECTORS_N; i++)
        if (kn == roomschema_vectors[i].len && k[0] == roomschema_vectors[i].name[0] &&
            memcmp(k, roomschema_vectors[i].name, kn) == 0)
            return i;
    return -1;
}

int roomschema_mode_of(const char *s, size_t n)
{
    for (int i = 0; i < ROOMSCHEMA_MODES; i++)
        if (n == roomschema_modes[i].len && memcmp(s, roomschema_modes[i].name, n) == 0)
            return i;
    return -1;
}

int roomschema_tier_of(const char *s, size_t n)
{
    for (int i = 0; i < ROOMSCHEMA_TIERS; i++)
        if (n == roomschema_tiers[i].len && memcmp(s, roomschema_tiers[i].name, n) == 0)
            return i;
    return -1;
}

int roomdoc_persist_parse(const char *name)
{
    return name ? roomschema_mode_of(name, strlen(name)) : -1;
}

const char *roomdoc_persist_name(enum roomdoc_persist p)
{
    return (unsigned)p < ROOMSCHEMA_MODES ? roomschema_modes[p].name : "unknown";
}

int roomdoc_tier_parse(const char *name)
{
    return name ? roomschema_tier_of(name, strlen(name)) : -1;
}

const char *roomdoc_tier_name(enum roomdoc_tier t)
{
    return (unsigned)t < ROOMSCHEMA_TIERS ? roomschema_tiers[t].name : "unknown";
}

bool roomdoc_is_durable(enum roomdoc_tier tier, int durable_flag)
{
    if (durable_flag >= 0)
        return durable_flag != 0;
    return (unsigned)tier < ROOMSCHEMA_TIERS && roomschema_tiers[tier].durable;
}

void roomschema_count_dropped(struct roomdoc_stats *st, int mode)
{
    if (mode >= 0 && mode < ROOMSCHEMA_MODES && !roomschema_modes[mode].stored)
        (*(size_t *)((char *)st + roomschema_modes[mode].dropped))++;
}

bool roomschema_vectors_as_sent(size_t members, unsigned present)
{
    size_t n = 0;
    for (int i = 0; i < ROOMSCHEMA_VECTORS_N; i++) {
        if (present & (1u << i))
            n++;
        else if (roomschema_vectors[i].value)
            return false; /* a default is added */
    }
    return n == members;
}
