/*
 * A small command-line front end to src/ssh/keys/keyfile.h and cert.h,
 * built and driven by spec/interop/keygen_roundtrip.sh to check our key
 * files and certificates against OpenSSH's ssh-keygen.
 *
 *   gen TYPE OUT FORMAT [PASS [CIPHER [ROUNDS]]]
 *       new key (ed25519 ed448 ecdsa256 ecdsa384 ecdsa521 rsa), private
 *       key in FORMAT to OUT, openssh public key to OUT.pub
 *   convert IN PASS_IN OUT FORMAT [PASS [CIPHER]]
 *       private key IN rewritten in FORMAT
 *   pub IN OUT FORMAT
 *       public key of IN (a private key without passphrase, or a public
 *       key file) written in FORMAT
 *   fp IN [PASS]          SHA256 fingerprint of a private key file
 *   pubfp IN              one fingerprint per key of a public key file
 *   cert CA SUBJECT OUT user|host KEYID PRINCIPALS AFTER BEFORE SIGALG
 *        [crit:NAME[=VALUE]] [ext:NAME[=VALUE]] [noext]
 *       CA private key file, SUBJECT public key file; PRINCIPALS
 *       comma-separated or "-"; AFTER/BEFORE in seconds ("forever" for
 *       BEFORE); SIGALG or "-" for the default
 *   certshow IN           fields of each certificate of a -cert.pub file
 *   certcheck IN user|host PRINCIPAL NOW
 *                         lsh_cert_validate ("-" principal: none)
 *
 * PASS "-" means none.  Exits 0 on success, 1 with a message otherwise.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "ssh/keys/cert.h"
#include "ssh/keys/key.h"
#include "ssh/keys/keyfile.h"

static int
rng(void *ctx, uint8_t *out, size_t n)
{
    (void)ctx;
    return RAND_bytes(out, (int)n) == 1 ? 0 : LSH_ECRYPTO;
}

static int
fail(const char *what, int r, const char *detail)
{
    fprintf(stderr, "keygen_driver: %s: %s%s%s\n", what, lsh_strerror(r),
            detail != NULL && detail[0] != '\0' ? ": " : "",
            detail != NULL ? detail : "");
    return 1;
}

static uint8_t *
slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    size_t cap = LSH_KEYFILE_MAX_SIZE + 1;
    uint8_t *buf;

    if (f == NULL) {
        return NULL;
    }
    if ((buf = malloc(cap)) != NULL) {
        *n = fread(buf, 1, cap, f);
    }
    fclose(f);
    return buf;
}

/* Writes b to path, mode 0600 (ssh-keygen refuses readable keys). */
static int
spit(const char *path, const lsh_buf *b)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    int ok;

    if (f == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        return 0;
    }
    ok = fwrite(lsh_buf_ptr(b), 1, lsh_buf_len(b), f) == lsh_buf_len(b);
    return fclose(f) == 0 && ok;
}

static const char *
nopass(const char *p)
{
    return p == NULL || strcmp(p, "-") == 0 ? NULL : p;
}

static int
load_private(const char *path, const char *pass, lsh_key **k, char **comment)
{
    char err[256];
    size_t n = 0;
    uint8_t *d = slurp(path, &n);
    int r;

    if (d == NULL) {
        return fail(path, LSH_EIO, "cannot read");
    }
    r = lsh_keyfile_import_private(d, n, nopass(pass), k, comment, err,
                                   sizeof(err));
    free(d);
    return r != 0 ? fail(path, r, err) : 0;
}

static int
load_public(const char *path, lsh_key **k)
{
    char err[256];
    size_t n = 0;
    uint8_t *d = slurp(path, &n);
    int r;

    if (d == NULL) {
        return fail(path, LSH_EIO, "cannot read");
    }
    r = lsh_keyfile_import_public(d, n, k, NULL, err, sizeof(err));
    free(d);
    return r != 0 ? fail(path, r, err) : 0;
}

static int
write_private(const lsh_key *k, const char *comment, const char *out,
              const char *format, const char *pass, const char *cipher,
              unsigned rounds)
{
    lsh_buf b;
    int r;

    lsh_buf_init(&b, 0);
    r = lsh_keyfile_export_private(k, comment, format, nopass(pass), cipher,
                                   rounds, rng, NULL, &b);
    if (r == 0 && !spit(out, &b)) {
        r = LSH_EIO;
    }
    lsh_buf_free(&b);
    return r != 0 ? fail(out, r, format) : 0;
}

