/*
 * SSH_MSG_KEXINIT and algorithm negotiation (RFC 4253 §7, §7.1).
 *
 * This module knows algorithm *names* only: it builds and parses KEXINIT
 * payloads, resolves user-supplied preference lists (OpenSSH's "+", "-",
 * "^" and wildcard syntax) and picks the algorithms both sides agree on.
 * The key exchange methods themselves live in kex_methods.h.
 *
 * Pseudo-algorithms that only signal a feature (RFC 8308 "ext-info-c" /
 * "ext-info-s", draft-ietf-sshm-strict-kex "kex-strict-[cs]" and
 * "kex-strict-[cs]-v00@openssh.com") are recognised and reported as flags
 * by lsh_kex_negotiate, and never chosen as the key exchange method.
 */
#ifndef LSH_SSH_TRANSPORT_KEX_H
#define LSH_SSH_TRANSPORT_KEX_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"

#ifndef LSH_ROLE_CLIENT
#define LSH_ROLE_CLIENT 0
#define LSH_ROLE_SERVER 1
#endif

/* RFC 4250 §4.1.2 message number. */
#define LSH_MSG_KEXINIT 20

/* RFC 4251 §6: algorithm names are at most 64 characters. */
#define LSH_KEX_NAME_MAX 64

/* Size of lsh_kex_result.detail, including the terminating NUL. */
#define LSH_KEX_DETAIL_MAX 1024

/*
 * Preference lists, one comma-separated name-list per KEXINIT category,
 * most preferred first.  The strings are borrowed: the caller keeps them
 * alive while the struct is used.
 */
typedef struct lsh_kex_prefs {
    const char *kex, *hostkey, *cipher_c2s, *cipher_s2c, *mac_c2s, *mac_s2c,
        *comp_c2s, *comp_s2c;
} lsh_kex_prefs;

/* The ten name-lists of SSH_MSG_KEXINIT, in wire order (RFC 4253 §7.1). */
enum lsh_kexinit_list {
    LSH_KEXINIT_KEX = 0,
    LSH_KEXINIT_HOSTKEY,
    LSH_KEXINIT_CIPHER_C2S,
    LSH_KEXINIT_CIPHER_S2C,
    LSH_KEXINIT_MAC_C2S,
    LSH_KEXINIT_MAC_S2C,
    LSH_KEXINIT_COMP_C2S,
    LSH_KEXINIT_COMP_S2C,
    LSH_KEXINIT_LANG_C2S,
    LSH_KEXINIT_LANG_S2C,
    LSH_KEXINIT_NLISTS
};

/* A borrowed, validated name-list: `len` bytes at `p`, not NUL-terminated. */
typedef struct lsh_kex_namelist {
    const char *p;
    size_t len;
} lsh_kex_namelist;

/*
 * A parsed SSH_MSG_KEXINIT.  Every pointer borrows the payload given to
 * lsh_kexinit_parse and is valid as long as that memory is.
 */
typedef struct lsh_kexinit {
    const uint8_t *cookie; /* 16 bytes */
    lsh_kex_namelist list[LSH_KEXINIT_NLISTS];
    int first_kex_follows;
    uint32_t reserved;
} lsh_kexinit;

/*
 * Outcome of a negotiation.  Names are NUL-terminated copies held in the
 * struct itself.  mac_c2s / mac_s2c are "" when the cipher of that
 * direction is an AEAD (chacha20-poly1305@openssh.com, aes*-gcm@openssh.com):
 * MAC negotiation is then skipped (draft-miller-sshm-aes-gcm §5,
 * openssh PROTOCOL.chacha20poly1305).
 */
typedef struct lsh_kex_result {
    char kex[LSH_KEX_NAME_MAX + 1];
    char hostkey[LSH_KEX_NAME_MAX + 1];
    char cipher_c2s[LSH_KEX_NAME_MAX + 1];
    char cipher_s2c[LSH_KEX_NAME_MAX + 1];
    char mac_c2s[LSH_KEX_NAME_MAX + 1];
    char mac_s2c[LSH_KEX_NAME_MAX + 1];
    char comp_c2s[LSH_KEX_NAME_MAX + 1];
    char comp_s2c[LSH_KEX_NAME_MAX + 1];
    /*
     * Both sides offered strict KEX (draft-ietf-sshm-strict-kex §3.1).
     * Only meaningful for the initial key exchange: the caller ignores it
     * on re-exchange.
     */
    int strict;
    /* The peer offered RFC 8308 extension negotiation (ext-info-c/-s). */
    int peer_ext_info;
    /*
     * The peer set first_kex_packet_follows and guessed wrong: the next
     * key exchange packet from it must be silently ignored (RFC 4253 §7).
     */
    int guess_wrong;
    /* Why negotiation failed ("" on success). */
    char detail[LSH_KEX_DETAIL_MAX];
} lsh_kex_result;

/* Categories for lsh_kex_supported(); the order of lsh_kexinit_list. */
#define LSH_KEX_CAT_KEX LSH_KEXINIT_KEX
#define LSH_KEX_CAT_HOSTKEY LSH_KEXINIT_HOSTKEY
#define LSH_KEX_CAT_CIPHER LSH_KEXINIT_CIPHER_C2S
#define LSH_KEX_CAT_MAC LSH_KEXINIT_MAC_C2S
#define LSH_KEX_CAT_COMP LSH_KEXINIT_COMP_C2S

