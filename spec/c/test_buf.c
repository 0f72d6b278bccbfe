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

/* Counts how often the live bytes moved: their start in the storage
 * changed while the buffer kept its storage. */
typedef struct mover {
    const uint8_t *data;
    size_t off;
    int moves, regrows;
} mover;

static void
watch(mover *m, const lsh_buf *b)
{
    if (m->data != NULL && b->data != m->data) {
        m->regrows++;
    } else if (m->data != NULL && b->off < m->off && b->off == 0 &&
               b->len > 0) {
        m->moves++;
    }
    m->data = b->data;
    m->off = b->off;
}

/*
 * A queue that keeps most of its bytes unsent (a transport's output
 * waiting for the socket): small consumptions at the front, packets
 * appended at the end.  The old policy moved all unsent bytes for nearly
 * every packet; now the live bytes move only once the consumed prefix is
 * at least as long as they are, so the bytes moved stay below the bytes
 * consumed plus what doubling copies.
 */
static void
compaction_is_amortised(void **state)
{
    lsh_buf b;
    uint8_t pkt[1000];
    size_t moved = 0, consumed = 0, appended = 0;
    uint64_t expect = 0, seq = 0;
    mover m = {0};
    for (size_t i = 0; i < sizeof(pkt); i++) {
        pkt[i] = 0;
    }
    lsh_buf_init(&b, 1 << 20);
    /* 64 packets unsent, then 2000 rounds of: one packet in, a bit less
     * than one out. */
    for (int round = 0; round < 2064; round++) {
        uint8_t *p;
        size_t before_live = lsh_buf_len(&b), off = b.off;
        const uint8_t *data = b.data;
        assert_int_equal(lsh_buf_append_space(&b, sizeof(pkt), &p), 0);
        for (size_t i = 0; i < sizeof(pkt); i++) {
            p[i] = (uint8_t)(seq++ % 251);
        }
        appended += sizeof(pkt);
        if (b.data == data && off > 0 && b.off == 0) {
            moved += before_live; /* compaction */
            assert_true(off >= before_live);
        }
        watch(&m, &b);
        if (round >= 64) {
            size_t n = round % 3 == 0 ? 700 : 1000;
            const uint8_t *q = lsh_buf_ptr(&b);
            for (size_t i = 0; i < n; i++) {
                assert_int_equal(q[i], (uint8_t)(expect++ % 251));
            }
            assert_int_equal(lsh_buf_consume(&b, n), 0);
            consumed += n;
        }
    }
    assert_int_equal(lsh_buf_len(&b), appended - consumed);
    assert_true(m.moves > 0);
    assert_true(moved <= consumed);
    /* Storage stays within twice the peak of live bytes plus a packet. */
    assert_true(b.cap <= 4 * (appended - consumed + sizeof(pkt)));
    lsh_buf_free(&b);
}

/* At its cap the storage cannot double: a compaction makes room even
 * though the consumed prefix is short. */
static void
full_buffer_compacts(void **state)
{
    lsh_buf b;
    uint8_t chunk[100];
    uint8_t *p;
    memset(chunk, 7, sizeof(chunk));
    lsh_buf_init(&b, 1024);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(lsh_buf_put(&b, chunk, sizeof(chunk)), 0);
    }
    assert_int_equal(b.cap, 1024);
    assert_int_equal(lsh_buf_consume(&b, 30), 0); /* 970 live, 30 free */
    assert_int_equal(lsh_buf_append_space(&b, 50, &p), 0);
    assert_int_equal(b.off, 0);
    assert_int_equal(lsh_buf_len(&b), 1020);
    assert_int_equal(b.cap, 1024);
    assert_int_equal(lsh_buf_append_space(&b, 5, &p), LSH_ETOOLARGE);
    lsh_buf_free(&b);
}

/* Appending after a short consumption grows instead of moving the live
 * bytes, and the bytes stay in order. */
static void
short_prefix_grows_instead(void **state)
{
    lsh_buf b;
    uint8_t chunk[200];
    for (size_t i = 0; i < sizeof(chunk); i++) {
        chunk[i] = (uint8_t)i;
    }
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_buf_put(&b, chunk, sizeof(chunk)), 0);
    assert_int_equal(b.cap, 256);
    assert_int_equal(lsh_buf_consume(&b, 50), 0);
    assert_int_equal(lsh_buf_put(&b, chunk, 100), 0); /* 250 live */
    assert_int_equal(b.cap, 512);
    assert_int_equal(b.off, 0);
    assert_memory_equal(lsh_buf_ptr(&b), chunk + 50, 150);
    assert_memory_equal(lsh_buf_ptr(&b) + 150, chunk, 100);
    lsh_buf_free(&b);
}

static int
all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != 0) {
            return 0;
        }
    }
    return 1;
}

/*
 * A secret buffer (the default, for key material and plaintext packets)
 * zeroes every byte it drops, at once: consumed, truncated, reset, and
 * the stale tail a compaction leaves.
 */
