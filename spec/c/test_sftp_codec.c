/*
 * Unit tests for src/ssh/sftp/codec.c (draft-ietf-secsh-filexfer-02,
 * OpenSSH PROTOCOL §4).  The hex vectors are written by hand from the
 * layouts in draft-02 §3, §5, §6.3 and §7.
 */
#include "testutil.h"

#include "common/buf.h"
#include "ssh/sftp/codec.h"

/* Strips the 4-byte length of the single framed packet in b. */
static const uint8_t *
body(lsh_buf *b, size_t *n)
{
    const uint8_t *pkt;
    size_t used;
    assert_int_equal(lsh_sftp_frame(lsh_buf_ptr(b), lsh_buf_len(b),
                                    LSH_SFTP_MAX_PACKET, &pkt, n, &used),
                     1);
    assert_int_equal(used, lsh_buf_len(b));
    return pkt;
}

static lsh_sftp_str
S(const char *s)
{
    lsh_sftp_str r = {(const uint8_t *)s, strlen(s)};
    return r;
}

static void
frame_needs_whole_packet_and_bounds_length(void **state)
{
    const uint8_t *pkt;
    size_t n, used;
    uint8_t two[] = {0, 0, 0, 2, 4, 5};
    uint8_t zero[] = {0, 0, 0, 0};
    uint8_t big[] = {0, 4, 0, 1};
    (void)state;
    assert_int_equal(lsh_sftp_frame(two, 3, 100, &pkt, &n, &used), 0);
    assert_int_equal(lsh_sftp_frame(two, 5, 100, &pkt, &n, &used), 0);
    assert_int_equal(lsh_sftp_frame(two, 6, 100, &pkt, &n, &used), 1);
    assert_int_equal(n, 2);
    assert_int_equal(used, 6);
    assert_int_equal(pkt[0], 4);
    assert_int_equal(lsh_sftp_frame(zero, 4, 100, &pkt, &n, &used),
                     LSH_EBADPACKET);
    assert_int_equal(lsh_sftp_frame(big, 4, LSH_SFTP_MAX_PACKET, &pkt, &n,
                                    &used),
                     LSH_ETOOLARGE);
}

static void
attrs_roundtrip_every_field(void **state)
{
    lsh_buf b;
    lsh_rd rd;
    lsh_sftp_attrs a, d;
    uint8_t ext[] = {0, 0, 0, 1, 'x', 0, 0, 0, 1, 'y'};
    (void)state;
    memset(&a, 0, sizeof(a));
    a.flags = LSH_SFTP_ATTR_KNOWN;
    a.size = 0x0102030405060708ULL;
    a.uid = 1000;
    a.gid = 1001;
    a.perms = 0100644;
    a.atime = 10;
    a.mtime = 20;
    a.ext_count = 1;
    a.ext.p = ext;
    a.ext.n = sizeof(ext);
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_sftp_attrs_put(&b, &a), 0);
    /* draft-02 §5 layout. */
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b),
                  "8000000f 0102030405060708 000003e8 000003e9 000081a4"
                  "0000000a 00000014 00000001 00000001 78 00000001 79");
    lsh_rd_init(&rd, lsh_buf_ptr(&b), lsh_buf_len(&b));
    assert_int_equal(lsh_sftp_attrs_decode(&rd, &d), 0);
    assert_int_equal(lsh_rd_end(&rd), 0);
    assert_int_equal(d.size, a.size);
    assert_int_equal(d.uid, 1000);
    assert_int_equal(d.gid, 1001);
    assert_int_equal(d.perms, 0100644);
    assert_int_equal(d.mtime, 20);
    assert_int_equal(d.ext_count, 1);
    assert_int_equal(d.ext.n, sizeof(ext));
    /* Every truncation fails and leaves the cursor where it was. */
    for (size_t k = 0; k < lsh_buf_len(&b); k++) {
        lsh_rd_init(&rd, lsh_buf_ptr(&b), k);
        assert_int_equal(lsh_sftp_attrs_decode(&rd, &d), LSH_ETRUNCATED);
        assert_int_equal(rd.pos, 0);
    }
    lsh_buf_free(&b);
}