static int
write_public(const lsh_key *k, const char *comment, const char *out,
             const char *format)
{
    lsh_buf b;
    int r;

    lsh_buf_init(&b, 0);
    r = lsh_keyfile_export_public(k, comment, format, &b);
    if (r == 0 && !spit(out, &b)) {
        r = LSH_EIO;
    }
    lsh_buf_free(&b);
    return r != 0 ? fail(out, r, format) : 0;
}

static int
cmd_gen(int argc, char **argv)
{
    static const struct {
        const char *name;
        enum lsh_key_type t;
        unsigned bits;
    } types[] = {
        {"ed25519", LSH_KEY_ED25519, 0},
        {"ed448", LSH_KEY_ED448, 0},
        {"ecdsa256", LSH_KEY_ECDSA_P256, 0},
        {"ecdsa384", LSH_KEY_ECDSA_P384, 0},
        {"ecdsa521", LSH_KEY_ECDSA_P521, 0},
        {"rsa", LSH_KEY_RSA, 2048},
    };
    char pubpath[4096];
    lsh_key *k = NULL;
    int r = 1;

    if (argc < 3) {
        return fail("gen", LSH_EINVAL, "usage");
    }
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcmp(argv[0], types[i].name) == 0) {
            r = lsh_key_generate(types[i].t, types[i].bits, &k);
            if (r != 0) {
                return fail("generate", r, argv[0]);
            }
        }
    }
    if (k == NULL) {
        return fail("gen", LSH_EKEYTYPE, argv[0]);
    }
    snprintf(pubpath, sizeof(pubpath), "%s.pub", argv[1]);
    r = write_private(k, "luassh-generated", argv[1], argv[2],
                      argc > 3 ? argv[3] : NULL,
                      argc > 4 && strcmp(argv[4], "-") != 0 ? argv[4] : NULL,
                      argc > 5 ? (unsigned)atoi(argv[5]) : 2);
    if (r == 0) {
        r = write_public(k, "luassh-generated", pubpath, "openssh");
    }
    lsh_key_free(k);
    return r;
}

static int
cmd_convert(int argc, char **argv)
{
    lsh_key *k = NULL;
    char *comment = NULL;
    int r;

    if (argc < 4) {
        return fail("convert", LSH_EINVAL, "usage");
    }
    if ((r = load_private(argv[0], argv[1], &k, &comment)) != 0) {
        return r;
    }
    r = write_private(k, comment, argv[2], argv[3], argc > 4 ? argv[4] : NULL,
                      argc > 5 && strcmp(argv[5], "-") != 0 ? argv[5] : NULL,
                      2);
    lsh_key_free(k);
    free(comment);
    return r;
}

static int
cmd_pub(int argc, char **argv)
{
    lsh_key *k = NULL;
    char *comment = NULL;
    char err[256];
    size_t n = 0;
    uint8_t *d;
    int r;

    if (argc < 3) {
        return fail("pub", LSH_EINVAL, "usage");
    }
    if ((d = slurp(argv[0], &n)) == NULL) {
        return fail(argv[0], LSH_EIO, "cannot read");
    }
    r = lsh_keyfile_import_private(d, n, NULL, &k, &comment, err,
                                   sizeof(err));
    if (r != 0) {
        r = lsh_keyfile_import_public(d, n, &k, &comment, err, sizeof(err));
    }
    free(d);
    if (r != 0) {
        return fail(argv[0], r, err);
    }
    r = write_public(k, comment, argv[1], argv[2]);
    lsh_key_free(k);
    free(comment);
    return r;
}

static int
print_fp(const lsh_key *k)
{
    char fp[LSH_KEY_FP_MAX];
    int r = lsh_key_fingerprint(k, "sha256", fp, sizeof(fp));
    if (r != 0) {
        return fail("fingerprint", r, NULL);
    }
    printf("%u %s %s\n", lsh_key_bits(k), fp, lsh_key_type_name(k));
    return 0;
}

static int
cmd_fp(int argc, char **argv)
{
    lsh_key *k = NULL;
    int r;

    if (argc < 1) {
        return fail("fp", LSH_EINVAL, "usage");
    }
    if ((r = load_private(argv[0], argc > 1 ? argv[1] : NULL, &k, NULL)) !=
        0) {
        return r;
    }
    r = print_fp(k);
    lsh_key_free(k);
    return r;
}

