/*
 * The SSH transport (src/ssh/conn.c and src/ssh/transport/): two cores
 * back to back.  Handshakes for the algorithm matrix, re-exchanges with
 * data flowing, and the protocol rules of reliability-plan.md P-1 to P-6
 * and P-9 as scripted-peer cases.
 */
#include "testutil.h"

#include "pair.h"
#include "ssh/conn_internal.h"
#include "ssh/transport/packet.h"

static lsh_key *k_ed25519, *k_ed448, *k_p256, *k_p384, *k_p521, *k_rsa;

static int
setup_keys(void **state)
{
    if (lsh_key_generate(LSH_KEY_ED25519, 0, &k_ed25519) != 0 ||
        lsh_key_generate(LSH_KEY_ED448, 0, &k_ed448) != 0 ||
        lsh_key_generate(LSH_KEY_ECDSA_P256, 0, &k_p256) != 0 ||
        lsh_key_generate(LSH_KEY_ECDSA_P384, 0, &k_p384) != 0 ||
        lsh_key_generate(LSH_KEY_ECDSA_P521, 0, &k_p521) != 0 ||
        lsh_key_generate(LSH_KEY_RSA, 2048, &k_rsa) != 0) {
        return -1;
    }
    return 0;
}

static int
teardown_keys(void **state)
{
    lsh_key_free(k_ed25519);
    lsh_key_free(k_ed448);
    lsh_key_free(k_p256);
    lsh_key_free(k_p384);
    lsh_key_free(k_p521);
    lsh_key_free(k_rsa);
    return 0;
}

static lsh_key *
key_for(const char *alg)
{
    if (strcmp(alg, "ssh-ed25519") == 0) return k_ed25519;
    if (strcmp(alg, "ssh-ed448") == 0) return k_ed448;
    if (strcmp(alg, "ecdsa-sha2-nistp256") == 0) return k_p256;
    if (strcmp(alg, "ecdsa-sha2-nistp384") == 0) return k_p384;
    if (strcmp(alg, "ecdsa-sha2-nistp521") == 0) return k_p521;
    return k_rsa;
}

/* Sends n messages of varied sizes from side `from`; returns the bytes. */
static uint8_t *
send_messages(pair *p, int from, int count, size_t maxlen, size_t *total)
{
    lsh_conn *c = from == 0 ? p->c : p->s;
    uint8_t *all = NULL;
    size_t len = 0;
    pair_rng data_rng = {0x9e3779b97f4a7c15ULL + (uint64_t)from};
    for (int i = 0; i < count; i++) {
        size_t n = 1 + ((size_t)i * 7919u + 13u) % maxlen;
        uint8_t *msg = malloc(n);
        /* An unassigned connection-protocol number: post-auth only, and
         * handed up raw by the connection layer. */
        msg[0] = 127;
        /* Incompressible, so that compression does not hide re-exchanges. */
        pair_rng_fill(&data_rng, msg + 1, n - 1);
        assert_int_equal(lsh_conn_send(c, msg, n), 0);
        all = realloc(all, len + n);
        memcpy(all + len, msg, n);
        len += n;
        free(msg);
        if (i % 8 == 7) {
            pair_pump(p, 65536);
        }
    }
    pair_pump(p, 65536);
    *total = len;
    return all;
}

static void
authenticate(pair *p)
{
    lsh_conn_set_authenticated(p->s);
    lsh_conn_set_authenticated(p->c);
}

static int
run_combo(const char *kex, const char *hostkey, const char *cipher,
          const char *mac, const char *comp, uint64_t rekey_bytes,
          int messages)
{
    pair p;
    pair_opts o = {.kex = kex, .hostkey = hostkey, .cipher = cipher,
                   .mac = mac, .comp = comp, .host_key = key_for(hostkey),
                   .rekey_bytes = rekey_bytes};
    size_t n0, n1;
    uint8_t *sent0, *sent1;
    int ok = 1;

    if (pair_init(&p, &o) != 0) {
        return 0;
    }
    pair_pump(&p, 4096);
    if (p.kex_done[0] != 1 || p.kex_done[1] != 1 || p.closed[0] ||
        p.closed[1]) {
        fprintf(stderr, "handshake failed for %s %s %s %s %s: %s | %s\n",
                kex, hostkey, cipher, mac, comp, p.close_text[0],
                p.close_text[1]);
        pair_free(&p);
        return 0;
    }
    if (strcmp(lsh_conn_info(p.c, LSH_INFO_KEX), kex) != 0 ||
        strcmp(lsh_conn_info(p.s, LSH_INFO_HOSTKEY), hostkey) != 0 ||
        strcmp(lsh_conn_info(p.c, LSH_INFO_CIPHER_C2S), cipher) != 0 ||
        strcmp(lsh_conn_info(p.s, LSH_INFO_COMP_S2C), comp) != 0) {
        ok = 0;
    }
    authenticate(&p);
    sent0 = send_messages(&p, 0, messages, 20000, &n0);
    sent1 = send_messages(&p, 1, messages, 20000, &n1);
    if (p.gotlen[1] != n0 || memcmp(p.got[1], sent0, n0) != 0 ||
        p.gotlen[0] != n1 || memcmp(p.got[0], sent1, n1) != 0) {
        fprintf(stderr, "data mismatch for %s %s %s %s %s (%s | %s)\n",
                kex, hostkey, cipher, mac, comp, p.close_text[0],
                p.close_text[1]);
        ok = 0;
    }
    if (rekey_bytes > 0 && (p.kex_done[0] < 4 || p.kex_done[1] < 4)) {
        fprintf(stderr, "only %d/%d exchanges for %s %s %s %s %s\n",
                p.kex_done[0], p.kex_done[1], kex, hostkey, cipher, mac,
                comp);
        ok = 0;
    }
    if (p.closed[0] || p.closed[1]) {
        ok = 0;
    }
    free(sent0);
    free(sent1);
    pair_free(&p);
    return ok;
}