static void
attrs_unknown_flag_is_protocol_error(void **state)
{
    size_t n;
    uint8_t *p = tu_unhex("00000010", &n);
    lsh_rd rd;
    lsh_sftp_attrs a;
    (void)state;
    lsh_rd_init(&rd, p, n);
    assert_int_equal(lsh_sftp_attrs_decode(&rd, &a), LSH_EPROTOCOL);
    free(p);
    /* An absurd extended count is refused before any allocation. */
    p = tu_unhex("80000000 ffffffff", &n);
    lsh_rd_init(&rd, p, n);
    assert_int_equal(lsh_sftp_attrs_decode(&rd, &a), LSH_ETOOLARGE);
    free(p);
}

static void
open_request_known_bytes(void **state)
{
    /* draft-02 §6.3: OPEN id=7 "a/b" READ|WRITE|CREAT, attrs perms 0600 */
    size_t n;
    uint8_t *p = tu_unhex("03 00000007 00000003 612f62 0000000b"
                          "00000004 00000180",
                          &n);
    lsh_sftp_request q;
    int id_ok;
    lsh_buf b;
    size_t bn;
    const uint8_t *bp;
    (void)state;
    assert_int_equal(lsh_sftp_request_decode(p, n, &q, &id_ok), 0);
    assert_int_equal(q.type, LSH_SFTP_OPEN);
    assert_int_equal(q.id, 7);
    assert_int_equal(q.path.n, 3);
    assert_memory_equal(q.path.p, "a/b", 3);
    assert_int_equal(q.pflags, 0x0b);
    assert_int_equal(q.attrs.flags, LSH_SFTP_ATTR_PERMISSIONS);
    assert_int_equal(q.attrs.perms, 0600);
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_sftp_request_put(&b, &q), 0);
    bp = body(&b, &bn);
    assert_int_equal(bn, n);
    assert_memory_equal(bp, p, n);
    lsh_buf_free(&b);
    free(p);
}

/* Encodes q, decodes it back and returns the decoded request. */
static lsh_sftp_request
roundtrip(const lsh_sftp_request *q, lsh_buf *b)
{
    lsh_sftp_request d;
    const uint8_t *p;
    size_t n;
    int id_ok;
    lsh_buf_reset(b);
    assert_int_equal(lsh_sftp_request_put(b, q), 0);
    p = body(b, &n);
    assert_int_equal(lsh_sftp_request_decode(p, n, &d, &id_ok), 0);
    assert_int_equal(d.type, q->type);
    assert_int_equal(d.id, q->id);
    /* Trailing byte: refused.  Each truncation: refused. */
    {
        uint8_t *t = malloc(n + 1);
        lsh_sftp_request x;
        memcpy(t, p, n);
        t[n] = 0;
        if (q->type != LSH_SFTP_INIT &&
            !(q->type == LSH_SFTP_EXTENDED && q->ext == LSH_SFTP_EXT_UNKNOWN)) {
            assert_int_equal(lsh_sftp_request_decode(t, n + 1, &x, &id_ok),
                             LSH_ETRAILING);
            for (size_t k = 5; k < n; k++) {
                assert_int_not_equal(
                    lsh_sftp_request_decode(t, k, &x, &id_ok), 0);
                assert_int_equal(id_ok, 1);
            }
        }
        free(t);
    }
    return d;
}

