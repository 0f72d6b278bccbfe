/*
 * Known-answer tests for the transport ciphers and MACs
 * (src/ssh/transport/cipher.c, mac.c) and for whole wire packets produced
 * by the packet layer with every cipher/MAC pair.
 *
 * Where the vectors come from:
 *   - HMAC: RFC 4231 §4.2/§4.3 (test cases 1 and 2) and RFC 2202 §3 for
 *     SHA-1; values re-checked with `openssl mac -digest SHA256 ... HMAC`.
 *     Our MAC always hashes uint32 seqnr || data, so the first four bytes of
 *     the RFC's message are passed as the sequence number ("Hi T" =
 *     0x48692054), and the RFC's short keys are zero-padded to the SSH key
 *     length, which HMAC treats identically (keys shorter than the block
 *     are padded with zeros).
 *   - chacha20-poly1305@openssh.com: computed twice, independently of this
 *     code: with the openssl CLI (`openssl enc -chacha20` with K_1 and IV
 *     00000000 00000000 || seqnr for the length, K_2 with IV counter 0 for
 *     the Poly1305 key and counter 1 for the payload, then `openssl mac
 *     -macopt hexkey:<polykey> POLY1305` over the ciphertext) and with a
 *     pure-Python ChaCha20 (64-bit counter, 64-bit nonce) and Poly1305
 *     written from RFC 8439 §2.3/§2.5.  Both gave the same bytes.
 *   - Wire packets for every cipher/MAC pair: a separate SSH packet
 *     encoder written in Python on pyca/cryptography 48 (AES-CTR/CBC,
 *     TripleDES, AESGCM with the length as AAD and the RFC 5647 nonce
 *     counter, Python's hmac module, and the pure-Python chacha-poly
 *     above).  Inputs: cipher key byte i = i + 1, IV byte i = 0x80 + i,
 *     MAC key byte i = 0xc0 + i; padding from a counter rng starting at
 *     0x40; two packets, seqnr 0 and 1: P1 = 05 00 00 00 0c "ssh-userauth"
 *     (SSH_MSG_SERVICE_REQUEST) and P2 = bytes 00..27.  Six pairs are kept
 *     in full; for all 51 pairs the SHA-256 of the two-packet wire stream
 *     is kept.
 */
#include "testutil.h"

#include <openssl/evp.h>

#include "common/buf.h"
#include "ssh/transport/cipher.h"
#include "ssh/transport/mac.h"
#include "ssh/transport/packet.h"

/* ------------------------------------------------------------ lookups */

static void
test_cipher_lookup_fields(void **state)
{
    const lsh_cipher_info *c;
    (void)state;

    c = lsh_cipher_lookup("chacha20-poly1305@openssh.com");
    assert_non_null(c);
    assert_int_equal(c->key_len, 64);
    assert_int_equal(c->iv_len, 0);
    assert_int_equal(c->block_size, 8);
    assert_int_equal(c->tag_len, 16);
    assert_true(c->aead);
    assert_false(c->legacy);

    c = lsh_cipher_lookup("aes256-gcm@openssh.com");
    assert_non_null(c);
    assert_int_equal(c->key_len, 32);
    assert_int_equal(c->iv_len, 12);
    assert_int_equal(c->block_size, 16);
    assert_int_equal(c->tag_len, 16);
    assert_true(c->aead);

    c = lsh_cipher_lookup("aes192-ctr");
    assert_non_null(c);
    assert_int_equal(c->key_len, 24);
    assert_int_equal(c->iv_len, 16);
    assert_int_equal(c->tag_len, 0);
    assert_false(c->aead);
    assert_false(c->legacy);

    c = lsh_cipher_lookup("3des-cbc");
    assert_non_null(c);
    assert_int_equal(c->key_len, 24);
    assert_int_equal(c->iv_len, 8);
    assert_int_equal(c->block_size, 8);
    assert_true(c->legacy);
    assert_true(lsh_cipher_lookup("aes128-cbc")->legacy);

    assert_null(lsh_cipher_lookup("aes128-ccm"));
    assert_null(lsh_cipher_lookup("AES128-CTR"));
    assert_null(lsh_cipher_lookup(""));
    assert_null(lsh_cipher_lookup(NULL));
#ifdef LSH_TESTING
    assert_non_null(lsh_cipher_lookup("none"));
#else
    /* "none" must never be negotiable in a production build. */
    assert_null(lsh_cipher_lookup("none"));
#endif
}