static int
fp_cb(void *ctx, lsh_key *k, const char *comment)
{
    int r = print_fp(k);
    (void)ctx;
    (void)comment;
    lsh_key_free(k);
    return r != 0 ? LSH_ECRYPTO : 0;
}

static int
cmd_pubfp(int argc, char **argv)
{
    char err[256];
    size_t n = 0;
    uint8_t *d;
    int r;

    if (argc < 1 || (d = slurp(argv[0], &n)) == NULL) {
        return fail("pubfp", LSH_EINVAL, "usage or unreadable file");
    }
    r = lsh_keyfile_import_public_list(d, n, fp_cb, NULL, err, sizeof(err));
    free(d);
    return r < 0 ? fail(argv[0], r, err) : 0;
}

/* crit:NAME[=VALUE] / ext:NAME[=VALUE] into opts (strings kept in argv). */
static void
add_opt(lsh_cert_opt *opts, size_t *n, char *spec)
{
    char *eq = strchr(spec, '=');
    if (eq != NULL) {
        *eq = '\0';
    }
    opts[*n].name = spec;
    opts[*n].value = eq != NULL ? eq + 1 : NULL;
    (*n)++;
}

static int
cmd_cert(int argc, char **argv)
{
    lsh_cert_opt crit[16], ext[16];
    const char *princ[64];
    lsh_cert_params p;
    lsh_key *ca = NULL, *subject = NULL;
    char *list, *save = NULL, *tok;
    int noext = 0, r;
    lsh_buf b;

    if (argc < 9) {
        return fail("cert", LSH_EINVAL, "usage");
    }
    memset(&p, 0, sizeof(p));
    p.type = strcmp(argv[3], "host") == 0 ? LSH_CERT_HOST : LSH_CERT_USER;
    p.key_id = argv[4];
    p.serial = 12345;
    list = argv[5];
    if (strcmp(list, "-") != 0) {
        for (tok = strtok_r(list, ",", &save); tok != NULL && p.nprincipals < 64;
             tok = strtok_r(NULL, ",", &save)) {
            princ[p.nprincipals++] = tok;
        }
    }
    p.principals = princ;
    p.valid_after = strtoull(argv[6], NULL, 10);
    p.valid_before = strcmp(argv[7], "forever") == 0
                         ? LSH_CERT_FOREVER
                         : strtoull(argv[7], NULL, 10);
    for (int i = 9; i < argc; i++) {
        if (strncmp(argv[i], "crit:", 5) == 0 && p.ncritical < 16) {
            add_opt(crit, &p.ncritical, argv[i] + 5);
        } else if (strncmp(argv[i], "ext:", 4) == 0 && p.nextensions < 16) {
            add_opt(ext, &p.nextensions, argv[i] + 4);
        } else if (strcmp(argv[i], "noext") == 0) {
            noext = 1;
        }
    }
    p.critical = crit;
    p.extensions = p.nextensions > 0 || noext ? ext : NULL;
    if ((r = load_private(argv[0], NULL, &ca, NULL)) != 0 ||
        (r = load_public(argv[1], &subject)) != 0) {
        lsh_key_free(ca);
        return r;
    }
    lsh_buf_init(&b, 0);
    r = lsh_cert_create(ca, strcmp(argv[8], "-") == 0 ? NULL : argv[8],
                        subject, &p, rng, NULL, &b);
    if (r == 0) {
        lsh_cert *c = NULL;
        lsh_buf line;
        lsh_buf_init(&line, 0);
        if ((r = lsh_cert_from_blob(lsh_buf_ptr(&b), lsh_buf_len(&b), &c)) ==
                0 &&
            (r = lsh_cert_export_openssh(c, "luassh-cert", &line)) == 0 &&
            !spit(argv[2], &line)) {
            r = LSH_EIO;
        }
        lsh_cert_free(c);
        lsh_buf_free(&line);
    }
    lsh_buf_free(&b);
    lsh_key_free(ca);
    lsh_key_free(subject);
    return r != 0 ? fail("cert", r, argv[2]) : 0;
}