static void
every_request_type_roundtrips(void **state)
{
    static const uint8_t types[] = {
        LSH_SFTP_OPEN,    LSH_SFTP_CLOSE,    LSH_SFTP_READ,
        LSH_SFTP_WRITE,   LSH_SFTP_LSTAT,    LSH_SFTP_FSTAT,
        LSH_SFTP_SETSTAT, LSH_SFTP_FSETSTAT, LSH_SFTP_OPENDIR,
        LSH_SFTP_READDIR, LSH_SFTP_REMOVE,   LSH_SFTP_MKDIR,
        LSH_SFTP_RMDIR,   LSH_SFTP_REALPATH, LSH_SFTP_STAT,
        LSH_SFTP_RENAME,  LSH_SFTP_READLINK, LSH_SFTP_SYMLINK};
    lsh_buf b;
    (void)state;
    lsh_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof(types); i++) {
        lsh_sftp_request q, d;
        memset(&q, 0, sizeof(q));
        q.type = types[i];
        q.id = 100 + (uint32_t)i;
        q.path = S("/some/path");
        q.path2 = S("other");
        q.handle = S("HANDLE01");
        q.offset = 1ULL << 40;
        q.len = 32768;
        q.pflags = LSH_SFTP_FXF_READ;
        q.attrs.flags = LSH_SFTP_ATTR_SIZE;
        q.attrs.size = 5;
        q.data = S("payload");
        d = roundtrip(&q, &b);
        switch (q.type) {
        case LSH_SFTP_READ:
            assert_int_equal(d.offset, q.offset);
            assert_int_equal(d.len, 32768);
            break;
        case LSH_SFTP_WRITE:
            assert_int_equal(d.data.n, 7);
            break;
        case LSH_SFTP_RENAME:
        case LSH_SFTP_SYMLINK:
            assert_int_equal(d.path2.n, 5);
            break;
        case LSH_SFTP_SETSTAT:
        case LSH_SFTP_MKDIR:
            assert_int_equal(d.attrs.size, 5);
            break;
        default:
            break;
        }
    }
    lsh_buf_free(&b);
}

static void
every_extension_roundtrips(void **state)
{
    uint8_t ids[8] = {0, 0, 0, 0, 0, 0, 3, 0xe8};
    lsh_buf b;
    (void)state;
    lsh_buf_init(&b, 0);
    for (int e = LSH_SFTP_EXT_POSIX_RENAME; e <= LSH_SFTP_EXT_USERS_GROUPS;
         e++) {
        lsh_sftp_request q, d;
        memset(&q, 0, sizeof(q));
        q.type = LSH_SFTP_EXTENDED;
        q.id = 9;
        q.ext = (lsh_sftp_ext)e;
        q.path = S("p1");
        q.path2 = S("p2");
        q.handle = S("h1");
        q.handle2 = S("h2");
        q.offset = 1;
        q.offset2 = 2;
        q.len64 = 3;
        q.ids.p = ids;
        q.ids.n = 8;
        q.ids2.p = ids;
        q.ids2.n = 4;
        d = roundtrip(&q, &b);
        assert_int_equal(d.ext, e);
        if (e == LSH_SFTP_EXT_COPY_DATA) {
            assert_int_equal(d.offset2, 2);
            assert_int_equal(d.len64, 3);
            assert_int_equal(d.handle2.n, 2);
        }
        if (e == LSH_SFTP_EXT_USERS_GROUPS) {
            assert_int_equal(d.ids.n, 8);
            assert_int_equal(d.ids2.n, 4);
        }
    }
    lsh_buf_free(&b);
}

