/* schema.h — the SQL migrations embedded in the binaries (generated from
 * schema/<backend>/NNNN_name.sql by tools/embed-schema.sh), in ascending version order. */
#ifndef ROOMSTATE_SCHEMA_H
#define ROOMSTATE_SCHEMA_H

struct schema_migration {
    int version;      /* NNNN of schema/NNNN_name.sql */
    const char *name; /* name of schema/NNNN_name.sql */
    const char *sql;  /* the file's text */
};

extern const struct schema_migration schema_migrations_embedded[]; /* SQLite: schema/sqlite/ */
extern const int schema_migrations_embedded_count;
extern const struct schema_migration schema_migrations_pg_embedded[]; /* schema/postgres/ */
extern const int schema_migrations_pg_embedded_count;

#endif