static void
print_opts(const lsh_cert *c, int critical)
{
    size_t n = lsh_cert_option_count(c, critical);
    printf("%s:", critical ? "critical" : "extensions");
    for (size_t i = 0; i < n; i++) {
        const char *name;
        const uint8_t *data;
        size_t dl;
        if (lsh_cert_option(c, critical, i, &name, &data, &dl) == 0) {
            printf(" %s", name);
            if (strcmp(name, "force-command") == 0 &&
                lsh_cert_force_command(c) != NULL) {
                printf("=%s", lsh_cert_force_command(c));
            } else if (strcmp(name, "source-address") == 0 &&
                       lsh_cert_source_address(c) != NULL) {
                printf("=%s", lsh_cert_source_address(c));
            }
        }
    }
    printf("\n");
}

static int
show_cb(void *ctx, lsh_cert *c, const char *comment)
{
    char fp[LSH_KEY_FP_MAX], cafp[LSH_KEY_FP_MAX];
    int r;

    (void)ctx;
    (void)comment;
    if ((r = lsh_key_fingerprint(lsh_cert_key(c), "sha256", fp,
                                 sizeof(fp))) != 0 ||
        (r = lsh_key_fingerprint(lsh_cert_signature_key(c), "sha256", cafp,
                                 sizeof(cafp))) != 0) {
        lsh_cert_free(c);
        return r;
    }
    printf("type: %s %s\n", lsh_cert_type_name(c),
           lsh_cert_type(c) == LSH_CERT_USER ? "user" : "host");
    printf("key: %s\n", fp);
    printf("ca: %s %s\n", cafp, lsh_cert_signature_alg(c));
    printf("id: %s\n", lsh_cert_key_id(c));
    printf("serial: %" PRIu64 "\n", lsh_cert_serial(c));
    printf("valid: %" PRIu64 " %" PRIu64 "\n", lsh_cert_valid_after(c),
           lsh_cert_valid_before(c));
    printf("principals:");
    for (size_t i = 0; i < lsh_cert_principal_count(c); i++) {
        printf(" %s", lsh_cert_principal(c, i));
    }
    printf("\n");
    print_opts(c, 1);
    print_opts(c, 0);
    r = lsh_cert_verify_signature(c);
    printf("signature: %s\n", r == 0 ? "ok" : "BAD");
    lsh_cert_free(c);
    return r;
}

static int
cmd_certshow(int argc, char **argv)
{
    char err[256];
    size_t n = 0;
    uint8_t *d;
    int r;

    if (argc < 1 || (d = slurp(argv[0], &n)) == NULL) {
        return fail("certshow", LSH_EINVAL, "usage or unreadable file");
    }
    r = lsh_cert_import_list(d, n, show_cb, NULL, err, sizeof(err));
    free(d);
    return r < 0 ? fail(argv[0], r, err) : 0;
}

static int
cmd_certcheck(int argc, char **argv)
{
    lsh_cert *c = NULL;
    char err[256];
    size_t n = 0;
    uint8_t *d;
    int r;

    if (argc < 4 || (d = slurp(argv[0], &n)) == NULL) {
        return fail("certcheck", LSH_EINVAL, "usage or unreadable file");
    }
    r = lsh_cert_import(d, n, &c, NULL, err, sizeof(err));
    free(d);
    if (r != 0) {
        return fail(argv[0], r, err);
    }
    r = lsh_cert_validate(c,
                          strcmp(argv[1], "host") == 0 ? LSH_CERT_HOST
                                                       : LSH_CERT_USER,
                          strcmp(argv[2], "-") == 0 ? NULL : argv[2],
                          strtoull(argv[3], NULL, 10), err, sizeof(err));
    lsh_cert_free(c);
    return r != 0 ? fail(argv[0], r, err) : 0;
}

int
main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"gen", cmd_gen},           {"convert", cmd_convert},
        {"pub", cmd_pub},           {"fp", cmd_fp},
        {"pubfp", cmd_pubfp},       {"cert", cmd_cert},
        {"certshow", cmd_certshow}, {"certcheck", cmd_certcheck},
    };

    if (argc >= 2) {
        for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
            if (strcmp(argv[1], cmds[i].name) == 0) {
                return cmds[i].fn(argc - 2, argv + 2);
            }
        }
    }
    fprintf(stderr, "usage: keygen_driver gen|convert|pub|fp|pubfp|cert|"
                    "certshow|certcheck ...\n");
    return 2;
}
