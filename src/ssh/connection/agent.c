/*
 * The SSH agent protocol, client side (RFC 9987): see agent.h.
 *
 * Every request is built as "uint32 length, byte type, contents": the
 * length is poked in once the body is complete, and a failure truncates
 * the buffer back to where it was, so nothing half-written is sent.
 */
#include "ssh/connection/agent.h"

#include <string.h>

#include "common/rd.h"
#include "ssh/keys/keyfile_internal.h"

/* Opens a message: placeholder length and the type byte. */
static int
begin(lsh_buf *out, uint8_t type, size_t *start)
{
    int r;
    *start = lsh_buf_len(out);
    if ((r = lsh_buf_put_u32(out, 0)) != 0 ||
        (r = lsh_buf_put_u8(out, type)) != 0) {
        (void)lsh_buf_truncate(out, lsh_buf_len(out) - *start);
    }
    return r;
}

/* Closes a message opened at start (r: the body's result so far). */
static int
finish(lsh_buf *out, size_t start, int r)
{
    size_t len = lsh_buf_len(out) - start - 4;
    if (r == 0 && len > LSH_AGENT_MAX_MSG) {
        r = LSH_ETOOLARGE;
    }
    if (r == 0) {
        r = lsh_buf_poke_u32(out, start, (uint32_t)len);
    }
    if (r != 0) {
        (void)lsh_buf_truncate(out, lsh_buf_len(out) - start);
    }
    return r;
}

int
lsh_agent_frame(const uint8_t *p, size_t n, const uint8_t **body,
                size_t *body_len, size_t *total)
{
    uint32_t len;
    if (n < 4) {
        return 0;
    }
    len = lsh_peek_u32(p);
    if (len > LSH_AGENT_MAX_MSG) {
        return LSH_ETOOLARGE;
    }
    if (len == 0) {
        return LSH_EBADPACKET;
    }
    if (n - 4 < len) {
        return 0;
    }
    *body = p + 4;
    *body_len = len;
    *total = (size_t)len + 4;
    return 1;
}

/* §5.5 */
int
lsh_agent_req_identities(lsh_buf *out)
{
    size_t start;
    int r = begin(out, LSH_AGENTC_REQUEST_IDENTITIES, &start);
    return r != 0 ? r : finish(out, start, 0);
}

/* §5.6 */
int
lsh_agent_req_sign(lsh_buf *out, const uint8_t *blob, size_t blob_len,
                   const uint8_t *data, size_t data_len, uint32_t flags)
{
    size_t start;
    int r = begin(out, LSH_AGENTC_SIGN_REQUEST, &start);
    if (r != 0) {
        return r;
    }
    if ((r = lsh_buf_put_string(out, blob, blob_len)) == 0 &&
        (r = lsh_buf_put_string(out, data, data_len)) == 0) {
        r = lsh_buf_put_u32(out, flags);
    }
    return finish(out, start, r);
}

/* §5.2, §5.2.7 */
int
lsh_agent_req_add(lsh_buf *out, const lsh_key *k, const char *comment,
                  uint32_t lifetime, int confirm)
{
    int constrained = lifetime > 0 || confirm;
    size_t start;
    int r;

    if (!lsh_key_has_private(k)) {
        return LSH_EINVAL;
    }
    r = begin(out, constrained ? LSH_AGENTC_ADD_ID_CONSTRAINED
                               : LSH_AGENTC_ADD_IDENTITY, &start);
    if (r != 0) {
        return r;
    }
    if ((r = lsh__kf_put_private(k, out)) == 0) {
        r = lsh_buf_put_cstring(out, comment != NULL ? comment : "");
    }
    if (r == 0 && lifetime > 0 &&
        (r = lsh_buf_put_u8(out, LSH_AGENT_CONSTRAIN_LIFETIME)) == 0) {
        r = lsh_buf_put_u32(out, lifetime);
    }
    if (r == 0 && confirm) {
        r = lsh_buf_put_u8(out, LSH_AGENT_CONSTRAIN_CONFIRM);
    }
    return finish(out, start, r);
}

/* §5.4 */
int
lsh_agent_req_remove(lsh_buf *out, const uint8_t *blob, size_t blob_len)
{
    size_t start;
    int r = begin(out, LSH_AGENTC_REMOVE_IDENTITY, &start);
    if (r != 0) {
        return r;
    }
    return finish(out, start, lsh_buf_put_string(out, blob, blob_len));
}

