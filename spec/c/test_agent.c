/*
 * The agent protocol codec (src/ssh/connection/agent.c).  The expected
 * bytes are written out by hand from the message layouts of RFC 9987 §5
 * and the numbers of §8; the ADD_IDENTITY body is checked field by field
 * against the key's own public blob.
 */
#include "testutil.h"

#include "common/rd.h"
#include "ssh/connection/agent.h"

static void
test_frame_needs_whole_message(void **state)
{
    const uint8_t *body;
    size_t blen, total;
    size_t n;
    uint8_t *m = tu_unhex("00000002 0600 ff", &n);
    (void)state;
    assert_int_equal(0, lsh_agent_frame(m, 3, &body, &blen, &total));
    assert_int_equal(0, lsh_agent_frame(m, 5, &body, &blen, &total));
    assert_int_equal(1, lsh_agent_frame(m, n, &body, &blen, &total));
    assert_int_equal(2, blen);
    assert_int_equal(6, total);
    assert_ptr_equal(m + 4, body);
    free(m);
}

static void
test_frame_rejects_empty_and_oversized(void **state)
{
    const uint8_t *body;
    size_t blen, total, n;
    uint8_t *zero = tu_unhex("00000000", &n);
    uint8_t *big = tu_unhex("00040001", &n); /* 256 KiB + 1 */
    (void)state;
    assert_int_equal(LSH_EBADPACKET,
                     lsh_agent_frame(zero, 4, &body, &blen, &total));
    assert_int_equal(LSH_ETOOLARGE,
                     lsh_agent_frame(big, 4, &body, &blen, &total));
    free(zero);
    free(big);
}

static void
test_simple_requests(void **state)
{
    lsh_buf b;
    (void)state;
    lsh_buf_init(&b, 4096);
    assert_int_equal(0, lsh_agent_req_identities(&b));
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b), "00000001 0b");
    lsh_buf_reset(&b);
    assert_int_equal(0, lsh_agent_req_remove_all(&b));
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b), "00000001 13");
    lsh_buf_reset(&b);
    assert_int_equal(0, lsh_agent_req_lock(&b, 1, "pw"));
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b),
                  "00000007 16 00000002 7077");
    lsh_buf_reset(&b);
    assert_int_equal(0, lsh_agent_req_lock(&b, 0, "pw"));
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b),
                  "00000007 17 00000002 7077");
    lsh_buf_reset(&b);
    assert_int_equal(0, lsh_agent_req_remove(&b, (const uint8_t *)"ab", 2));
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b),
                  "00000007 12 00000002 6162");
    lsh_buf_reset(&b);
    assert_int_equal(0, lsh_agent_req_sign(&b, (const uint8_t *)"k", 1,
                                           (const uint8_t *)"data", 4,
                                           LSH_AGENT_RSA_SHA2_512));
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b),
                  "00000012 0d 00000001 6b 00000004 64617461 00000004");
    lsh_buf_free(&b);
}

static void
test_request_too_large_leaves_buffer(void **state)
{
    lsh_buf b;
    static uint8_t data[LSH_AGENT_MAX_MSG];
    (void)state;
    lsh_buf_init(&b, 2 * LSH_AGENT_MAX_MSG);
    assert_int_equal(0, lsh_agent_req_identities(&b));
    assert_int_equal(LSH_ETOOLARGE,
                     lsh_agent_req_sign(&b, data, 8, data, sizeof(data), 0));
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b), "00000001 0b");
    lsh_buf_free(&b);
}

static void
test_sign_flags(void **state)
{
    (void)state;
    assert_int_equal(LSH_AGENT_RSA_SHA2_256,
                     lsh_agent_sign_flags("rsa-sha2-256"));
    assert_int_equal(LSH_AGENT_RSA_SHA2_512,
                     lsh_agent_sign_flags("rsa-sha2-512"));
    assert_int_equal(0, lsh_agent_sign_flags("ssh-rsa"));
    assert_int_equal(0, lsh_agent_sign_flags("ssh-ed25519"));
    assert_int_equal(0, lsh_agent_sign_flags(NULL));
}

