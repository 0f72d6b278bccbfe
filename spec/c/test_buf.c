/* Unit tests for lsh_buf (src/common/buf.c): RFC 4251 §5 encoders. */
#include "testutil.h"

#include "common/buf.h"

static void
put_scalars_big_endian(void **state)
{
    lsh_buf b;
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_buf_put_u8(&b, 0xab), 0);
    assert_int_equal(lsh_buf_put_bool(&b, 7), 0);
    assert_int_equal(lsh_buf_put_u32(&b, 0x01020304), 0);
    assert_int_equal(lsh_buf_put_u64(&b, 0x0102030405060708ULL), 0);
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b),
                  "ab 01 01020304 0102030405060708");
    lsh_buf_free(&b);
}

static void
put_string_and_cstring(void **state)
{
    lsh_buf b;
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_buf_put_string(&b, "testing", 7), 0);
    assert_int_equal(lsh_buf_put_cstring(&b, ""), 0);
    /* RFC 4251 §5: "testing" is 00 00 00 07 t e s t i n g. */
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b),
                  "00000007 74657374696e67 00000000");
    lsh_buf_free(&b);
}

/* The mpint examples of RFC 4251 §5. */
static void
mpint_rfc4251_examples(void **state)
{
    lsh_buf b;
    static const uint8_t v1[] = {0x09, 0xa3, 0x78, 0xf9, 0xb2, 0xe3, 0x32,
                                 0xa7};
    static const uint8_t v2[] = {0x80};
    static const uint8_t v3[] = {0x12, 0x34};
    static const uint8_t v4[] = {0xde, 0xad, 0xbe, 0xef};
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_buf_put_mpint_unsigned(&b, NULL, 0), 0);
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b), "00000000");
    lsh_buf_reset(&b);
    assert_int_equal(lsh_buf_put_mpint_unsigned(&b, v1, sizeof(v1)), 0);
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b),
                  "00000008 09 a3 78 f9 b2 e3 32 a7");
    lsh_buf_reset(&b);
    assert_int_equal(lsh_buf_put_mpint_unsigned(&b, v2, sizeof(v2)), 0);
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b), "00000002 00 80");
    lsh_buf_reset(&b);
    assert_int_equal(lsh_buf_put_mpint_signed(&b, 1, v3, sizeof(v3)), 0);
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b), "00000002 ed cc");
    lsh_buf_reset(&b);
    assert_int_equal(lsh_buf_put_mpint_signed(&b, 1, v4, sizeof(v4)), 0);
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b), "00000005 ff 21 52 41 11");
    lsh_buf_free(&b);
}

static void
mpint_strips_leading_zeros(void **state)
{
    lsh_buf b;
    static const uint8_t v[] = {0, 0, 0x7f, 1};
    static const uint8_t neg_one[] = {1};
    static const uint8_t neg_128[] = {0x80};
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_buf_put_mpint_unsigned(&b, v, sizeof(v)), 0);
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b), "00000002 7f01");
    lsh_buf_reset(&b);
    assert_int_equal(lsh_buf_put_mpint_signed(&b, 1, neg_one, 1), 0);
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b), "00000001 ff");
    lsh_buf_reset(&b);
    assert_int_equal(lsh_buf_put_mpint_signed(&b, 1, neg_128, 1), 0);
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b), "00000001 80");
    lsh_buf_free(&b);
}