int
lsh_agent_req_remove_all(lsh_buf *out)
{
    size_t start;
    int r = begin(out, LSH_AGENTC_REMOVE_ALL_IDENTITIES, &start);
    return r != 0 ? r : finish(out, start, 0);
}

/* §5.7 */
int
lsh_agent_req_lock(lsh_buf *out, int lock, const char *passphrase)
{
    size_t start;
    int r = begin(out, lock ? LSH_AGENTC_LOCK : LSH_AGENTC_UNLOCK, &start);
    if (r != 0) {
        return r;
    }
    return finish(out, start, lsh_buf_put_cstring(out, passphrase));
}

/* §5.6.1: only RSA keys take flags. */
uint32_t
lsh_agent_sign_flags(const char *sigalg)
{
    if (sigalg == NULL) {
        return 0;
    }
    if (strcmp(sigalg, "rsa-sha2-256") == 0 ||
        strcmp(sigalg, "rsa-sha2-256-cert-v01@openssh.com") == 0) {
        return LSH_AGENT_RSA_SHA2_256;
    }
    if (strcmp(sigalg, "rsa-sha2-512") == 0 ||
        strcmp(sigalg, "rsa-sha2-512-cert-v01@openssh.com") == 0) {
        return LSH_AGENT_RSA_SHA2_512;
    }
    return 0;
}

/* Replies */

/* Reads the type byte; FAILURE (or an extension failure) is a refusal. */
static int
reply_type(lsh_rd *rd, uint8_t want)
{
    uint8_t type;
    if (lsh_rd_u8(rd, &type) != 0) {
        return LSH_ETRUNCATED;
    }
    if (type == LSH_AGENT_FAILURE || type == LSH_AGENT_EXTENSION_FAILURE) {
        return LSH_EREFUSED;
    }
    return type == want ? 0 : LSH_EBADPACKET;
}

int
lsh_agent_parse_status(const uint8_t *body, size_t n)
{
    lsh_rd rd;
    int r;
    lsh_rd_init(&rd, body, n);
    if ((r = reply_type(&rd, LSH_AGENT_SUCCESS)) != 0) {
        return r;
    }
    return lsh_rd_end(&rd);
}

/* One pass over the identities; cb NULL only validates. */
static int
walk_identities(const uint8_t *body, size_t n,
                int (*cb)(void *ctx, const lsh_agent_identity *id),
                void *ctx)
{
    lsh_rd rd;
    uint32_t count;
    int r;

    lsh_rd_init(&rd, body, n);
    if ((r = reply_type(&rd, LSH_AGENT_IDENTITIES_ANSWER)) != 0) {
        return r;
    }
    if (lsh_rd_u32(&rd, &count) != 0) {
        return LSH_ETRUNCATED;
    }
    if (count > LSH_AGENT_MAX_KEYS) {
        return LSH_ETOOLARGE;
    }
    for (uint32_t i = 0; i < count; i++) {
        lsh_agent_identity id;
        if ((r = lsh_rd_string(&rd, &id.blob, &id.blob_len)) != 0 ||
            (r = lsh_rd_string(&rd, &id.comment, &id.comment_len)) != 0) {
            return r;
        }
        if (cb != NULL && (r = cb(ctx, &id)) != 0) {
            return r;
        }
    }
    return lsh_rd_end(&rd);
}

int
lsh_agent_parse_identities(const uint8_t *body, size_t n,
                           int (*cb)(void *ctx, const lsh_agent_identity *id),
                           void *ctx)
{
    int r = walk_identities(body, n, NULL, NULL);
    if (r != 0) {
        return r;
    }
    return walk_identities(body, n, cb, ctx);
}

int
lsh_agent_parse_sign(const uint8_t *body, size_t n, const uint8_t **sig,
                     size_t *sig_len)
{
    lsh_rd rd;
    int r;
    lsh_rd_init(&rd, body, n);
    if ((r = reply_type(&rd, LSH_AGENT_SIGN_RESPONSE)) != 0 ||
        (r = lsh_rd_string(&rd, sig, sig_len)) != 0) {
        return r;
    }
    return lsh_rd_end(&rd);
}