static void
test_mac_lookup_fields(void **state)
{
    const lsh_mac_info *m;
    (void)state;

    m = lsh_mac_lookup("hmac-sha2-256");
    assert_non_null(m);
    assert_int_equal(m->key_len, 32);
    assert_int_equal(m->mac_len, 32);
    assert_false(m->etm);
    m = lsh_mac_lookup("hmac-sha2-512-etm@openssh.com");
    assert_non_null(m);
    assert_int_equal(m->key_len, 64);
    assert_int_equal(m->mac_len, 64);
    assert_true(m->etm);
    m = lsh_mac_lookup("hmac-sha1");
    assert_non_null(m);
    assert_int_equal(m->key_len, 20);
    assert_int_equal(m->mac_len, 20);
    assert_true(m->legacy);
    assert_null(lsh_mac_lookup("hmac-md5"));
    assert_null(lsh_mac_lookup("umac-64@openssh.com"));
    assert_null(lsh_mac_lookup(NULL));
#ifdef LSH_TESTING
    assert_non_null(lsh_mac_lookup("none"));
#else
    assert_null(lsh_mac_lookup("none"));
#endif
}

/* --------------------------------------------------------------- HMAC */

typedef struct hmac_vec {
    const char *mac;
    const char *key_hex; /* zero-padded by the test to key_len */
    const char *data;    /* first 4 bytes become the sequence number */
    const char *expect;
} hmac_vec;