static void
namelist_rfc4251_examples(void **state)
{
    lsh_buf b;
    const char *one[] = {"zlib"};
    const char *two[] = {"zlib", "none"};
    const char *empty_name[] = {"zlib", ""};
    const char *comma[] = {"a,b"};
    const char *space[] = {"a b"};
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_buf_put_namelist(&b, NULL, 0), 0);
    assert_int_equal(lsh_buf_put_namelist(&b, one, 1), 0);
    assert_int_equal(lsh_buf_put_namelist(&b, two, 2), 0);
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b),
                  "00000000 00000004 7a6c6962"
                  "00000009 7a6c69622c6e6f6e65");
    /* Invalid names append nothing. */
    size_t before = lsh_buf_len(&b);
    assert_int_equal(lsh_buf_put_namelist(&b, empty_name, 2),
                     LSH_EBADNAMELIST);
    assert_int_equal(lsh_buf_put_namelist(&b, comma, 1), LSH_EBADNAMELIST);
    assert_int_equal(lsh_buf_put_namelist(&b, space, 1), LSH_EBADNAMELIST);
    assert_int_equal(lsh_buf_len(&b), before);
    lsh_buf_free(&b);
}

static void
cap_is_enforced_and_buffer_untouched(void **state)
{
    lsh_buf b;
    uint8_t big[64] = {0};
    uint8_t *p;
    lsh_buf_init(&b, 16);
    assert_int_equal(lsh_buf_put(&b, big, 10), 0);
    assert_int_equal(lsh_buf_put(&b, big, 7), LSH_ETOOLARGE);
    assert_int_equal(lsh_buf_len(&b), 10);
    assert_int_equal(lsh_buf_put_string(&b, big, 3), LSH_ETOOLARGE);
    assert_int_equal(lsh_buf_len(&b), 10);
    assert_int_equal(lsh_buf_append_space(&b, SIZE_MAX, &p), LSH_EOVERFLOW);
    assert_int_equal(lsh_buf_reserve(&b, SIZE_MAX - 4), LSH_EOVERFLOW);
    assert_int_equal(lsh_buf_put(&b, big, 6), 0);
    assert_int_equal(lsh_buf_len(&b), 16);
    lsh_buf_free(&b);
}

static void
consume_compacts_and_grows(void **state)
{
    lsh_buf b;
    uint8_t data[1000];
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (uint8_t)i;
    }
    lsh_buf_init(&b, 8192);
    for (int round = 0; round < 50; round++) {
        assert_int_equal(lsh_buf_put(&b, data, sizeof(data)), 0);
        assert_int_equal(lsh_buf_consume(&b, 900), 0);
    }
    assert_int_equal(lsh_buf_len(&b), 50 * 100);
    lsh_buf_free(&b);
}

static void
consume_and_truncate_reject_too_much(void **state)
{
    lsh_buf b;
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_buf_put(&b, "abcd", 4), 0);
    assert_int_equal(lsh_buf_consume(&b, 5), LSH_EINVAL);
    assert_int_equal(lsh_buf_truncate(&b, 5), LSH_EINVAL);
    assert_int_equal(lsh_buf_consume(&b, 1), 0);
    assert_int_equal(lsh_buf_truncate(&b, 1), 0);
    assert_memory_equal(lsh_buf_ptr(&b), "bc", 2);
    assert_int_equal(lsh_buf_poke_u32(&b, 0, 1), LSH_EINVAL);
    lsh_buf_free(&b);
    assert_int_equal(lsh_buf_len(&b), 0);
}

static void
poke_patches_length(void **state)
{
    lsh_buf b;
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_buf_put_u32(&b, 0), 0);
    assert_int_equal(lsh_buf_put(&b, "xyz", 3), 0);
    assert_int_equal(lsh_buf_poke_u32(&b, 0, 3), 0);
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b), "00000003 78797a");
    assert_int_equal(lsh_buf_poke_u32(&b, 4, 3), LSH_EINVAL);
    lsh_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_scalars_big_endian),
        cmocka_unit_test(put_string_and_cstring),
        cmocka_unit_test(mpint_rfc4251_examples),
        cmocka_unit_test(mpint_strips_leading_zeros),
        cmocka_unit_test(namelist_rfc4251_examples),
        cmocka_unit_test(cap_is_enforced_and_buffer_untouched),
        cmocka_unit_test(consume_compacts_and_grows),
        cmocka_unit_test(consume_and_truncate_reject_too_much),
        cmocka_unit_test(poke_patches_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