static void
test_add_ed25519_layout(void **state)
{
    lsh_key *k, *pub;
    lsh_buf b, blob;
    lsh_rd rd, brd;
    uint32_t len;
    uint8_t type;
    const uint8_t *s, *pk, *bpk;
    size_t sl, pkl, bpkl;
    (void)state;

    assert_int_equal(0, lsh_key_generate(LSH_KEY_ED25519, 0, &k));
    lsh_buf_init(&b, 4096);
    lsh_buf_init(&blob, 4096);
    assert_int_equal(0, lsh_key_to_blob(k, &blob));
    assert_int_equal(0, lsh_agent_req_add(&b, k, "my key", 0, 0));

    /* §5.2.3: type, ENC(A), k || ENC(A), comment */
    lsh_rd_init(&rd, lsh_buf_ptr(&b), lsh_buf_len(&b));
    assert_int_equal(0, lsh_rd_u32(&rd, &len));
    assert_int_equal(lsh_buf_len(&b) - 4, len);
    assert_int_equal(0, lsh_rd_u8(&rd, &type));
    assert_int_equal(LSH_AGENTC_ADD_IDENTITY, type);
    assert_int_equal(0, lsh_rd_string(&rd, &s, &sl));
    assert_int_equal(11, sl);
    assert_memory_equal("ssh-ed25519", s, 11);
    assert_int_equal(0, lsh_rd_string(&rd, &pk, &pkl));
    assert_int_equal(32, pkl);
    lsh_rd_init(&brd, lsh_buf_ptr(&blob), lsh_buf_len(&blob));
    assert_int_equal(0, lsh_rd_string(&brd, &s, &sl));
    assert_int_equal(0, lsh_rd_string(&brd, &bpk, &bpkl));
    assert_memory_equal(bpk, pk, 32);
    assert_int_equal(0, lsh_rd_string(&rd, &s, &sl));
    assert_int_equal(64, sl);
    assert_memory_equal(s + 32, pk, 32);
    assert_int_equal(0, lsh_rd_string(&rd, &s, &sl));
    assert_int_equal(6, sl);
    assert_memory_equal("my key", s, 6);
    assert_int_equal(0, lsh_rd_end(&rd));

    /* §5.2.7: constraints make it ADD_ID_CONSTRAINED */
    lsh_buf_reset(&b);
    assert_int_equal(0, lsh_agent_req_add(&b, k, "", 60, 1));
    assert_int_equal(LSH_AGENTC_ADD_ID_CONSTRAINED, lsh_buf_ptr(&b)[4]);
    tu_assert_hex(lsh_buf_ptr(&b) + lsh_buf_len(&b) - 6, 6,
                  "01 0000003c 02");

    /* a public key cannot be added; nothing is appended */
    pub = lsh_key_public_copy(k);
    lsh_buf_reset(&b);
    assert_int_equal(LSH_EINVAL, lsh_agent_req_add(&b, pub, "", 0, 0));
    assert_int_equal(0, lsh_buf_len(&b));

    lsh_key_free(pub);
    lsh_key_free(k);
    lsh_buf_free(&b);
    lsh_buf_free(&blob);
}

static void
test_add_rsa_and_ecdsa(void **state)
{
    lsh_key *k;
    lsh_buf b;
    lsh_rd rd;
    uint32_t len;
    uint8_t type;
    const uint8_t *s;
    size_t sl;
    (void)state;

    lsh_buf_init(&b, 16384);
    assert_int_equal(0, lsh_key_generate(LSH_KEY_ECDSA_P256, 0, &k));
    assert_int_equal(0, lsh_agent_req_add(&b, k, "e", 0, 0));
    /* §5.2.2: type, curve name, Q, d, comment */
    lsh_rd_init(&rd, lsh_buf_ptr(&b), lsh_buf_len(&b));
    assert_int_equal(0, lsh_rd_u32(&rd, &len));
    assert_int_equal(0, lsh_rd_u8(&rd, &type));
    assert_int_equal(0, lsh_rd_string(&rd, &s, &sl));
    assert_memory_equal("ecdsa-sha2-nistp256", s, sl);
    assert_int_equal(0, lsh_rd_string(&rd, &s, &sl));
    assert_memory_equal("nistp256", s, sl);
    assert_int_equal(0, lsh_rd_string(&rd, &s, &sl));
    assert_int_equal(65, sl);
    assert_int_equal(0, lsh_rd_string(&rd, &s, &sl)); /* d */
    assert_int_equal(0, lsh_rd_string(&rd, &s, &sl)); /* comment */
    assert_int_equal(0, lsh_rd_end(&rd));
    lsh_key_free(k);

    lsh_buf_reset(&b);
    assert_int_equal(0, lsh_key_generate(LSH_KEY_RSA, 1024, &k));
    assert_int_equal(0, lsh_agent_req_add(&b, k, "r", 0, 0));
    /* §5.2.4: type, n, e, d, iqmp, p, q, comment */
    lsh_rd_init(&rd, lsh_buf_ptr(&b), lsh_buf_len(&b));
    assert_int_equal(0, lsh_rd_u32(&rd, &len));
    assert_int_equal(0, lsh_rd_u8(&rd, &type));
    assert_int_equal(0, lsh_rd_string(&rd, &s, &sl));
    assert_memory_equal("ssh-rsa", s, sl);
    for (int i = 0; i < 7; i++) {
        assert_int_equal(0, lsh_rd_string(&rd, &s, &sl));
    }
    assert_memory_equal("r", s, 1);
    assert_int_equal(0, lsh_rd_end(&rd));
    lsh_key_free(k);
    lsh_buf_free(&b);
}

