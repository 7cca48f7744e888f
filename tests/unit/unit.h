/* unit.h — every tests/unit/test_*.c registers its check suites with UNIT_SUITE(fn);
 * tests/unit/main.c runs them all (CK_RUN_SUITE / CK_RUN_CASE select a subset). */
#ifndef ROOMSTATE_UNIT_H
#define ROOMSTATE_UNIT_H

#include <check.h>

typedef Suite *(*unit_suite_fn)(void);
void unit_register(unit_suite_fn fn);

#define UNIT_SUITE(fn)                                                                         \
    __attribute__((constructor)) static void unit_register_##fn(void)                          \
    {                                                                                          \
        unit_register(fn);                                                                     \
    }

/* A fresh temporary directory for one test ("/tmp/roomstate-unit-XXXXXX"); the caller
 * removes it with unit_rmdir. */
char *unit_tmpdir(void);
void unit_rmdir(const char *dir);

#endif
