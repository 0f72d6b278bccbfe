/* Unit tests for the error map (src/common/error.c). */
#include "testutil.h"

#include "common/error.h"

static void
codes_are_negative_and_named(void **state)
{
    assert_true(LSH_ENOMEM < 0);
    assert_true(LSH_EIO < 0);
    assert_string_equal(lsh_errname(LSH_ETRUNCATED), "TRUNCATED");
    assert_string_equal(lsh_strerror(LSH_ETRUNCATED), "data truncated");
    assert_string_equal(lsh_strerror(0), "success");
    assert_string_equal(lsh_errname(0), "OK");
}

static void
unknown_codes(void **state)
{
    assert_string_equal(lsh_strerror(-100000), "unknown error");
    assert_string_equal(lsh_errname(-100000), "UNKNOWN");
    assert_string_equal(lsh_strerror(5), "unknown error");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(codes_are_negative_and_named),
        cmocka_unit_test(unknown_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
