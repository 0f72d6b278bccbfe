/*
 * libFuzzer target for key files (src/ssh/keys/keyfile*.c).
 *
 * The whole input is tried as a private key file (passphrase
 * "luassh-test", bcrypt rounds capped at 1 so that a decryption costs
 * milliseconds) and as a public key file.  Every key that loads must
 * survive a round trip: a private key exported as unencrypted
 * openssh-key-v1 and a public key exported as an OpenSSH line must read
 * back as the same key.  Error strings must stay NUL-terminated.
 *
 * Seeds: spec/c/data/keyfile/ (text and binary key files).
 *
 * Build: clang -fsanitize=fuzzer,address,undefined -Isrc \
 *          spec/fuzz/fuzz_keyfile.c src/ssh/keys/key[a-z_]*.c \
 *          src/crypto/[a-z]*.c src/common/[a-z]*.c -lcrypto
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "ssh/keys/key.h"
#include "ssh/keys/keyfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
fz_rng(void *ctx, uint8_t *out, size_t n)
{
    (void)ctx;
    memset(out, 0x5a, n);
    return 0;
}

static void
check_err(const char *err, size_t len)
{
    if (memchr(err, '\0', len) == NULL) {
        abort();
    }
}

static void
private_round_trip(const lsh_key *k, const char *comment)
{
    char err[256];
    lsh_key *k2 = NULL;
    lsh_buf out;

    lsh_buf_init(&out, 0);
    if (lsh_keyfile_export_private(k, comment, "openssh", NULL, NULL, 0,
                                   fz_rng, NULL, &out) == 0) {
        if (lsh_keyfile_import_private(lsh_buf_ptr(&out), lsh_buf_len(&out),
                                       NULL, &k2, NULL, err,
                                       sizeof(err)) != 0 ||
            !lsh_key_equal_public(k, k2) || !lsh_key_has_private(k2)) {
            abort();
        }
    }
    lsh_key_free(k2);
    lsh_buf_free(&out);
}

static int
public_cb(void *ctx, lsh_key *k, const char *comment)
{
    char err[256];
    lsh_key *k2 = NULL;
    lsh_buf out;

    (void)ctx;
    lsh_buf_init(&out, 0);
    if (lsh_keyfile_export_public(k, comment, "openssh", &out) == 0) {
        if (lsh_keyfile_import_public(lsh_buf_ptr(&out), lsh_buf_len(&out),
                                      &k2, NULL, err, sizeof(err)) != 0 ||
            !lsh_key_equal_public(k, k2)) {
            abort();
        }
    }
    lsh_key_free(k2);
    lsh_key_free(k);
    lsh_buf_free(&out);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256], *comment = NULL;
    lsh_key *k = NULL;
    int r;

    memset(err, 'x', sizeof(err));
    r = lsh_keyfile_import_private_ex(data, size, "luassh-test", 1, &k,
                                      &comment, err, sizeof(err));
    check_err(err, sizeof(err));
    if (r == 0) {
        if (k == NULL || comment == NULL || !lsh_key_has_private(k)) {
            abort();
        }
        private_round_trip(k, comment);
        lsh_key_free(k);
        free(comment);
    } else if (k != NULL) {
        abort();
    }
    memset(err, 'x', sizeof(err));
    r = lsh_keyfile_import_public_list(data, size, public_cb, NULL, err,
                                       sizeof(err));
    check_err(err, sizeof(err));
    return 0;
}