static const hmac_vec hmac_vecs[] = {
    /* RFC 4231 §4.2, test case 1. */
    {"hmac-sha2-256", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    {"hmac-sha2-512", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There",
     "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cde"
     "daa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
    /* RFC 4231 §4.3, test case 2 (key "Jefe"). */
    {"hmac-sha2-256", "4a656665", "what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {"hmac-sha2-512-etm@openssh.com", "4a656665",
     "what do ya want for nothing?",
     "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
     "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
    /* RFC 2202 §3, test cases 1 and 2. */
    {"hmac-sha1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "Hi There",
     "b617318655057264e28bc0b6fb378c8ef146be00"},
    {"hmac-sha1-etm@openssh.com", "4a656665", "what do ya want for nothing?",
     "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
};

static void
test_hmac_rfc4231_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(hmac_vecs) / sizeof(hmac_vecs[0]); i++) {
        const hmac_vec *v = &hmac_vecs[i];
        const lsh_mac_info *info = lsh_mac_lookup(v->mac);
        uint8_t key[LSH_MAC_MAX_KEY] = {0}, out[LSH_MAC_MAX_LEN];
        const uint8_t *data = (const uint8_t *)v->data;
        size_t klen;
        uint8_t *k = tu_unhex(v->key_hex, &klen);
        lsh_mac_ctx m;

        assert_non_null(info);
        memcpy(key, k, klen);
        free(k);
        assert_int_equal(lsh_mac_init(&m, info, key), 0);
        /* Twice: the second run re-uses the keyed context. */
        for (int round = 0; round < 2; round++) {
            assert_int_equal(lsh_mac_compute(&m, lsh_peek_u32(data),
                                             data + 4, strlen(v->data) - 4,
                                             out),
                             0);
            tu_assert_hex(out, info->mac_len, v->expect);
        }
        assert_int_equal(lsh_mac_verify(&m, lsh_peek_u32(data), data + 4,
                                        strlen(v->data) - 4, out),
                         0);
        out[info->mac_len - 1] ^= 1;
        assert_int_equal(lsh_mac_verify(&m, lsh_peek_u32(data), data + 4,
                                        strlen(v->data) - 4, out),
                         LSH_EBADMAC);
        /* A different sequence number is a different MAC. */
        out[info->mac_len - 1] ^= 1;
        assert_int_equal(lsh_mac_verify(&m, lsh_peek_u32(data) + 1, data + 4,
                                        strlen(v->data) - 4, out),
                         LSH_EBADMAC);
        lsh_mac_free(&m);
    }
}

/* ------------------------------------------------ chacha20-poly1305 KAT */

/* See the header comment: key[i] = 3i + 1, seqnr 0x01020304. */
static const char chacha_plain[] =
    "00000018" "06" "050000000c7373682d7573657261757468" "404142434445";
static const char chacha_wire[] =
    "968a385b" "9d12a2b0cd7fa30c570ff033c3e833cc15f24c13b10e7c3a"
    "1cb50c13d14172815d7e7482f88f84ce";

static void
chacha_key(uint8_t key[64])
{
    for (int i = 0; i < 64; i++) {
        key[i] = (uint8_t)(3 * i + 1);
    }
}

static void
test_chachapoly_matches_openssl_cli(void **state)
{
    const lsh_cipher_info *info =
        lsh_cipher_lookup("chacha20-poly1305@openssh.com");
    uint8_t key[64], tag[16];
    lsh_cipher_ctx enc, dec;
    size_t n;
    uint8_t *pkt = tu_unhex(chacha_plain, &n);
    uint32_t len = 0;
    (void)state;

    chacha_key(key);
    assert_int_equal(n, 28);
    assert_int_equal(lsh_cipher_init(&enc, info, 1, key, NULL), 0);
    assert_int_equal(lsh_cipher_init(&dec, info, 0, key, NULL), 0);
    assert_int_equal(lsh_cipher_seal(&enc, 0x01020304, pkt, n, tag), 0);
    tu_assert_hex(pkt, n, "968a385b9d12a2b0cd7fa30c570ff033c3e833cc15f24c13"
                          "b10e7c3a");
    tu_assert_hex(tag, 16, "1cb50c13d14172815d7e7482f88f84ce");

    /* The receiver learns the length from the encrypted field alone. */
    assert_int_equal(lsh_cipher_peek_length(&dec, 0x01020304, pkt, &len), 0);
    assert_int_equal(len, 24);
    /* Wrong sequence number: the tag does not verify, nothing decrypted. */
    assert_int_equal(lsh_cipher_open(&dec, 0x01020305, pkt, n, tag),
                     LSH_EBADMAC);
    tu_assert_hex(pkt, n, "968a385b9d12a2b0cd7fa30c570ff033c3e833cc15f24c13"
                          "b10e7c3a");
    tag[3] ^= 0x20;
    assert_int_equal(lsh_cipher_open(&dec, 0x01020304, pkt, n, tag),
                     LSH_EBADMAC);
    tag[3] ^= 0x20;
    assert_int_equal(lsh_cipher_open(&dec, 0x01020304, pkt, n, tag), 0);
    /* The length stays as received; the rest is plaintext again. */
    tu_assert_hex(pkt + 4, n - 4,
                  "06050000000c7373682d7573657261757468404142434445");
    /* The context is reusable for the next packet. */
    assert_int_equal(lsh_cipher_seal(&enc, 0x01020305, pkt, n, tag), 0);
    lsh_cipher_free(&enc);
    lsh_cipher_free(&dec);
    free(pkt);
}

/* ------------------------------------------------------ AES-GCM nonce */

static void
test_gcm_invocation_counter_wraps_64_bits(void **state)
{
    const lsh_cipher_info *info = lsh_cipher_lookup("aes128-gcm@openssh.com");
    uint8_t key[16] = {0}, iv[12], tag[16], pkt[20] = {0, 0, 0, 16};
    lsh_cipher_ctx c;
    (void)state;

    /* RFC 5647 §7.1: fixed field 01020304, invocation counter all ones. */
    memcpy(iv, "\x01\x02\x03\x04\xff\xff\xff\xff\xff\xff\xff\xff", 12);
    assert_int_equal(lsh_cipher_init(&c, info, 1, key, iv), 0);
    assert_int_equal(lsh_cipher_seal(&c, 0, pkt, sizeof(pkt), tag), 0);
    /* The counter wraps modulo 2^64 and never carries into the fixed part. */
    tu_assert_hex(c.nonce, 12, "010203040000000000000000");
    assert_int_equal(lsh_cipher_seal(&c, 0, pkt, sizeof(pkt), tag), 0);
    tu_assert_hex(c.nonce, 12, "010203040000000000000001");
    /* Misuse: sealing with a decrypting context, too-short packets. */
    assert_int_equal(lsh_cipher_seal(&c, 0, pkt, 3, tag), LSH_EINVAL);
    lsh_cipher_free(&c);
    assert_int_equal(lsh_cipher_init(&c, info, 0, key, iv), 0);
    assert_int_equal(lsh_cipher_seal(&c, 0, pkt, sizeof(pkt), tag), LSH_EINVAL);
    assert_int_equal(lsh_cipher_crypt(&c, pkt, 16), LSH_EINVAL);
    lsh_cipher_free(&c);
    /* A missing key is refused, and the context stays zeroed. */
    assert_int_equal(lsh_cipher_init(&c, info, 1, NULL, iv), LSH_EINVAL);
    assert_null(c.evp);
}

static void
test_stream_cipher_rejects_partial_blocks(void **state)
{
    const lsh_cipher_info *info = lsh_cipher_lookup("aes128-cbc");
    uint8_t key[16] = {1}, iv[16] = {2}, buf[32] = {0};
    lsh_cipher_ctx c;
    (void)state;

    assert_int_equal(lsh_cipher_init(&c, info, 1, key, iv), 0);
    assert_int_equal(lsh_cipher_crypt(&c, buf, 15), LSH_EINVAL);
    assert_int_equal(lsh_cipher_crypt(&c, buf, 32), 0);
    assert_int_equal(lsh_cipher_seal(&c, 0, buf, 32, buf), LSH_EINVAL);
    lsh_cipher_free(&c);
}

/* ------------------------------------------------------- wire packets */

typedef struct wire_vec {
    const char *cipher;
    const char *mac; /* NULL for AEAD */
    const char *hex;
} wire_vec;

/* Two-packet wire streams, in full (see the header comment). */
static const wire_vec wire_full[] = {
    {"chacha20-poly1305@openssh.com", NULL,
     "a6596422658fd71667ceda4af3664323f2accc4d8fb4cfb81b87284993bd88f7"
     "20ed95f1d8f970141ee12e7ff872f7d9135c7ba98bf8805285036d4943aeba3a"
     "af259aa99955a4eb1e03af4adbbae88dc206aa02f7d5d0691d629b07582b94d0"
     "e96d8d5d78acb61b2aa678b812aeaf55"},
    {"aes128-gcm@openssh.com", NULL,
     "000000206faf125d62a1ce92cbddfa00c22a03fbd3d9026ff615c1e041131c54"
     "ebc203f11b63611ff6cd9c7a363f7cf9d565ff5a000000304f9ae4b1623afdc0"
     "f1854d1590d4af6183f47722872cae1517ed984f9857e4f103ec07b70b2c1640"
     "3f2d31bcd33709538b9066aba87615bdccb219bdc3b95026"},
    {"aes256-gcm@openssh.com", NULL,
     "00000020e2d356fde0ecb8c34b6a894919b64d9a3de03d427ad5bc2c15a47150"
     "52f957cfd67a98c41a92429b6f3814287ce400be000000306d0e154ea6af32af"
     "9c9a601aaab7d4af3774124f6316c3e0c916e50f0a008ea1b1c9d7d4c655ad21"
     "df1ecd80a42db3b42eeb97d2082318dcfb8ba539770f5b23"},
    {"aes128-ctr", "hmac-sha2-256",
     "9394476c82fe352b68f4e1ee9ce02b4b91b770d417a2a929652d29a52463af47"
     "3cca839b8804ea8fcd8f6c098f7a87f679b3d7363111e31fb90c80044003162d"
     "067e309904f7093d2ada672514db8571b26f972e1b75d45413e7f3123545fa50"
     "9d3a396a29810d208bdcb78c3fdb35da741fe82bfc951af0b6448d740fb2bb5f"
     "ac88ec0a6e5559b6d28a32d80bcf449973932728672902c99ae0cc4cb1c36a27"},
    {"aes256-cbc", "hmac-sha1-etm@openssh.com",
     "000000208879931f6f45e3ac5f32deb14b7f8d1e86e8be2d2f3658d3a2cc6f69"
     "66ab7cbcdfda65ef25ba7e72c57c55bae85aa9b656cc3e5100000030c3ca3015"
     "d9874d6b3c7ca656f0c69a3e778813f57ebb092c870d06690c41f24befa31383"
     "93a28c2a04c7d664458363abd1a9266acab1f47d77655f1098f4885fd067356c"},
    {"3des-cbc", "hmac-sha2-512",
     "368535830325aeb281fbbcc613c3406228ac1c77990861eeaaa908700a8fc1c1"
     "14ca71665316b7dc2fabaca714705fe0207f0399e433ea35f3525772f2dc9acd"
     "8fed2ae007493d3adbe6805d129c6f6e1035ef00fe8eaa28ae4375a1b518016b"
     "8cdd712d40f7cf3f15af74052e30eb9acb80e4abbb21b77e7e76503a0b7c2618"
     "b3f39b44ecf81eadc0a3778678336b1b310fc94a69ee62f31977c699358a99b4"
     "321a25a1825e1ea0c452fc17fd26146eedfeac262e515b4387b71f96b89276c9"
     "dabc8c4952205a24bbc1a655ce45a542b505d97378b614fd"},
};

/* SHA-256 of the same two-packet stream for every cipher/MAC pair. */
static const wire_vec wire_sha[] = {
    {"chacha20-poly1305@openssh.com", NULL,
     "997aa5d77786b8e692c27563d31119babf167791afb9858b611e192866e30063"},
    {"aes128-gcm@openssh.com", NULL,
     "fd645ec071e9eee0fcdb3aa2fbac01e40f0d294d574148dc283419f2cbdad72b"},
    {"aes256-gcm@openssh.com", NULL,
     "82d7de5faa759fd992aff0cefa38a834b68f9f8cfb36663ceae86a31a0354cf3"},
    {"aes128-ctr", "hmac-sha2-256",
     "ddf1b1fee88cbae6bdf90c1943b99f365134d2f9839acd3df9a3bdc02dbe2237"},
    {"aes128-ctr", "hmac-sha2-512",
     "4f14be1e333fc07317f0311a3ad24d025a65a4a02411b935e65e32de8bb23b94"},
    {"aes128-ctr", "hmac-sha1",
     "9ff757537098341383e1441d7877919e406d2402eb1c495cb27226037077782e"},
    {"aes128-ctr", "hmac-sha2-256-etm@openssh.com",
     "a3405d0c92441ca02c67a725040922d9e20b938df77d1014cd4b5bac5f09ea51"},
    {"aes128-ctr", "hmac-sha2-512-etm@openssh.com",
     "0750b9596d518bce31110573d296a406e4cd97f72400ae45972c4d498e1919e0"},
    {"aes128-ctr", "hmac-sha1-etm@openssh.com",
     "b325a22b2c5c0182948ef149b5ff6793fc67e0e3ae9959e751c7e1a6ce83a259"},
    {"aes192-ctr", "hmac-sha2-256",
     "1e40043db06d7ba74d44d2b9cce40270907781ce3f2f5f0ac047e019762a81dd"},
    {"aes192-ctr", "hmac-sha2-512",
     "0f3a396a56d1935efd9482d3c774148a111446c02093f0abbf06fd51b23dfbb4"},
    {"aes192-ctr", "hmac-sha1",
     "43c9769e9669562c4e6143a2f6ce2cdc2f1857b153f2e2e9fb14770ae2d5bc58"},
    {"aes192-ctr", "hmac-sha2-256-etm@openssh.com",
     "9cb2d68e4af6801b884bbbda6d17e2aa5b4f71439cb023e6546c655b24985b0c"},
    {"aes192-ctr", "hmac-sha2-512-etm@openssh.com",
     "998a52ef403ab5df12fc1784d2affc790a53e3c31dbacdece639a06c0b1892ca"},
    {"aes192-ctr", "hmac-sha1-etm@openssh.com",
     "7d7c5299b03f88163934ea033ffe9110d48985ba7cface055594340765dee7dc"},
    {"aes256-ctr", "hmac-sha2-256",
     "f02c3d41c11ca1c5cd30b753ce3781076159b155deee10393446668b2cdd3ec4"},
    {"aes256-ctr", "hmac-sha2-512",
     "0d6c0ac6c7bbc79df71ad45ebd4253a133cfc69ad4366b4ad900521fd8dfed8c"},
    {"aes256-ctr", "hmac-sha1",
     "a6d3cd87037998cf7f835e81da08a7dd8a691795302c49e5383cbd87b84dbfb8"},
    {"aes256-ctr", "hmac-sha2-256-etm@openssh.com",
     "56f3343c0d9bc32b5113a0e6857cb326f0623119db6c489eb5970ba3d5a1dfb3"},
    {"aes256-ctr", "hmac-sha2-512-etm@openssh.com",
     "272d338c76c0ba961763ae25c9abf7d1926637affd56674af463488fa6c37147"},
    {"aes256-ctr", "hmac-sha1-etm@openssh.com",
     "2d31c52f71bb9b4db2ed006c37a65ec047a41dca337d076ec6a2b01b65d6f286"},
    {"aes128-cbc", "hmac-sha2-256",
     "319d925b1b5af26d08a17b6f2de9e70ad844b7ef144ffdc265ca05c5d932f8d0"},
    {"aes128-cbc", "hmac-sha2-512",
     "807905e5edc4cdf1c8a10bead175aed0b0fa30c0d365864c5cfe3a1215ed0619"},
    {"aes128-cbc", "hmac-sha1",
     "8a3bf4930e37c8b216599ba8f048c8d8ad61c2bdce20a3c992a642c56c183572"},
    {"aes128-cbc", "hmac-sha2-256-etm@openssh.com",
     "9f46204696d85513be168d2f472d1705afb6f450b6d546ebafe4fd813806f1d8"},
    {"aes128-cbc", "hmac-sha2-512-etm@openssh.com",
     "8c668838922ad54fcd51eba7582ba718264c564b64d0af64e4647ff3b14d7db3"},
    {"aes128-cbc", "hmac-sha1-etm@openssh.com",
     "1a1d69f239892f6ef46ec7eeb305055e7cd87fc2689fe810146ff9b04fcf575c"},
    {"aes192-cbc", "hmac-sha2-256",
     "39acbb60ef09a0655db0f2dee348a58be03465bce42a4d456d7f1a268b722d44"},
    {"aes192-cbc", "hmac-sha2-512",
     "d9161a5a4c6c6fbc28e591917c932e791d4537b3ab8cb640edd14e2edec6d557"},
    {"aes192-cbc", "hmac-sha1",
     "56c8797e3f547cf0a8bdde467475f2fec878fb589d860491c330bccb28edbb60"},
    {"aes192-cbc", "hmac-sha2-256-etm@openssh.com",
     "ea0f75af9e9de547872851a77d07b22501f2a57bdb18ecf0192b580d484eb38f"},
    {"aes192-cbc", "hmac-sha2-512-etm@openssh.com",
     "2542c3270c6f6cdc3fdd34e997cd62d6f52b46ac63f5706c6eafb7c6a746c027"},
    {"aes192-cbc", "hmac-sha1-etm@openssh.com",
     "127ccae8f70cb7511774584858ae4585b0f0a2615dce8cdb28389fb2d29b3403"},
    {"aes256-cbc", "hmac-sha2-256",
     "8f3b5c7b977244162d698a7992e2452918ceddce222c36fe47419b3f0f005057"},
    {"aes256-cbc", "hmac-sha2-512",
     "9e5660becbce7d992697b802214059883d817a6e695fab43f03b14aaf6ddad9d"},
    {"aes256-cbc", "hmac-sha1",
     "2a7206901e13cabe94ac011987fae9d385d7cbf5415ce690b2ce1f2793d5e1ca"},
    {"aes256-cbc", "hmac-sha2-256-etm@openssh.com",
     "053eaef8655bf562d6af75737f4f233e8a605ca6cf57db6d26c5fb996a272757"},
    {"aes256-cbc", "hmac-sha2-512-etm@openssh.com",
     "a7a3a6256199a4d921520e6b4c2a4071498e1785f1a4efc4e61f6f3122ef69c0"},
    {"aes256-cbc", "hmac-sha1-etm@openssh.com",
     "e25809b932d88388838a6599584b7b7615b75f6ecb91f887152a0bc101ab6d38"},
    {"3des-cbc", "hmac-sha2-256",
     "877f4e42205612e2c975bc234f854fa384bfe1c6045f5f8fac2672e20ae073ec"},
    {"3des-cbc", "hmac-sha2-512",
     "452bd242a4e80a0179ffd2fe87ba4729bffc03167cdd8d7e14fda95a647255bd"},
    {"3des-cbc", "hmac-sha1",
     "6c2968bafe3c126a5ad82ca8767cacd1a56d4f5a2dd48cfc5e8999249fd781dd"},
    {"3des-cbc", "hmac-sha2-256-etm@openssh.com",
     "035657cd05408d6ced42fbc27d066f759df6b598dea7067c12ca8a03025e44c3"},
    {"3des-cbc", "hmac-sha2-512-etm@openssh.com",
     "49259e9196c67c25736f5c80ea64e55ed2951b48b60af58f5bdb76862e1efd7b"},
    {"3des-cbc", "hmac-sha1-etm@openssh.com",
     "17eba1a06839c9d45a4b499acef611bf37e5b08244874275cea815fb633b6901"},
};

typedef struct counter_rng {
    uint8_t next;
} counter_rng;

static int
counter_rng_fill(void *ctx, uint8_t *out, size_t n)
{
    counter_rng *c = ctx;
    for (size_t i = 0; i < n; i++) {
        out[i] = c->next++;
    }
    return 0;
}

static void
fill_keys(uint8_t *p, size_t n, unsigned base)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(base + i);
    }
}