static void
malformed_requests_are_refused(void **state)
{
    lsh_sftp_request q;
    int id_ok;
    size_t n;
    uint8_t *p;
    (void)state;
    /* Too short for an id. */
    p = tu_unhex("0d 0000", &n);
    assert_int_equal(lsh_sftp_request_decode(p, n, &q, &id_ok),
                     LSH_ETRUNCATED);
    assert_int_equal(id_ok, 0);
    free(p);
    /* Unknown type: id is known so the server can answer. */
    p = tu_unhex("63 0000002a", &n);
    assert_int_equal(lsh_sftp_request_decode(p, n, &q, &id_ok),
                     LSH_EUNSUPPORTED);
    assert_int_equal(id_ok, 1);
    assert_int_equal(q.id, 42);
    free(p);
    /* A NUL inside a path (reliability-plan §2.7 "x\0y"). */
    p = tu_unhex("11 00000001 00000003 780079", &n);
    assert_int_equal(lsh_sftp_request_decode(p, n, &q, &id_ok),
                     LSH_EBADSTRING);
    free(p);
    /* A handle over 256 bytes (draft-02 §6). */
    {
        uint8_t big[1 + 4 + 4 + 257] = {LSH_SFTP_CLOSE, 0, 0, 0, 1,
                                        0, 0, 0x01, 0x01};
        assert_int_equal(lsh_sftp_request_decode(big, sizeof(big), &q,
                                                 &id_ok),
                         LSH_ETOOLARGE);
        assert_int_equal(id_ok, 1);
    }
    /* users-groups-by-id ids not a multiple of 4. */
    p = tu_unhex("c8 00000001 0000001e"
                 "75736572732d67726f7570732d62792d6964406f70656e7373682e636f6d"
                 "00000003 000000 00000000",
                 &n);
    assert_int_equal(lsh_sftp_request_decode(p, n, &q, &id_ok),
                     LSH_EBADSTRING);
    free(p);
    /* An unknown extension decodes, with its name. */
    p = tu_unhex("c8 00000005 00000005 666f6f4078 0102", &n);
    assert_int_equal(lsh_sftp_request_decode(p, n, &q, &id_ok), 0);
    assert_int_equal(q.ext, LSH_SFTP_EXT_UNKNOWN);
    assert_int_equal(q.ext_name.n, 5);
    assert_int_equal(q.ext_data.n, 2);
    free(p);
}

static void
status_and_name_responses(void **state)
{
    lsh_buf b;
    lsh_sftp_response r;
    lsh_sftp_name nm;
    const uint8_t *p;
    size_t n;
    uint32_t i = 0;
    lsh_sftp_attrs a;
    (void)state;
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_sftp_put_status(&b, 3, LSH_SFTP_FX_EOF, "eof"), 0);
    /* draft-02 §7 STATUS layout. */
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b),
                  "00000014 65 00000003 00000001 00000003 656f66 00000000");
    p = body(&b, &n);
    assert_int_equal(lsh_sftp_response_decode(p, n, &r), 0);
    assert_int_equal(r.type, LSH_SFTP_STATUS);
    assert_int_equal(r.code, LSH_SFTP_FX_EOF);
    assert_int_equal(r.msg.n, 3);

    lsh_buf_reset(&b);
    memset(&a, 0, sizeof(a));
    a.flags = LSH_SFTP_ATTR_SIZE;
    a.size = 99;
    assert_int_equal(lsh_sftp_put_name1(&b, 4, "/x", "long", &a), 0);
    p = body(&b, &n);
    assert_int_equal(lsh_sftp_response_decode(p, n, &r), 0);
    assert_int_equal(r.count, 1);
    assert_int_equal(lsh_sftp_name_next(&r, &i, &nm), 1);
    assert_int_equal(nm.filename.n, 2);
    assert_int_equal(nm.longname.n, 4);
    assert_int_equal(nm.attrs.size, 99);
    assert_int_equal(lsh_sftp_name_next(&r, &i, &nm), 0);
    /* A count that overstates the entries is refused up front. */
    {
        uint8_t *t = malloc(n);
        memcpy(t, p, n);
        lsh_poke_u32(t + 5, 2);
        assert_int_equal(lsh_sftp_response_decode(t, n, &r), LSH_ETRUNCATED);
        free(t);
    }
    lsh_buf_free(&b);
}