/*
 * Default preferences: modern OpenSSH's order, without legacy algorithms
 * (SHA-1 key exchange, the 1024-bit group, ssh-rsa, CBC ciphers) and
 * without pseudo-algorithms (add those with lsh_kex_list_add_markers for
 * the initial KEXINIT).  The lists are the same for both roles
 * (LSH_ROLE_CLIENT / LSH_ROLE_SERVER) except the host key list: a
 * server's starts with the *-cert-v01@openssh.com algorithms, which it
 * offers only when it has a host certificate (a client asks for them
 * when it trusts a host CA).  The strings are static.
 */
lsh_kex_prefs lsh_kex_default_prefs(int role);

/*
 * Every algorithm name this build implements in a category (LSH_KEX_CAT_*),
 * legacy ones included, as a static comma-separated list; NULL for an
 * unknown category.  This is the `all_supported_list` for
 * lsh_kex_list_resolve.
 */
const char *lsh_kex_supported(int category);

/*
 * Resolves a user preference `spec` against a default list, in OpenSSH's
 * syntax (ssh_config(5) "Ciphers"):
 *   "a,b"     replaces the default list;
 *   "+a,b"    appends to the default list (names already there stay put);
 *   "-a,b"    removes from the default list;
 *   "^a,b"    moves/puts the names at the head of the default list.
 * Names may contain the wildcards '*' (any run) and '?' (one character);
 * a pattern stands for every name of all_supported_list it matches, in
 * that list's order.  A literal name not in all_supported_list is an
 * error, so are empty elements.  Duplicates are dropped, the first
 * occurrence winning.  spec == NULL gives a copy of the default list.
 *
 * On success *out is a malloc'd NUL-terminated list (caller frees).
 * Errors: LSH_ENOALG for an unknown name or an empty result,
 * LSH_EINVAL for a malformed spec, LSH_ENOMEM; *out is then untouched.
 */
LSH_MUST_CHECK int lsh_kex_list_resolve(const char *default_list,
                                        const char *all_supported_list,
                                        const char *spec, char **out);

/*
 * Appends the role's signalling pseudo-algorithms to a kex list for the
 * initial KEXINIT: "ext-info-c,kex-strict-c-v00@openssh.com,kex-strict-c"
 * for a client, the "-s" forms for a server (RFC 8308 §2.1,
 * draft-ietf-sshm-strict-kex §3.1 recommends offering both strict names).
 * *out is malloc'd (caller frees).  LSH_EINVAL for a bad role.
 */
LSH_MUST_CHECK int lsh_kex_list_add_markers(int role, const char *kex,
                                            char **out);

/*
 * Appends an SSH_MSG_KEXINIT payload (message byte included) to `out`.
 * Every list in `p` must be a non-empty valid name-list (LSH_EINVAL
 * otherwise); the language lists are sent empty and the reserved field 0.
 * On failure nothing is appended.
 */
LSH_MUST_CHECK int lsh_kexinit_encode(lsh_buf *out, const uint8_t cookie[16],
                                      const lsh_kex_prefs *p,
                                      int first_kex_follows);

/*
 * Parses an SSH_MSG_KEXINIT payload (message byte included).  Strict:
 * message byte 20, every list a valid name-list, nothing after the
 * reserved uint32.  The reserved value is returned, not checked (it is
 * "reserved for future extension").  Errors: LSH_EUNEXPECTED (wrong
 * message number), LSH_ETRUNCATED, LSH_ETOOLARGE, LSH_EBADNAMELIST,
 * LSH_ETRAILING; *out is then unspecified.
 */
LSH_MUST_CHECK int lsh_kexinit_parse(const uint8_t *payload, size_t n,
                                     lsh_kexinit *out);

/*
 * Negotiates the algorithms (RFC 4253 §7.1) from the client's and the
 * server's KEXINIT; `role` says which of the two is ours (it decides
 * peer_ext_info and guess_wrong).
 *   - Each category: the first name on the client's list that is also on
 *     the server's list.  Names longer than LSH_KEX_NAME_MAX never match.
 *   - kex: pseudo-algorithms are skipped, and the method must have a
 *     compatible host key algorithm (all our methods need a
 *     signature-capable one, and every host key algorithm we know signs).
 *   - MACs are skipped for a direction whose cipher is an AEAD.
 *   - guess_wrong follows RFC 4253 §7: the guess is wrong when the two
 *     sides' first kex or first host key algorithms differ.  That is what
 *     deployed peers compute, so both ends agree on which packet to drop.
 * Returns 0, or LSH_ENOALG with res->detail naming the category and both
 * lists ("no common cipher (client to server): client offers X; server
 * offers Y").  The other fields of *res are unspecified after an error.
 */
LSH_MUST_CHECK int lsh_kex_negotiate(int role, const lsh_kexinit *client,
                                     const lsh_kexinit *server,
                                     lsh_kex_result *res);

/* 1 for a signalling pseudo-algorithm name (ext-info-*, kex-strict-*). */
int lsh_kex_is_pseudo(const char *name, size_t len);

/* 1 when the cipher name is an AEAD that makes MAC negotiation moot. */
int lsh_kex_cipher_is_aead(const char *name);

#endif
