/* main.c — the unit-test runner: every suite registered with UNIT_SUITE. */
#include "tests/unit/unit.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SUITES 64
static unit_suite_fn suites[MAX_SUITES];
static int nsuites;

void unit_register(unit_suite_fn fn)
{
    if (nsuites < MAX_SUITES)
        suites[nsuites++] = fn;
}

char *unit_tmpdir(void)
{
    char *d = strdup("/tmp/roomstate-unit-XXXXXX");
    if (!d || !mkdtemp(d)) {
        perror("mkdtemp");
        abort();
    }
    return d;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void unit_rmdir(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
    if (nsuites == 0) {
        fprintf(stderr, "no unit suites registered\n");
        return 1;
    }
    SRunner *sr = srunner_create(suites[0]());
    for (int i = 1; i < nsuites; i++)
        srunner_add_suite(sr, suites[i]());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
