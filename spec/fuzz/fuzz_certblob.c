/*
 * libFuzzer target for OpenSSH certificates (src/ssh/keys/cert.c).
 *
 * Byte 0 picks the mode: even, the rest is a certificate blob for
 * lsh_cert_from_blob(); odd, the rest is a -cert.pub text for
 * lsh_cert_import_list().  Every certificate that parses is read through
 * every getter, validated (as its own type, for its first principal, at
 * its valid_after time) and written back as a one-line file that must
 * import to the same blob.
 *
 * Seeds: the blobs (base64-decoded) and files of
 * spec/c/data/keyfile/ *-cert.pub.
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -Isrc \
 *          spec/fuzz/fuzz_certblob.c src/ssh/keys/key[a-z_]*.c \
 *          src/ssh/keys/cert.c src/crypto/[a-z]*.c src/common/[a-z]*.c -lcrypto
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "ssh/keys/cert.h"
#include "ssh/keys/key.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
exercise(const lsh_cert *c)
{
    const uint8_t *p, *b1, *b2;
    const char *name;
    char err[256], fp[LSH_KEY_FP_MAX];
    size_t n, n1, n2;
    lsh_cert *c2 = NULL;
    lsh_buf line;

    (void)lsh_cert_nonce(c, &n);
    (void)lsh_cert_signed_data(c, &n);
    (void)lsh_cert_signature(c, &n);
    if (lsh_key_fingerprint(lsh_cert_key(c), "sha256", fp, sizeof(fp)) != 0 ||
        lsh_key_fingerprint(lsh_cert_signature_key(c), "sha256", fp,
                            sizeof(fp)) != 0 ||
        lsh_cert_key_id(c) == NULL || lsh_cert_signature_alg(c) == NULL) {
        abort();
    }
    for (size_t i = 0; i < lsh_cert_principal_count(c); i++) {
        if (lsh_cert_principal(c, i) == NULL) {
            abort();
        }
    }
    for (int crit = 0; crit < 2; crit++) {
        for (size_t i = 0; i < lsh_cert_option_count(c, crit); i++) {
            if (lsh_cert_option(c, crit, i, &name, &p, &n) != 0 ||
                !lsh_cert_has_option(c, crit, name)) {
                abort();
            }
        }
    }
    (void)lsh_cert_force_command(c);
    (void)lsh_cert_source_address(c);
    (void)lsh_cert_validate(c, lsh_cert_type(c), lsh_cert_principal(c, 0),
                            lsh_cert_valid_after(c), err, sizeof(err));
    if (memchr(err, '\0', sizeof(err)) == NULL) {
        abort();
    }
    lsh_buf_init(&line, 0);
    if (lsh_cert_export_openssh(c, "fuzz", &line) != 0 ||
        lsh_cert_import(lsh_buf_ptr(&line), lsh_buf_len(&line), &c2, NULL,
                        err, sizeof(err)) != 0) {
        abort();
    }
    b1 = lsh_cert_blob(c, &n1);
    b2 = lsh_cert_blob(c2, &n2);
    if (n1 != n2 || memcmp(b1, b2, n1) != 0) {
        abort();
    }
    lsh_cert_free(c2);
    lsh_buf_free(&line);
}

static int
import_cb(void *ctx, lsh_cert *c, const char *comment)
{
    (void)ctx;
    (void)comment;
    exercise(c);
    lsh_cert_free(c);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lsh_cert *c = NULL;
    char err[256];

    if (size < 1) {
        return 0;
    }
    if (data[0] & 1) {
        (void)lsh_cert_import_list(data + 1, size - 1, import_cb, NULL, err,
                                   sizeof(err));
        return 0;
    }
    if (lsh_cert_from_blob(data + 1, size - 1, &c) == 0) {
        size_t n;
        const uint8_t *b = lsh_cert_blob(c, &n);
        if (n != size - 1 || memcmp(b, data + 1, n) != 0) {
            abort();
        }
        exercise(c);
        lsh_cert_free(c);
    } else if (c != NULL) {
        abort();
    }
    return 0;
}