static void
version_statvfs_limits_handle_data(void **state)
{
    const char *names[] = {"limits@openssh.com"}, *datas[] = {"1"};
    lsh_sftp_statvfs v, w;
    lsh_sftp_response r;
    lsh_buf b;
    const uint8_t *p;
    size_t n;
    (void)state;
    lsh_buf_init(&b, 0);
    assert_int_equal(lsh_sftp_put_version(&b, 3, names, datas, 1), 0);
    p = body(&b, &n);
    assert_int_equal(lsh_sftp_response_decode(p, n, &r), 0);
    assert_int_equal(r.type, LSH_SFTP_VERSION_PKT);
    assert_int_equal(r.id, 3);
    assert_int_equal(r.ext_data.n, 4 + 18 + 4 + 1);

    lsh_buf_reset(&b);
    memset(&v, 0, sizeof(v));
    v.bsize = 4096;
    v.namemax = 255;
    v.flag = LSH_SFTP_STATVFS_RDONLY;
    assert_int_equal(lsh_sftp_put_statvfs(&b, 8, &v), 0);
    p = body(&b, &n);
    assert_int_equal(lsh_sftp_response_decode(p, n, &r), 0);
    assert_int_equal(r.type, LSH_SFTP_EXTENDED_REPLY);
    assert_int_equal(lsh_sftp_statvfs_decode(r.ext_data.p, r.ext_data.n, &w),
                     0);
    assert_int_equal(w.bsize, 4096);
    assert_int_equal(w.namemax, 255);
    assert_int_equal(w.flag, 1);
    assert_int_equal(lsh_sftp_statvfs_decode(r.ext_data.p, 87, &w),
                     LSH_ETRUNCATED);

    lsh_buf_reset(&b);
    assert_int_equal(lsh_sftp_put_limits(&b, 1, 262144, 261120, 261120, 256),
                     0);
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b),
                  "00000025 c9 00000001 0000000000040000 000000000003fc00"
                  "000000000003fc00 0000000000000100");

    lsh_buf_reset(&b);
    assert_int_equal(lsh_sftp_put_handle(&b, 1, (const uint8_t *)"h", 1), 0);
    assert_int_equal(lsh_sftp_put_handle(&b, 1, (const uint8_t *)"h", 257),
                     LSH_ETOOLARGE);
    assert_int_equal(lsh_sftp_put_data(&b, 2, (const uint8_t *)"dd", 2), 0);
    tu_assert_hex(lsh_buf_ptr(&b), lsh_buf_len(&b),
                  "0000000a 66 00000001 00000001 68"
                  "0000000b 67 00000002 00000002 6464");
    lsh_buf_free(&b);
}

static void
encoders_leave_a_full_buffer_unchanged(void **state)
{
    lsh_buf b;
    (void)state;
    lsh_buf_init(&b, 12);
    assert_int_equal(lsh_sftp_put_status(&b, 1, 0, "a message too long"),
                     LSH_ETOOLARGE);
    assert_int_equal(lsh_buf_len(&b), 0);
    assert_int_equal(lsh_sftp_put_name1(&b, 1, "x", NULL, NULL),
                     LSH_ETOOLARGE);
    assert_int_equal(lsh_buf_len(&b), 0);
    lsh_buf_free(&b);
}

static void
extension_names_map_both_ways(void **state)
{
    (void)state;
    for (int e = LSH_SFTP_EXT_POSIX_RENAME; e <= LSH_SFTP_EXT_USERS_GROUPS;
         e++) {
        const char *n = lsh_sftp_ext_name((lsh_sftp_ext)e);
        assert_int_equal(lsh_sftp_ext_lookup((const uint8_t *)n, strlen(n)),
                         e);
    }
    assert_int_equal(lsh_sftp_ext_lookup((const uint8_t *)"copy-dat", 8),
                     LSH_SFTP_EXT_UNKNOWN);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(frame_needs_whole_packet_and_bounds_length),
        cmocka_unit_test(attrs_roundtrip_every_field),
        cmocka_unit_test(attrs_unknown_flag_is_protocol_error),
        cmocka_unit_test(open_request_known_bytes),
        cmocka_unit_test(every_request_type_roundtrips),
        cmocka_unit_test(every_extension_roundtrips),
        cmocka_unit_test(malformed_requests_are_refused),
        cmocka_unit_test(status_and_name_responses),
        cmocka_unit_test(version_statvfs_limits_handle_data),
        cmocka_unit_test(encoders_leave_a_full_buffer_unchanged),
        cmocka_unit_test(extension_names_map_both_ways),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