static const uint8_t P1[] = {5, 0, 0, 0, 12, 's', 's', 'h', '-', 'u', 's',
                             'e', 'r', 'a', 'u', 't', 'h'};

/* Encodes P1 and P2 under (cipher, mac) with the vector's fixed inputs. */
static void
encode_vector(const char *cipher, const char *mac, lsh_buf *wire)
{
    const lsh_cipher_info *ci = lsh_cipher_lookup(cipher);
    const lsh_mac_info *mi = mac ? lsh_mac_lookup(mac) : NULL;
    uint8_t key[64], iv[16], mkey[64], p2[40];
    counter_rng rng = {0x40};
    lsh_pkt_dir tx;

    assert_non_null(ci);
    fill_keys(key, sizeof(key), 1);
    fill_keys(iv, sizeof(iv), 0x80);
    fill_keys(mkey, sizeof(mkey), 0xc0);
    fill_keys(p2, sizeof(p2), 0);
    assert_true(ci->aead || mi != NULL);
    memset(&tx, 0, sizeof(tx));
    assert_int_equal(lsh_pkt_dir_set_keys(&tx, 1, cipher, mac, "none", key,
                                          iv, mkey),
                     0);
    assert_int_equal(lsh_pkt_encode(&tx, P1, sizeof(P1), counter_rng_fill,
                                    &rng, wire),
                     0);
    assert_int_equal(lsh_pkt_encode(&tx, p2, sizeof(p2), counter_rng_fill,
                                    &rng, wire),
                     0);
    assert_int_equal(tx.seqnr, 2);
    assert_int_equal(tx.packets, 2);
    assert_int_equal(tx.bytes, lsh_buf_len(wire));
    lsh_pkt_dir_free(&tx);
}