static void
handshake_with_defaults(void **state)
{
    pair p;
    pair_opts o = {.host_key = k_ed25519};
    size_t l1, l2;
    const uint8_t *sid1, *sid2;
    lsh_conn_stats st;

    assert_int_equal(pair_init(&p, &o), 0);
    pair_pump(&p, 1);
    assert_int_equal(p.kex_done[0], 1);
    assert_int_equal(p.kex_done[1], 1);
    assert_int_equal(p.hostkey_events, 1);
    assert_int_equal(p.ext_info, 1);
    assert_string_equal(lsh_conn_info(p.c, LSH_INFO_KEX),
                        "curve25519-sha256");
    assert_string_equal(lsh_conn_info(p.c, LSH_INFO_CIPHER_C2S),
                        "chacha20-poly1305@openssh.com");
    assert_string_equal(lsh_conn_info(p.s, LSH_INFO_HOSTKEY), "ssh-ed25519");
    assert_non_null(lsh_conn_info(p.c, LSH_INFO_SERVER_SIG_ALGS));
    assert_non_null(strstr(lsh_conn_info(p.c, LSH_INFO_SERVER_SIG_ALGS),
                           "rsa-sha2-512"));
    assert_string_equal(lsh_conn_info(p.s, LSH_INFO_PEER_VERSION),
                        lsh_conn_info(p.c, LSH_INFO_OUR_VERSION));
    assert_true(strncmp(lsh_conn_info(p.c, LSH_INFO_OUR_VERSION),
                        "SSH-2.0-luassh_", 15) == 0);
    sid1 = lsh_conn_session_id(p.c, &l1);
    sid2 = lsh_conn_session_id(p.s, &l2);
    assert_int_equal(l1, 32);
    assert_int_equal(l1, l2);
    assert_memory_equal(sid1, sid2, l1);
    lsh_conn_get_stats(p.c, &st);
    assert_true(st.strict_kex);
    pair_free(&p);
}

static void
service_request_is_accepted(void **state)
{
    pair p;
    pair_opts o = {.host_key = k_ed25519};
    assert_int_equal(pair_init(&p, &o), 0);
    /* Queued before the exchange finishes; sent right after NEWKEYS. */
    assert_int_equal(lsh_conn_request_service(p.c, "ssh-userauth"), 0);
    pair_pump(&p, 4096);
    assert_int_equal(p.service_request, 1);
    assert_int_equal(p.service_accept, 1);
    assert_false(p.closed[0] || p.closed[1]);
    pair_free(&p);
}

static void
unknown_service_is_refused(void **state)
{
    pair p;
    pair_opts o = {.host_key = k_ed25519};
    assert_int_equal(pair_init(&p, &o), 0);
    assert_int_equal(lsh_conn_request_service(p.c, "ssh-connection"), 0);
    pair_pump(&p, 4096);
    assert_true(p.closed[0] && p.closed[1]);
    assert_int_equal(p.close_reason[0], LSH_DISCONNECT_SERVICE_NOT_AVAILABLE);
    assert_int_equal(p.close_code[0], LSH_EDISCONNECTED);
    pair_free(&p);
}

/* Every kex method, each host key algorithm, each cipher x MAC x
 * compression: the handshake completes, data crosses at least three
 * re-exchanges, and both sides agree byte for byte. */
static const char *const KEXES[] = {
    "curve25519-sha256", "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256", "ecdh-sha2-nistp384", "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256", "diffie-hellman-group14-sha256",
    "diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha1", "diffie-hellman-group1-sha1",
    "diffie-hellman-group-exchange-sha1"};
