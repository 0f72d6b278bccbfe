/* Unit tests for lsh_rd (src/common/rd.c): RFC 4251 §5 decoders. */
#include "testutil.h"

#include "common/rd.h"

static void
scalars_and_bounds(void **state)
{
    size_t n;
    uint8_t *d = tu_unhex("ab 00 02 01020304 0102030405060708", &n);
    lsh_rd rd;
    uint8_t u8 = 0;
    int b = -1;
    uint32_t u32 = 0;
    uint64_t u64 = 0;
    lsh_rd_init(&rd, d, n);
    assert_int_equal(lsh_rd_u8(&rd, &u8), 0);
    assert_int_equal(u8, 0xab);
    assert_int_equal(lsh_rd_bool(&rd, &b), 0);
    assert_int_equal(b, 0);
    /* RFC 4251 §5: any nonzero value is TRUE. */
    assert_int_equal(lsh_rd_bool(&rd, &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(lsh_rd_u32(&rd, &u32), 0);
    assert_int_equal(u32, 0x01020304);
    assert_int_equal(lsh_rd_u64(&rd, &u64), 0);
    assert_true(u64 == 0x0102030405060708ULL);
    assert_int_equal(lsh_rd_end(&rd), 0);
    assert_int_equal(lsh_rd_u8(&rd, &u8), LSH_ETRUNCATED);
    free(d);
}

static void
truncated_scalars_leave_output_and_cursor(void **state)
{
    static const uint8_t d[] = {1, 2, 3};
    lsh_rd rd;
    uint32_t u32 = 77;
    uint64_t u64 = 77;
    lsh_rd_init(&rd, d, sizeof(d));
    assert_int_equal(lsh_rd_u32(&rd, &u32), LSH_ETRUNCATED);
    assert_int_equal(u32, 77);
    assert_int_equal(lsh_rd_u64(&rd, &u64), LSH_ETRUNCATED);
    assert_true(u64 == 77);
    assert_int_equal(rd.pos, 0);
    assert_int_equal(lsh_rd_end(&rd), LSH_ETRAILING);
}

static void
string_checks_prefix_cap_then_presence(void **state)
{
    size_t n, len = 99;
    const uint8_t *p = NULL;
    lsh_rd rd;
    uint8_t *d = tu_unhex("00000003 616263", &n);
    lsh_rd_init(&rd, d, n);
    assert_int_equal(lsh_rd_string_max(&rd, 2, &p, &len), LSH_ETOOLARGE);
    assert_null(p);
    assert_int_equal(rd.pos, 0);
    assert_int_equal(lsh_rd_string(&rd, &p, &len), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(p, "abc", 3);
    free(d);

    /* Every truncation point. */
    d = tu_unhex("00000003 616263", &n);
    for (size_t cut = 0; cut < n; cut++) {
        lsh_rd_init(&rd, d, cut);
        p = NULL;
        assert_int_equal(lsh_rd_string(&rd, &p, &len), LSH_ETRUNCATED);
        assert_null(p);
        assert_int_equal(rd.pos, 0);
    }
    free(d);
}

static void
string_overflowing_length(void **state)
{
    static const uint8_t d[] = {0xff, 0xff, 0xff, 0xff, 'a'};
    lsh_rd rd;
    const uint8_t *p;
    size_t len;
    lsh_rd_init(&rd, d, sizeof(d));
    assert_int_equal(lsh_rd_string(&rd, &p, &len), LSH_ETOOLARGE);
    assert_int_equal(lsh_rd_string_max(&rd, SIZE_MAX, &p, &len),
                     LSH_ETRUNCATED);
}

static void
text_rejects_nul(void **state)
{
    size_t n, len;
    const uint8_t *p;
    lsh_rd rd;
    uint8_t *d = tu_unhex("00000003 610062", &n);
    lsh_rd_init(&rd, d, n);
    assert_int_equal(lsh_rd_text(&rd, &p, &len), LSH_EBADSTRING);
    assert_int_equal(rd.pos, 0);
    free(d);
}

static void
sub_cursor(void **state)
{
    size_t n;
    uint32_t v;
    lsh_rd rd, sub;
    uint8_t *d = tu_unhex("00000004 0000002a ff", &n);
    lsh_rd_init(&rd, d, n);
    assert_int_equal(lsh_rd_sub(&rd, &sub), 0);
    assert_int_equal(lsh_rd_u32(&sub, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(lsh_rd_end(&sub), 0);
    assert_int_equal(lsh_rd_end(&rd), LSH_ETRAILING);
    free(d);
}

/* RFC 4251 §5 mpint examples, and the non-minimal encodings it forbids. */
static void
mpint_valid_and_invalid(void **state)
{
    struct {
        const char *hex;
        int rc, neg;
        const char *mag;
    } cases[] = {
        {"00000000", 0, 0, ""},
        {"00000008 09a378f9b2e332a7", 0, 0, "09a378f9b2e332a7"},
        {"00000002 0080", 0, 0, "80"},
        {"00000002 edcc", 0, 1, "edcc"},
        {"00000005 ff21524111", 0, 1, "ff21524111"},
        {"00000001 00", LSH_EBADMPINT, 0, NULL},        /* zero as 00 */
        {"00000002 0001", LSH_EBADMPINT, 0, NULL},      /* extra 00 */
        {"00000002 ff80", LSH_EBADMPINT, 0, NULL},      /* extra ff */
        {"00000003 000080", LSH_EBADMPINT, 0, NULL},
        {"00000003 0000", LSH_ETRUNCATED, 0, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n, ml = 0;
        int neg = -1;
        const uint8_t *mag = NULL;
        lsh_rd rd;
        uint8_t *d = tu_unhex(cases[i].hex, &n);
        lsh_rd_init(&rd, d, n);
        assert_int_equal(lsh_rd_mpint(&rd, &neg, &mag, &ml), cases[i].rc);
        if (cases[i].rc == 0) {
            assert_int_equal(neg, cases[i].neg);
            tu_assert_hex(mag, ml, cases[i].mag);
            assert_int_equal(lsh_rd_end(&rd), 0);
        } else {
            assert_int_equal(neg, -1);
            assert_null(mag);
            assert_int_equal(rd.pos, 0);
        }
        free(d);
    }
}

static void
mpint_unsigned_rejects_negative_and_large(void **state)
{
    size_t n, ml;
    const uint8_t *mag;
    lsh_rd rd;
    uint8_t *d = tu_unhex("00000001 80", &n);
    lsh_rd_init(&rd, d, n);
    assert_int_equal(lsh_rd_mpint_unsigned(&rd, 64, &mag, &ml),
                     LSH_EBADMPINT);
    assert_int_equal(rd.pos, 0);
    free(d);
    d = tu_unhex("00000003 00ffff", &n);
    lsh_rd_init(&rd, d, n);
    assert_int_equal(lsh_rd_mpint_unsigned(&rd, 1, &mag, &ml),
                     LSH_ETOOLARGE);
    assert_int_equal(lsh_rd_mpint_unsigned(&rd, 2, &mag, &ml), 0);
    tu_assert_hex(mag, ml, "ffff");
    free(d);
}

static void
namelist_valid_and_invalid(void **state)
{
    struct {
        const char *hex;
        int rc;
    } cases[] = {
        {"00000000", 0},
        {"00000004 7a6c6962", 0},                 /* zlib */
        {"00000009 7a6c69622c6e6f6e65", 0},       /* zlib,none */
        {"00000001 2c", LSH_EBADNAMELIST},        /* , */
        {"00000005 7a6c69622c", LSH_EBADNAMELIST}, /* zlib, */
        {"00000005 2c7a6c6962", LSH_EBADNAMELIST}, /* ,zlib */
        {"00000003 612062", LSH_EBADNAMELIST},    /* a b */
        {"00000002 6100", LSH_EBADNAMELIST},      /* NUL */
        {"00000002 61ff", LSH_EBADNAMELIST},      /* non-ASCII */
        {"00000004 7a6c69", LSH_ETRUNCATED},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n, len;
        const char *list;
        lsh_rd rd;
        uint8_t *d = tu_unhex(cases[i].hex, &n);
        lsh_rd_init(&rd, d, n);
        assert_int_equal(lsh_rd_namelist(&rd, &list, &len), cases[i].rc);
        if (cases[i].rc != 0) {
            assert_int_equal(rd.pos, 0);
        }
        free(d);
    }
}

static void
namelist_iteration(void **state)
{
    const char *list = "a,bc,def";
    size_t pos = 0, n;
    const char *name;
    int count = 0;
    while (lsh_namelist_next(list, strlen(list), &pos, &name, &n)) {
        count++;
        assert_int_equal(n, (size_t)count);
    }
    assert_int_equal(count, 3);
    assert_true(lsh_namelist_contains(list, strlen(list), "bc"));
    assert_false(lsh_namelist_contains(list, strlen(list), "b"));
    assert_false(lsh_namelist_contains("", 0, "a"));
}

static void
bytes_and_skip(void **state)
{
    static const uint8_t d[] = {1, 2, 3};
    const uint8_t *p;
    lsh_rd rd;
    lsh_rd_init(&rd, d, sizeof(d));
    assert_int_equal(lsh_rd_skip(&rd, 1), 0);
    assert_int_equal(lsh_rd_bytes(&rd, 3, &p), LSH_ETRUNCATED);
    assert_int_equal(lsh_rd_bytes(&rd, 2, &p), 0);
    assert_int_equal(p[1], 3);
    assert_int_equal(lsh_rd_remaining(&rd), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(scalars_and_bounds),
        cmocka_unit_test(truncated_scalars_leave_output_and_cursor),
        cmocka_unit_test(string_checks_prefix_cap_then_presence),
        cmocka_unit_test(string_overflowing_length),
        cmocka_unit_test(text_rejects_nul),
        cmocka_unit_test(sub_cursor),
        cmocka_unit_test(mpint_valid_and_invalid),
        cmocka_unit_test(mpint_unsigned_rejects_negative_and_large),
        cmocka_unit_test(namelist_valid_and_invalid),
        cmocka_unit_test(namelist_iteration),
        cmocka_unit_test(bytes_and_skip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