static void
secret_buffer_wipes_what_it_drops(void **state)
{
    lsh_buf b;
    uint8_t key[64];
    uint8_t *p;
    memset(key, 0xa5, sizeof(key));
    lsh_buf_init(&b, 256);
    assert_false(b.bulk);
    assert_int_equal(lsh_buf_put(&b, key, sizeof(key)), 0);
    assert_int_equal(lsh_buf_consume(&b, 40), 0);
    assert_true(all_zero(b.data, 40));
    assert_int_equal(lsh_buf_truncate(&b, 4), 0);
    assert_true(all_zero(b.data + 60, 4));
    /* 20 live at 40: an append of 200 needs a compaction (off 40 >= 20),
     * which leaves stale copies at 40..60 behind: zeroed too.  (Storage
     * never written is not looked at: malloc gives no zeroes.) */
    assert_int_equal(lsh_buf_append_space(&b, 200, &p), 0);
    assert_int_equal(b.off, 0);
    assert_ptr_equal(p, b.data + 20);
    assert_memory_equal(b.data, key, 20);
    assert_true(all_zero(b.data + 20, 44));
    memset(p, 0xa5, 200);
    lsh_buf_reset(&b);
    assert_int_equal(b.dirty, 220);
    assert_true(all_zero(b.data, b.dirty));
    lsh_buf_free(&b);
}

/*
 * A bulk buffer (file data on its way out) skips those passes, and zeroes
 * everything it ever held at once when asked (lsh_buf_wipe, which free
 * and release do before the storage goes back to the allocator); turned
 * secret, it keeps only its live bytes.
 */
static void
bulk_buffer_wipes_only_when_storage_goes(void **state)
{
    lsh_buf b;
    uint8_t data[100];
    memset(data, 0x5a, sizeof(data));
    lsh_buf_init(&b, 0);
    lsh_buf_set_bulk(&b, 1);
    assert_int_equal(lsh_buf_put(&b, data, sizeof(data)), 0);
    assert_int_equal(lsh_buf_consume(&b, 60), 0);
    assert_int_equal(b.data[0], 0x5a); /* not zeroed one by one */
    assert_int_equal(lsh_buf_truncate(&b, 10), 0);
    assert_int_equal(b.dirty, 100);
    lsh_buf_wipe(&b);
    assert_int_equal(lsh_buf_len(&b), 0);
    assert_true(all_zero(b.data, 100));
    assert_int_equal(b.dirty, 0);

    assert_int_equal(lsh_buf_put(&b, data, sizeof(data)), 0);
    assert_int_equal(lsh_buf_consume(&b, 30), 0);
    assert_int_equal(lsh_buf_truncate(&b, 20), 0);
    lsh_buf_set_bulk(&b, 0);
    assert_false(b.bulk);
    assert_true(all_zero(b.data, 30));
    assert_memory_equal(b.data + 30, data, 50);
    assert_true(all_zero(b.data + 80, 20));
    assert_int_equal(b.dirty, 80);

    /* The mark survives free; reset of a bulk buffer keeps its bytes. */
    lsh_buf_set_bulk(&b, 1);
    lsh_buf_free(&b);
    assert_true(b.bulk);
    assert_int_equal(lsh_buf_put(&b, data, sizeof(data)), 0);
    lsh_buf_reset(&b);
    assert_int_equal(b.data[99], 0x5a);
    assert_int_equal(b.dirty, 100);
    lsh_buf_release(&b);
    assert_null(b.data);
    assert_int_equal(b.dirty, 0);
    lsh_buf_free(&b);
}

/* The grown storage of a bulk buffer counts only what was copied in. */
static void
bulk_growth_tracks_high_water(void **state)
{
    lsh_buf b;
    uint8_t data[300];
    memset(data, 1, sizeof(data));
    lsh_buf_init(&b, 0);
    lsh_buf_set_bulk(&b, 1);
    assert_int_equal(lsh_buf_put(&b, data, 200), 0);
    assert_int_equal(lsh_buf_consume(&b, 150), 0);
    /* 50 live at 150: the prefix is longer, so a compaction. */
    assert_int_equal(lsh_buf_put(&b, data, 100), 0);
    assert_int_equal(b.cap, 256);
    assert_int_equal(b.off, 0);
    assert_int_equal(b.dirty, 200);
    assert_int_equal(lsh_buf_put(&b, data, 300), 0); /* new storage */
    assert_int_equal(b.dirty, 450);
    assert_int_equal(lsh_buf_len(&b), 450);
    lsh_buf_free(&b);
}

/* Room filled in place: nothing is live until committed, and the
 * room never reaches past max. */
static void
space_then_commit(void **state)
{
    lsh_buf b;
    uint8_t *p;
    size_t room;
    (void)state;
    lsh_buf_init(&b, 1000);
    assert_int_equal(lsh_buf_put(&b, "ab", 2), 0);
    assert_int_equal(lsh_buf_space(&b, 300, &p, &room), 0);
    assert_true(room >= 300 && room <= 998);
    assert_int_equal(lsh_buf_len(&b), 2);
    memcpy(p, "cdef", 4);
    lsh_buf_commit(&b, 4);
    assert_int_equal(lsh_buf_len(&b), 6);
    assert_memory_equal(lsh_buf_ptr(&b), "abcdef", 6);
    assert_true(b.dirty >= 6);
    /* Asking for more than max allows gives what max allows. */
    assert_int_equal(lsh_buf_space(&b, 5000, &p, &room), 0);
    assert_int_equal(room, 994);
    lsh_buf_commit(&b, room);
    assert_int_equal(lsh_buf_len(&b), 1000);
    assert_int_equal(lsh_buf_space(&b, 1, &p, &room), 0);
    assert_int_equal(room, 0);
    assert_null(p);
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
        cmocka_unit_test(compaction_is_amortised),
        cmocka_unit_test(full_buffer_compacts),
        cmocka_unit_test(short_prefix_grows_instead),
        cmocka_unit_test(secret_buffer_wipes_what_it_drops),
        cmocka_unit_test(bulk_buffer_wipes_only_when_storage_goes),
        cmocka_unit_test(bulk_growth_tracks_high_water),
        cmocka_unit_test(space_then_commit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