static const char *const HOSTKEYS[] = {
    "ssh-ed25519", "ssh-ed448", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521", "rsa-sha2-256", "rsa-sha2-512", "ssh-rsa"};
static const char *const CIPHERS[] = {
    "chacha20-poly1305@openssh.com", "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com", "aes128-ctr", "aes192-ctr", "aes256-ctr",
    "aes128-cbc", "aes192-cbc", "aes256-cbc", "3des-cbc"};
static const char *const MACS[] = {
    "hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com",
    "hmac-sha1-etm@openssh.com", "hmac-sha2-256", "hmac-sha2-512",
    "hmac-sha1"};
static const char *const COMPS[] = {"none", "zlib@openssh.com", "zlib"};
#define N(a) (sizeof(a) / sizeof((a)[0]))

static void
every_kex_method(void **state)
{
    for (size_t i = 0; i < N(KEXES); i++) {
        /* The 8192-bit group is slow: fewer re-exchanges for it. */
        int big = strstr(KEXES[i], "group18") != NULL;
        assert_true(run_combo(KEXES[i], "ssh-ed25519", "aes128-ctr",
                              "hmac-sha2-256", "none",
                              big ? 0 : 150000, 40));
    }
}

static void
every_host_key_algorithm(void **state)
{
    for (size_t i = 0; i < N(HOSTKEYS); i++) {
        assert_true(run_combo("curve25519-sha256", HOSTKEYS[i],
                              "aes256-gcm@openssh.com", "hmac-sha2-256",
                              "none", 150000, 40));
    }
}

static void
every_cipher_mac_compression(void **state)
{
    const char *full = getenv("LSH_FULL_MATRIX");
    for (size_t c = 0; c < N(CIPHERS); c++) {
        for (size_t m = 0; m < N(MACS); m++) {
            for (size_t z = 0; z < N(COMPS); z++) {
                assert_true(run_combo("curve25519-sha256", "ssh-ed25519",
                                      CIPHERS[c], MACS[m], COMPS[z], 150000,
                                      40));
            }
        }
    }
    /* The whole product (12 x 8 x 10 x 6 x 3 = 17280 handshakes) runs in
     * `make soak`. */
    if (full == NULL) {
        return;
    }
    for (size_t k = 0; k < N(KEXES); k++) {
        for (size_t h = 0; h < N(HOSTKEYS); h++) {
            for (size_t c = 0; c < N(CIPHERS); c++) {
                for (size_t m = 0; m < N(MACS); m++) {
                    for (size_t z = 0; z < N(COMPS); z++) {
                        assert_true(run_combo(KEXES[k], HOSTKEYS[h],
                                              CIPHERS[c], MACS[m], COMPS[z],
                                              150000, 40));
                    }
                }
            }
        }
    }
}

static void
rekey_on_request_from_either_side(void **state)
{
    pair p;
    pair_opts o = {.host_key = k_p256};
    size_t n0, n1;
    uint8_t *a, *b;
    assert_int_equal(pair_init(&p, &o), 0);
    pair_pump(&p, 4096);
    authenticate(&p);
    assert_int_equal(lsh_conn_rekey(p.s), 0);
    a = send_messages(&p, 0, 20, 5000, &n0); /* data during the rekey */
    assert_int_equal(lsh_conn_rekey(p.c), 0);
    b = send_messages(&p, 1, 20, 5000, &n1);
    pair_pump(&p, 4096);
    assert_int_equal(p.kex_done[0], 3);
    assert_int_equal(p.kex_done[1], 3);
    assert_int_equal(p.gotlen[1], n0);
    assert_memory_equal(p.got[1], a, n0);
    assert_int_equal(p.gotlen[0], n1);
    assert_memory_equal(p.got[0], b, n1);
    assert_int_equal(p.hostkey_events, 1); /* asked only the first time */
    free(a);
    free(b);
    pair_free(&p);
}

static void
rekey_by_time(void **state)
{
    pair p;
    pair_opts o = {.host_key = k_ed25519};
    pair_now_ms = 1000;
    assert_int_equal(pair_init(&p, &o), 0);
    pair_pump(&p, 4096);
    authenticate(&p);
    assert_int_equal(lsh_conn_next_deadline(p.c), 1000 + 3600 * 1000);
    pair_now_ms += 3600 * 1000;
    lsh_conn_tick(p.c);
    pair_pump(&p, 4096);
    assert_int_equal(p.kex_done[0], 2);
    assert_int_equal(p.kex_done[1], 2);
    pair_now_ms = 0;
    pair_free(&p);
}

static void established(pair *p, const lsh_key *hk);

static void
stalled_rekey_times_out(void **state)
{
    pair p;
    lsh_event ev;
    int closed = 0;
    pair_now_ms = 1000;
    established(&p, k_ed25519);
    authenticate(&p);
    assert_int_equal(lsh_conn_rekey(p.c), 0);
    /* The peer never answers: nothing is pumped. */
    assert_int_equal(lsh_conn_next_deadline(p.c), 1000 + 120 * 1000);
    pair_now_ms += 119 * 1000;
    lsh_conn_tick(p.c);
    assert_int_equal(lsh_conn_next_event(p.c, &ev), 0);
    pair_now_ms += 1000;
    lsh_conn_tick(p.c);
    while (lsh_conn_next_event(p.c, &ev)) {
        if (ev.type == LSH_EV_CLOSED) {
            closed = ev.code;
        }
    }
    assert_int_equal(closed, LSH_ETIMEOUT);
    pair_now_ms = 0;
    pair_free(&p);
}

static void
host_key_rejection_disconnects(void **state)
{
    pair p;
    pair_opts o = {.host_key = k_ed25519};
    assert_int_equal(pair_init(&p, &o), 0);
    p.reject_hostkey = 1;
    pair_pump(&p, 4096);
    assert_true(p.closed[0] && p.closed[1]);
    assert_int_equal(p.close_code[0], LSH_EHOSTKEY);
    assert_int_equal(p.close_reason[1],
                     LSH_DISCONNECT_HOST_KEY_NOT_VERIFIABLE);
    assert_int_equal(p.kex_done[0], 0);
    /* A failed connection offers no room to read into: its reader
     * discards through lsh_conn_feed instead. */
    {
        uint8_t *room_at = (uint8_t *)&p;
        size_t room = 1;
        size_t used = 0;
        assert_int_equal(lsh_conn_feed_space(p.c, 4096, &room_at, &room), 0);
        assert_int_equal(room, 0);
        assert_null(room_at);
        (void)lsh_conn_feed(p.c, (const uint8_t *)"xyz", 3, &used);
        assert_int_equal(used, 3);
    }
    pair_free(&p);
}

static void
no_common_cipher_names_the_category(void **state)
{
    pair p;
    pair_opts o = {.host_key = k_ed25519, .cipher = "aes128-ctr",
                   .server_cipher = "aes256-gcm@openssh.com"};
    assert_int_equal(pair_init(&p, &o), 0);
    pair_pump(&p, 4096);
    assert_true(p.closed[0] && p.closed[1]);
    assert_int_equal(p.close_code[0], LSH_ENOALG);
    assert_non_null(strstr(p.close_text[0], "no common cipher"));
    assert_int_equal(p.close_reason[1], LSH_DISCONNECT_KEY_EXCHANGE_FAILED);
    pair_free(&p);
}

static void
bad_algorithm_list_is_refused_at_creation(void **state)
{
    lsh_config cfg;
    lsh_conn *c = NULL;
    pair_rng rng = {1};
    memset(&cfg, 0, sizeof(cfg));
    cfg.role = LSH_ROLE_CLIENT;
    cfg.rng = pair_rng_fill;
    cfg.rng_ctx = &rng;
    cfg.clock = pair_clock;
    cfg.encryption_algs = "rot13";
    assert_int_equal(lsh_conn_new(&cfg, &c), LSH_ENOALG);
    assert_null(c);
    cfg.encryption_algs = NULL;
    cfg.role = LSH_ROLE_SERVER; /* a server without host keys */
    assert_int_equal(lsh_conn_new(&cfg, &c), LSH_EINVAL);
}

/* Scripted peers: a real core on one side, raw messages on the other. */

static void
established(pair *p, const lsh_key *hk)
{
    pair_opts o = {.host_key = (lsh_key *)hk};
    assert_int_equal(pair_init(p, &o), 0);
    pair_pump(p, 4096);
    assert_int_equal(p->kex_done[1], 1);
}

/* Sends a raw message from side `from` with its current keys, bypassing
 * every check of its own state machine. */
static void
inject(pair *p, int from, const uint8_t *msg, size_t n)
{
    assert_int_equal(lsh__conn_send_now(from == 0 ? p->c : p->s, msg, n), 0);
    pair_pump(p, 4096);
}

static void
server_rejects_each_connection_message_before_auth(void **state)
{
    /* P-1 / CVE-2025-32433: every 80-127 number pre-auth disconnects. */
    for (unsigned t = 80; t <= 127; t++) {
        pair p;
        uint8_t msg[16] = {(uint8_t)t};
        established(&p, k_ed25519);
        inject(&p, 0, msg, sizeof(msg));
        assert_true(p.closed[1]);
        assert_int_equal(p.close_code[1], LSH_EUNEXPECTED);
        assert_int_equal(p.close_reason[0], LSH_DISCONNECT_PROTOCOL_ERROR);
        assert_int_equal(p.gotlen[1], 0); /* nothing reached the layers */
        pair_free(&p);
    }
}

static void
server_rejects_userauth_success_from_client(void **state)
{
    /* CVE-2018-10933: a client's USERAUTH_SUCCESS is not a login. */
    pair p;
    uint8_t msg[1] = {LSH_MSG_USERAUTH_SUCCESS};
    established(&p, k_ed25519);
    inject(&p, 0, msg, 1);
    assert_true(p.closed[1]);
    assert_int_equal(p.close_code[1], LSH_EUNEXPECTED);
    pair_free(&p);
}

static void
client_rejects_server_only_messages(void **state)
{
    /* SERVICE_REQUEST to a client, USERAUTH_REQUEST to a client, and a
     * connection message before authentication. */
    const uint8_t bad[] = {LSH_MSG_SERVICE_REQUEST, LSH_MSG_USERAUTH_REQUEST,
                           90};
    for (size_t i = 0; i < sizeof(bad); i++) {
        pair p;
        uint8_t msg[8] = {bad[i]};
        established(&p, k_ed25519);
        inject(&p, 1, msg, sizeof(msg));
        assert_true(p.closed[0]);
        assert_int_equal(p.close_code[0], LSH_EUNEXPECTED);
        pair_free(&p);
    }
}

static void
unknown_message_gets_unimplemented(void **state)
{
    pair p;
    uint8_t msg[4] = {150, 1, 2, 3};
    established(&p, k_ed25519);
    inject(&p, 0, msg, sizeof(msg));
    assert_false(p.closed[0] || p.closed[1]);
    pair_free(&p);
}

static void
ext_info_out_of_place_is_fatal(void **state)
{
    /* CVE-2023-46445: EXT_INFO after the first packet following NEWKEYS
     * (server side) disconnects. */
    pair p;
    uint8_t msg[5] = {LSH_MSG_EXT_INFO, 0, 0, 0, 0};
    established(&p, k_ed25519);
    inject(&p, 0, (const uint8_t[]){LSH_MSG_IGNORE, 0, 0, 0, 0}, 5);
    inject(&p, 0, msg, sizeof(msg));
    assert_true(p.closed[1]);
    assert_int_equal(p.close_code[1], LSH_EUNEXPECTED);
    pair_free(&p);
}

static void
ext_info_with_huge_count_is_fatal(void **state)
{
    pair p;
    uint8_t msg[5] = {LSH_MSG_EXT_INFO, 0xff, 0xff, 0xff, 0xff};
    established(&p, k_ed25519);
    inject(&p, 1, msg, sizeof(msg));
    assert_true(p.closed[0]);
    assert_int_equal(p.close_code[0], LSH_EBADPACKET);
    pair_free(&p);
}

static void
messages_during_rekey_are_fatal(void **state)
{
    /* RFC 4253 §7.1 / OpenSSH 72b05ecd1: after its KEXINIT the peer may
     * send only transport messages until NEWKEYS. */
    pair p;
    uint8_t data[8] = {94};
    established(&p, k_ed25519);
    authenticate(&p);
    assert_int_equal(lsh_conn_rekey(p.c), 0);
    /* Deliver the client's KEXINIT, then a data message behind it. */
    assert_int_equal(lsh__conn_send_now(p.c, data, sizeof(data)), 0);
    pair_pump(&p, 4096);
    assert_true(p.closed[1]);
    assert_int_equal(p.close_code[1], LSH_EUNEXPECTED);
    pair_free(&p);
}

static void
second_kexinit_during_kex_is_fatal(void **state)
{
    pair p;
    pair_opts o = {.host_key = k_ed25519};
    assert_int_equal(pair_init(&p, &o), 0);
    /* The client's first KEXINIT is queued already: repeat it raw. */
    {
        lsh_buf copy;
        lsh_buf_init(&copy, 0);
        assert_int_equal(lsh_buf_put(&copy, lsh_buf_ptr(&p.c->my_kexinit),
                                     lsh_buf_len(&p.c->my_kexinit)),
                         0);
        assert_int_equal(lsh__conn_send_now(p.c, lsh_buf_ptr(&copy),
                                            lsh_buf_len(&copy)),
                         0);
        lsh_buf_free(&copy);
    }
    pair_pump(&p, 4096);
    assert_true(p.closed[1]);
    assert_int_equal(p.close_code[1], LSH_EUNEXPECTED);
    pair_free(&p);
}

static void
newkeys_out_of_sequence_is_fatal(void **state)
{
    pair p;
    pair_opts o = {.host_key = k_ed25519};
    uint8_t nk = LSH_MSG_NEWKEYS;
    assert_int_equal(pair_init(&p, &o), 0);
    assert_int_equal(lsh__conn_send_now(p.c, &nk, 1), 0);
    pair_pump(&p, 4096);
    assert_true(p.closed[1]);
    pair_free(&p);
}

/*
 * Terrapin (CVE-2023-48795, reliability-plan P-2 e): a man in the middle
 * inserts an unencrypted IGNORE before the server's NEWKEYS and deletes
 * the server's first encrypted packet (its EXT_INFO).  The sequence
 * numbers then still agree, so without strict kex the client silently
 * loses EXT_INFO; with strict kex the IGNORE is fatal.
 */
static void
terrapin_mitm(pair *p, int dir, uint8_t **buf, size_t *n)
{
    int *done = p->user;
    size_t off = 0, newkeys_at = 0;
    uint8_t *in = *buf, *out;
    static const uint8_t ignore_pkt[16] = {0, 0, 0, 12, 10, 2, 0, 0, 0, 0};
    if (dir != 1 || *done) {
        return;
    }
    /* Walk the plaintext packets of this chunk to find NEWKEYS. */
    while (off + 6 <= *n) {
        uint32_t len = lsh_peek_u32(in + off);
        if (len > *n - off - 4) {
            return;
        }
        if (in[off + 5] == LSH_MSG_NEWKEYS) {
            newkeys_at = off;
            break;
        }
        off += 4 + len;
    }
    if (off + 6 > *n || in[off + 5] != LSH_MSG_NEWKEYS) {
        return;
    }
    /* [before NEWKEYS][IGNORE][NEWKEYS]; what follows (EXT_INFO) is
     * dropped. */
    {
        size_t nk_len = 4 + lsh_peek_u32(in + newkeys_at);
        size_t total = newkeys_at + sizeof(ignore_pkt) + nk_len;
        out = malloc(total);
        memcpy(out, in, newkeys_at);
        memcpy(out + newkeys_at, ignore_pkt, sizeof(ignore_pkt));
        memcpy(out + newkeys_at + sizeof(ignore_pkt), in + newkeys_at,
               nk_len);
        free(in);
        *buf = out;
        *n = total;
        *done = 1;
    }
}

static void
terrapin_attack_fails_with_strict_kex(void **state)
{
    static const char *const ciphers[] = {"chacha20-poly1305@openssh.com",
                                          "aes128-cbc"};
    for (size_t i = 0; i < N(ciphers); i++) {
        for (int strict = 1; strict >= 0; strict--) {
            pair p;
            pair_opts o = {.host_key = k_ed25519, .cipher = ciphers[i],
                           .mac = "hmac-sha2-256-etm@openssh.com",
                           .disable_strict_kex = !strict};
            int done = 0;
            assert_int_equal(pair_init(&p, &o), 0);
            p.user = &done;
            p.tamper = terrapin_mitm;
            assert_int_equal(lsh_conn_request_service(p.c, "ssh-userauth"),
                             0);
            pair_pump(&p, 1 << 20);
            assert_int_equal(done, 1); /* the attack was carried out */
            if (strict) {
                assert_true(p.closed[0]);
                assert_int_equal(p.close_code[0], LSH_EUNEXPECTED);
            } else {
                /* Positive control: the attack works without strict kex.
                 * (Only for chacha20-poly1305, where it is deterministic:
                 * with CBC the deleted packet breaks the IV chain, and the
                 * attack succeeds only with some probability.) */
                if (i > 0) {
                    pair_free(&p);
                    continue;
                }
                assert_false(p.closed[0] || p.closed[1]);
                assert_int_equal(p.ext_info, 0);
                assert_int_equal(p.service_accept, 1);
            }
            pair_free(&p);
        }
    }
}

/* Terrapin (P-2): an IGNORE injected during the initial exchange. */
static void
strict_kex_rejects_ignore_during_initial_kex(void **state)
{
    pair p;
    pair_opts o = {.host_key = k_ed25519};
    uint8_t ign[5] = {LSH_MSG_IGNORE, 0, 0, 0, 0};
    assert_int_equal(pair_init(&p, &o), 0);
    /* After the client's KEXINIT, before NEWKEYS. */
    assert_int_equal(lsh__conn_send_now(p.c, ign, sizeof(ign)), 0);
    pair_pump(&p, 4096);
    assert_true(p.closed[1]);
    assert_int_equal(p.close_code[1], LSH_EUNEXPECTED);
    pair_free(&p);
}

static void
without_strict_kex_ignore_is_accepted(void **state)
{
    pair p;
    pair_opts o = {.host_key = k_ed25519, .disable_strict_kex = 1};
    uint8_t ign[5] = {LSH_MSG_IGNORE, 0, 0, 0, 0};
    lsh_conn_stats st;
    assert_int_equal(pair_init(&p, &o), 0);
    assert_int_equal(lsh__conn_send_now(p.c, ign, sizeof(ign)), 0);
    pair_pump(&p, 4096);
    assert_false(p.closed[0] || p.closed[1]);
    assert_int_equal(p.kex_done[1], 1);
    lsh_conn_get_stats(p.s, &st);
    assert_false(st.strict_kex);
    pair_free(&p);
}

static void
strict_kex_markers_only_in_first_kexinit(void **state)
{
    pair p;
    lsh_kexinit ki;
    established(&p, k_ed25519);
    authenticate(&p);
    assert_int_equal(lsh_conn_rekey(p.c), 0);
    assert_int_equal(lsh_kexinit_parse(lsh_buf_ptr(&p.c->my_kexinit),
                                       lsh_buf_len(&p.c->my_kexinit), &ki),
                     0);
    assert_false(lsh_namelist_contains(ki.list[0].p, ki.list[0].len,
                                       "kex-strict-c-v00@openssh.com"));
    assert_false(lsh_namelist_contains(ki.list[0].p, ki.list[0].len,
                                       "ext-info-c"));
    pair_pump(&p, 4096);
    assert_int_equal(p.kex_done[0], 2);
    pair_free(&p);
}

/* Bit flips in flight: the MAC (or AEAD tag) catches every one. */
static void
flip_once(pair *p, int dir, uint8_t **buf, size_t *n)
{
    int *armed = p->user;
    if (dir == 0 && *armed && *n > 20) {
        (*buf)[*n / 2] ^= 0x01;
        *armed = 0;
    }
}

static void
bad_mac_disconnects_with_mac_error(void **state)
{
    for (size_t c = 0; c < N(CIPHERS); c++) {
        pair p;
        pair_opts o = {.host_key = k_ed25519, .cipher = CIPHERS[c],
                       .mac = "hmac-sha2-256-etm@openssh.com"};
        uint8_t msg[200] = {94};
        int armed = 1;
        assert_int_equal(pair_init(&p, &o), 0);
        pair_pump(&p, 65536);
        authenticate(&p);
        p.user = &armed;
        p.tamper = flip_once;
        assert_int_equal(lsh_conn_send(p.c, msg, sizeof(msg)), 0);
        pair_pump(&p, 65536);
        assert_true(p.closed[1]);
        assert_int_equal(p.close_code[1], LSH_EBADMAC);
        assert_int_equal(p.close_reason[0], LSH_DISCONNECT_MAC_ERROR);
        pair_free(&p);
    }
}

/* Raw-bytes peers */

static lsh_conn *
raw_server(pair_rng *rng)
{
    lsh_config cfg;
    lsh_conn *c;
    lsh_key *keys[1] = {k_ed25519};
    memset(&cfg, 0, sizeof(cfg));
    cfg.role = LSH_ROLE_SERVER;
    cfg.rng = pair_rng_fill;
    cfg.rng_ctx = rng;
    cfg.clock = pair_clock;
    cfg.host_keys = keys;
    cfg.n_host_keys = 1;
    cfg.login_timeout_ms = 2000;
    assert_int_equal(lsh_conn_new(&cfg, &c), 0);
    return c;
}

static lsh_conn *
raw_client(pair_rng *rng)
{
    lsh_config cfg;
    lsh_conn *c;
    memset(&cfg, 0, sizeof(cfg));
    cfg.role = LSH_ROLE_CLIENT;
    cfg.rng = pair_rng_fill;
    cfg.rng_ctx = rng;
    cfg.clock = pair_clock;
    assert_int_equal(lsh_conn_new(&cfg, &c), 0);
    return c;
}

/* Feeds bytes and returns the CLOSED event's code (0 if still open). */
static int
feed_raw(lsh_conn *c, const void *data, size_t n, uint32_t *reason)
{
    lsh_event ev;
    size_t used, off = 0;
    int code = 0;
    while (off < n) {
        (void)lsh_conn_feed(c, (const uint8_t *)data + off, n - off, &used);
        off += used;
        while (lsh_conn_next_event(c, &ev)) {
            if (ev.type == LSH_EV_CLOSED) {
                code = ev.code;
                if (reason) {
                    *reason = ev.reason;
                }
            }
        }
        if (used == 0 || code) {
            break;
        }
    }
    return code;
}

static void
version_exchange_rules(void **state)
{
    pair_rng rng = {7};
    struct {
        int server;
        const char *input;
        int code;
    } cases[] = {
        {1, "hello\r\n", LSH_EBADVERSION},           /* P-4 */
        {1, "SSH-1.5-old\r\n", LSH_EBADVERSION},
        {0, "SSH-1.5-old\r\n", LSH_EBADVERSION},
        {1, "SSH-2.0-with\001ctl\r\n", LSH_EBADVERSION},
        {1, "SSH-2.0\r\n", LSH_EBADVERSION},
        {1, "SSH-2.0-ok\r\n", 0},
        {1, "SSH-1.99-compat\r\n", 0},
        {0, "banner line\r\nanother\nSSH-2.0-ok\r\n", 0},
        {1, "SSH-2.0-bare-lf\n", 0},
    };
    for (size_t i = 0; i < N(cases); i++) {
        lsh_conn *c = cases[i].server ? raw_server(&rng) : raw_client(&rng);
        assert_int_equal(feed_raw(c, cases[i].input, strlen(cases[i].input),
                                  NULL),
                         cases[i].code);
        lsh_conn_free(c);
    }
}

static void
version_line_limits(void **state)
{
    pair_rng rng = {9};
    char line[400];
    lsh_conn *c;
    char *many;
    /* 256 bytes of identification. */
    memset(line, 'a', sizeof(line));
    memcpy(line, "SSH-2.0-", 8);
    line[300] = '\0';
    c = raw_server(&rng);
    assert_int_equal(feed_raw(c, line, strlen(line), NULL), LSH_EBADVERSION);
    lsh_conn_free(c);
    /* NUL in a banner line. */
    c = raw_client(&rng);
    assert_int_equal(feed_raw(c, "ban\0ner\r\n", 9, NULL), LSH_EBADVERSION);
    lsh_conn_free(c);
    /* 1025 banner lines. */
    many = malloc(1025 * 3 + 1);
    for (int i = 0; i < 1025; i++) {
        memcpy(many + i * 3, "x\r\n", 3);
    }
    many[1025 * 3] = '\0';
    c = raw_client(&rng);
    assert_int_equal(feed_raw(c, many, strlen(many), NULL), LSH_EBADVERSION);
    lsh_conn_free(c);
    free(many);
    /* A banner line longer than 8 KiB. */
    many = malloc(9000);
    memset(many, 'b', 9000);
    c = raw_client(&rng);
    assert_int_equal(feed_raw(c, many, 9000, NULL), LSH_EBADVERSION);
    lsh_conn_free(c);
    free(many);
}

static void
silent_peer_dropped_at_login_timeout(void **state)
{
    pair_rng rng = {11};
    lsh_conn *c;
    lsh_event ev;
    int closed = 0;
    pair_now_ms = 5000;
    c = raw_server(&rng);
    assert_int_equal(lsh_conn_next_deadline(c), 7000);
    pair_now_ms = 6999;
    lsh_conn_tick(c);
    assert_int_equal(lsh_conn_next_event(c, &ev), 0);
    pair_now_ms = 7000;
    lsh_conn_tick(c);
    while (lsh_conn_next_event(c, &ev)) {
        if (ev.type == LSH_EV_CLOSED) {
            closed = ev.code;
        }
    }
    assert_int_equal(closed, LSH_ETIMEOUT);
    pair_now_ms = 0;
    lsh_conn_free(c);
}

/* Unencrypted framing (P-6): bad packet lengths right after the version. */
static void
framing_limits(void **state)
{
    pair_rng rng = {13};
    static const uint8_t lens[][4] = {
        {0xff, 0xff, 0xff, 0xff}, {0x80, 0, 0, 0}, {0, 4, 0, 1}, {0, 0, 0, 1},
    };
    for (size_t i = 0; i < N(lens); i++) {
        uint8_t buf[64] = "SSH-2.0-x\r\n";
        uint32_t reason = 0;
        lsh_conn *c = raw_server(&rng);
        memcpy(buf + 11, lens[i], 4);
        memset(buf + 15, 0, sizeof(buf) - 15);
        assert_true(feed_raw(c, buf, sizeof(buf), &reason) < 0);
        assert_int_equal(reason, LSH_DISCONNECT_PROTOCOL_ERROR);
        lsh_conn_free(c);
    }
}

static void
kexinit_reserved_nonzero_is_rejected(void **state)
{
    pair_rng rng = {17};
    lsh_conn *cl = raw_client(&rng), *sv = raw_server(&rng);
    lsh_pkt_dir d;
    lsh_buf wire;
    const uint8_t *out;
    size_t n;
    lsh_kexinit ki;
    uint8_t *kexinit;
    size_t klen;
    /* Take the client's own KEXINIT and set its reserved field. */
    klen = lsh_buf_len(&cl->my_kexinit);
    kexinit = malloc(klen);
    memcpy(kexinit, lsh_buf_ptr(&cl->my_kexinit), klen);
    kexinit[klen - 1] = 1;
    assert_int_equal(lsh_kexinit_parse(kexinit, klen, &ki), 0);
    memset(&d, 0, sizeof(d));
    lsh_buf_init(&wire, 0);
    assert_int_equal(lsh_buf_put(&wire, "SSH-2.0-x\r\n", 11), 0);
    assert_int_equal(lsh_pkt_encode(&d, kexinit, klen, pair_rng_fill, &rng,
                                    &wire),
                     0);
    assert_int_equal(feed_raw(sv, lsh_buf_ptr(&wire), lsh_buf_len(&wire),
                              NULL),
                     LSH_EBADPACKET);
    lsh_conn_out(sv, &out, &n);
    assert_true(n > 0);
    lsh_pkt_dir_free(&d);
    lsh_buf_free(&wire);
    free(kexinit);
    lsh_conn_free(cl);
    lsh_conn_free(sv);
}

static void
peer_disconnect_text_is_surfaced(void **state)
{
    pair p;
    established(&p, k_ed25519);
    lsh_conn_disconnect(p.s, LSH_DISCONNECT_BY_APPLICATION, "bye now");
    pair_pump(&p, 4096);
    assert_true(p.closed[0]);
    assert_int_equal(p.close_code[0], LSH_EDISCONNECTED);
    assert_int_equal(p.close_reason[0], LSH_DISCONNECT_BY_APPLICATION);
    assert_non_null(strstr(p.close_text[0], "bye now"));
    pair_free(&p);
}

static void
held_messages_wait_for_the_exchange(void **state)
{
    pair p;
    pair_opts o = {.host_key = k_ed25519};
    uint8_t msg[100] = {127, 1, 2, 3}; /* handed up raw when it arrives */
    established(&p, k_ed25519);
    (void)o;
    authenticate(&p);
    assert_int_equal(lsh_conn_rekey(p.c), 0);
    /* Our KEXINIT is out: this message must wait for NEWKEYS. */
    assert_int_equal(lsh_conn_send(p.c, msg, sizeof(msg)), 0);
    assert_true(lsh_conn_can_send(p.c));
    pair_pump(&p, 4096);
    assert_false(p.closed[1]);
    assert_int_equal(p.gotlen[1], sizeof(msg));
    assert_int_equal(p.kex_done[1], 2);
    pair_free(&p);
}

static void
ignore_and_ping(void **state)
{
    pair p;
    established(&p, k_ed25519);
    authenticate(&p);
    assert_int_equal(lsh_conn_send_ignore(p.c, 100), 0);
    assert_int_equal(lsh_conn_ping(p.c, (const uint8_t *)"abc", 3), 0);
    pair_pump(&p, 4096);
    assert_false(p.closed[0] || p.closed[1]);
    pair_free(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handshake_with_defaults),
        cmocka_unit_test(service_request_is_accepted),
        cmocka_unit_test(unknown_service_is_refused),
        cmocka_unit_test(every_kex_method),
        cmocka_unit_test(every_host_key_algorithm),
        cmocka_unit_test(every_cipher_mac_compression),
        cmocka_unit_test(rekey_on_request_from_either_side),
        cmocka_unit_test(rekey_by_time),
        cmocka_unit_test(stalled_rekey_times_out),
        cmocka_unit_test(host_key_rejection_disconnects),
        cmocka_unit_test(no_common_cipher_names_the_category),
        cmocka_unit_test(bad_algorithm_list_is_refused_at_creation),
        cmocka_unit_test(server_rejects_each_connection_message_before_auth),
        cmocka_unit_test(server_rejects_userauth_success_from_client),
        cmocka_unit_test(client_rejects_server_only_messages),
        cmocka_unit_test(unknown_message_gets_unimplemented),
        cmocka_unit_test(ext_info_out_of_place_is_fatal),
        cmocka_unit_test(ext_info_with_huge_count_is_fatal),
        cmocka_unit_test(messages_during_rekey_are_fatal),
        cmocka_unit_test(second_kexinit_during_kex_is_fatal),
        cmocka_unit_test(newkeys_out_of_sequence_is_fatal),
        cmocka_unit_test(strict_kex_rejects_ignore_during_initial_kex),
        cmocka_unit_test(terrapin_attack_fails_with_strict_kex),
        cmocka_unit_test(without_strict_kex_ignore_is_accepted),
        cmocka_unit_test(strict_kex_markers_only_in_first_kexinit),
        cmocka_unit_test(bad_mac_disconnects_with_mac_error),
        cmocka_unit_test(version_exchange_rules),
        cmocka_unit_test(version_line_limits),
        cmocka_unit_test(silent_peer_dropped_at_login_timeout),
        cmocka_unit_test(framing_limits),
        cmocka_unit_test(kexinit_reserved_nonzero_is_rejected),
        cmocka_unit_test(peer_disconnect_text_is_surfaced),
        cmocka_unit_test(held_messages_wait_for_the_exchange),
        cmocka_unit_test(ignore_and_ping),
    };
    return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