/* Decodes the two packets back and checks the payloads. */
static void
decode_vector(const char *cipher, const char *mac, lsh_buf *wire)
{
    uint8_t key[64], iv[16], mkey[64], p2[40];
    lsh_pkt_dir rx;
    lsh_buf out;

    fill_keys(key, sizeof(key), 1);
    fill_keys(iv, sizeof(iv), 0x80);
    fill_keys(mkey, sizeof(mkey), 0xc0);
    fill_keys(p2, sizeof(p2), 0);
    lsh_buf_init(&out, 0);
    memset(&rx, 0, sizeof(rx));
    assert_int_equal(lsh_pkt_dir_set_keys(&rx, 0, cipher, mac, NULL, key, iv,
                                          mkey),
                     0);
    assert_int_equal(lsh_pkt_decode(&rx, wire, &out), 0);
    assert_int_equal(lsh_buf_len(&out), sizeof(P1));
    assert_memory_equal(lsh_buf_ptr(&out), P1, sizeof(P1));
    lsh_buf_reset(&out);
    assert_int_equal(lsh_pkt_decode(&rx, wire, &out), 0);
    assert_int_equal(lsh_buf_len(&out), sizeof(p2));
    assert_memory_equal(lsh_buf_ptr(&out), p2, sizeof(p2));
    assert_int_equal(lsh_buf_len(wire), 0);
    assert_int_equal(lsh_pkt_decode(&rx, wire, &out), LSH_EAGAIN);
    assert_int_equal(rx.seqnr, 2);
    lsh_pkt_dir_free(&rx);
    lsh_buf_free(&out);
}