static void
test_parse_status(void **state)
{
    (void)state;
    assert_int_equal(0, lsh_agent_parse_status((const uint8_t *)"\x06", 1));
    assert_int_equal(LSH_EREFUSED,
                     lsh_agent_parse_status((const uint8_t *)"\x05", 1));
    assert_int_equal(LSH_EREFUSED,
                     lsh_agent_parse_status((const uint8_t *)"\x1c", 1));
    assert_int_equal(LSH_EBADPACKET,
                     lsh_agent_parse_status((const uint8_t *)"\x0c", 1));
    assert_int_equal(LSH_ETRAILING,
                     lsh_agent_parse_status((const uint8_t *)"\x06\x00", 2));
    assert_int_equal(LSH_ETRUNCATED,
                     lsh_agent_parse_status((const uint8_t *)"", 0));
}

typedef struct seen {
    int n;
    char comments[4][16];
    int stop_at;
} seen;

static int
collect(void *ctx, const lsh_agent_identity *id)
{
    seen *s = ctx;
    memcpy(s->comments[s->n], id->comment, id->comment_len);
    s->comments[s->n][id->comment_len] = '\0';
    s->n++;
    return s->n == s->stop_at ? 42 : 0;
}

static void
test_parse_identities(void **state)
{
    size_t n, mn;
    seen s;
    uint8_t *m = tu_unhex("0c 00000002"
                          "00000002 6b31 00000001 61"  /* "k1", "a" */
                          "00000002 6b32 00000002 6262", /* "k2", "bb" */
                          &n);
    uint8_t *many = tu_unhex("0c 00000401", &mn); /* 1025 keys */
    uint8_t longer[64];
    (void)state;
    memset(&s, 0, sizeof(s));
    assert_int_equal(0, lsh_agent_parse_identities(m, n, collect, &s));
    assert_int_equal(2, s.n);
    assert_string_equal("a", s.comments[0]);
    assert_string_equal("bb", s.comments[1]);
    /* the callback can stop the walk */
    memset(&s, 0, sizeof(s));
    s.stop_at = 1;
    assert_int_equal(42, lsh_agent_parse_identities(m, n, collect, &s));
    /* a malformed answer reaches no callback */
    memset(&s, 0, sizeof(s));
    assert_int_equal(LSH_ETRUNCATED,
                     lsh_agent_parse_identities(m, n - 1, collect, &s));
    assert_int_equal(0, s.n);
    memcpy(longer, m, n);
    longer[n] = 0;
    assert_int_equal(LSH_ETRAILING,
                     lsh_agent_parse_identities(longer, n + 1, collect, &s));
    assert_int_equal(0, s.n);
    assert_int_equal(LSH_ETOOLARGE,
                     lsh_agent_parse_identities(many, mn, collect, &s));
    assert_int_equal(LSH_EREFUSED, lsh_agent_parse_identities(
                                       (const uint8_t *)"\x05", 1, collect,
                                       &s));
    free(m);
    free(many);
}

static void
test_parse_sign(void **state)
{
    size_t n;
    const uint8_t *sig;
    size_t sl;
    uint8_t *m = tu_unhex("0e 00000003 736967", &n);
    (void)state;
    assert_int_equal(0, lsh_agent_parse_sign(m, n, &sig, &sl));
    assert_int_equal(3, sl);
    assert_memory_equal("sig", sig, 3);
    assert_int_equal(LSH_ETRUNCATED, lsh_agent_parse_sign(m, n - 1, &sig,
                                                          &sl));
    assert_int_equal(LSH_EREFUSED, lsh_agent_parse_sign(
                                       (const uint8_t *)"\x05", 1, &sig,
                                       &sl));
    m[0] = 0x06;
    assert_int_equal(LSH_EBADPACKET, lsh_agent_parse_sign(m, n, &sig, &sl));
    free(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_needs_whole_message),
        cmocka_unit_test(test_frame_rejects_empty_and_oversized),
        cmocka_unit_test(test_simple_requests),
        cmocka_unit_test(test_request_too_large_leaves_buffer),
        cmocka_unit_test(test_sign_flags),
        cmocka_unit_test(test_add_ed25519_layout),
        cmocka_unit_test(test_add_rsa_and_ecdsa),
        cmocka_unit_test(test_parse_status),
        cmocka_unit_test(test_parse_identities),
        cmocka_unit_test(test_parse_sign),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