static void
test_wire_packets_in_full(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(wire_full) / sizeof(wire_full[0]); i++) {
        const wire_vec *v = &wire_full[i];
        lsh_buf wire;

        lsh_buf_init(&wire, 0);
        encode_vector(v->cipher, v->mac, &wire);
        tu_assert_hex(lsh_buf_ptr(&wire), lsh_buf_len(&wire), v->hex);
        decode_vector(v->cipher, v->mac, &wire);
        lsh_buf_free(&wire);
    }
}

static void
test_wire_packets_every_pair(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(wire_sha) / sizeof(wire_sha[0]); i++) {
        const wire_vec *v = &wire_sha[i];
        uint8_t md[32];
        unsigned mdlen = 0;
        lsh_buf wire;

        lsh_buf_init(&wire, 0);
        encode_vector(v->cipher, v->mac, &wire);
        assert_true(EVP_Digest(lsh_buf_ptr(&wire), lsh_buf_len(&wire), md,
                               &mdlen, EVP_sha256(), NULL));
        tu_assert_hex(md, mdlen, v->hex);
        decode_vector(v->cipher, v->mac, &wire);
        lsh_buf_free(&wire);
    }
}

/* The chacha-poly KAT above, this time through the packet layer. */
static void
test_chachapoly_packet_layer_kat(void **state)
{
    uint8_t key[64], payload[] = {5, 0, 0, 0, 12, 's', 's', 'h', '-', 'u',
                                  's', 'e', 'r', 'a', 'u', 't', 'h'};
    counter_rng rng = {0x40};
    lsh_pkt_dir tx;
    lsh_buf wire;
    (void)state;

    chacha_key(key);
    memset(&tx, 0, sizeof(tx));
    lsh_buf_init(&wire, 0);
    assert_int_equal(lsh_pkt_dir_set_keys(&tx, 1,
                                          "chacha20-poly1305@openssh.com",
                                          "ignored-for-aead", NULL, key, NULL,
                                          NULL),
                     0);
    tx.seqnr = 0x01020304;
    assert_int_equal(lsh_pkt_encode(&tx, payload, sizeof(payload),
                                    counter_rng_fill, &rng, &wire),
                     0);
    tu_assert_hex(lsh_buf_ptr(&wire), lsh_buf_len(&wire), chacha_wire);
    lsh_pkt_dir_free(&tx);
    lsh_buf_free(&wire);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cipher_lookup_fields),
        cmocka_unit_test(test_mac_lookup_fields),
        cmocka_unit_test(test_hmac_rfc4231_vectors),
        cmocka_unit_test(test_chachapoly_matches_openssl_cli),
        cmocka_unit_test(test_chachapoly_packet_layer_kat),
        cmocka_unit_test(test_gcm_invocation_counter_wraps_64_bits),
        cmocka_unit_test(test_stream_cipher_rejects_partial_blocks),
        cmocka_unit_test(test_wire_packets_in_full),
        cmocka_unit_test(test_wire_packets_every_pair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
