/*
 * The SSH agent protocol, client side (RFC 9987; OpenSSH PROTOCOL.agent),
 * as a sans-I/O codec: requests are appended to an lsh_buf with their
 * length prefix, ready to write to the agent's socket; replies are cut
 * out of the received bytes with lsh_agent_frame and read by the parsers.
 *
 * The caller owns every buffer.  Parsers borrow their input: pointers
 * they hand out point into it.  On failure an encoder appends nothing
 * and a parser returns LSH_ETRUNCATED, LSH_ETOOLARGE, LSH_ETRAILING or
 * LSH_EBADPACKET (not the expected reply), or LSH_EREFUSED for
 * SSH_AGENT_FAILURE.
 */
#ifndef LSH_SSH_CONNECTION_AGENT_H
#define LSH_SSH_CONNECTION_AGENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "ssh/keys/key.h"

/* RFC 9987 §8.1 */
enum {
    LSH_AGENT_FAILURE = 5,
    LSH_AGENT_SUCCESS = 6,
    LSH_AGENTC_REQUEST_IDENTITIES = 11,
    LSH_AGENT_IDENTITIES_ANSWER = 12,
    LSH_AGENTC_SIGN_REQUEST = 13,
    LSH_AGENT_SIGN_RESPONSE = 14,
    LSH_AGENTC_ADD_IDENTITY = 17,
    LSH_AGENTC_REMOVE_IDENTITY = 18,
    LSH_AGENTC_REMOVE_ALL_IDENTITIES = 19,
    LSH_AGENTC_LOCK = 22,
    LSH_AGENTC_UNLOCK = 23,
    LSH_AGENTC_ADD_ID_CONSTRAINED = 25,
    LSH_AGENTC_EXTENSION = 27,
    LSH_AGENT_EXTENSION_FAILURE = 28
};

/* §8.2 constraints, §8.3 signature flags */
enum {
    LSH_AGENT_CONSTRAIN_LIFETIME = 1,
    LSH_AGENT_CONSTRAIN_CONFIRM = 2
};
#define LSH_AGENT_RSA_SHA2_256 0x02u
#define LSH_AGENT_RSA_SHA2_512 0x04u

/* Largest reply we accept (OpenSSH's agent caps messages at 256 KiB). */
#define LSH_AGENT_MAX_MSG (256u * 1024u)
/* Most identities read from one answer. */
#define LSH_AGENT_MAX_KEYS 1024u

/*
 * Looks for one whole message at the start of p[0..n): returns 1 and
 * sets *body / *body_len (the message after its length prefix: type byte
 * and contents) and *total (bytes to drop), 0 when more bytes are
 * needed, LSH_ETOOLARGE for a length over LSH_AGENT_MAX_MSG and
 * LSH_EBADPACKET for an empty message.
 */
LSH_MUST_CHECK int lsh_agent_frame(const uint8_t *p, size_t n,
                                   const uint8_t **body, size_t *body_len,
                                   size_t *total);

/* Requests (each appends one framed message). */
LSH_MUST_CHECK int lsh_agent_req_identities(lsh_buf *out);
LSH_MUST_CHECK int lsh_agent_req_sign(lsh_buf *out, const uint8_t *blob,
                                      size_t blob_len, const uint8_t *data,
                                      size_t data_len, uint32_t flags);
/*
 * ADD_IDENTITY (§5.2; ADD_ID_CONSTRAINED with §5.2.7 constraints when
 * lifetime > 0 or confirm) for the private key k, with the key fields
 * of §5.2.2-§5.2.4.  LSH_EINVAL for a public key, LSH_EUNSUPPORTED for
 * ssh-dss.
 */
LSH_MUST_CHECK int lsh_agent_req_add(lsh_buf *out, const lsh_key *k,
                                     const char *comment, uint32_t lifetime,
                                     int confirm);
LSH_MUST_CHECK int lsh_agent_req_remove(lsh_buf *out, const uint8_t *blob,
                                        size_t blob_len);
LSH_MUST_CHECK int lsh_agent_req_remove_all(lsh_buf *out);
LSH_MUST_CHECK int lsh_agent_req_lock(lsh_buf *out, int lock,
                                      const char *passphrase);

/* The signature flags for a signature algorithm ("rsa-sha2-512": 4). */
uint32_t lsh_agent_sign_flags(const char *sigalg);

/* Replies */

/* SUCCESS: 0; FAILURE: LSH_EREFUSED; anything else LSH_EBADPACKET. */
LSH_MUST_CHECK int lsh_agent_parse_status(const uint8_t *body, size_t n);

/* One identity of an IDENTITIES_ANSWER (borrowed from the body). */
typedef struct lsh_agent_identity {
    const uint8_t *blob;
    size_t blob_len;
    const uint8_t *comment;
    size_t comment_len;
} lsh_agent_identity;

/*
 * Calls cb for each identity of an IDENTITIES_ANSWER, in order; a
 * nonzero return from cb stops and is returned.  The whole message is
 * checked first (count within LSH_AGENT_MAX_KEYS, no trailing bytes), so
 * cb never sees a half-valid answer.
 */
LSH_MUST_CHECK int lsh_agent_parse_identities(
    const uint8_t *body, size_t n,
    int (*cb)(void *ctx, const lsh_agent_identity *id), void *ctx);

/* SIGN_RESPONSE: *sig / *sig_len = the signature blob (borrowed). */
LSH_MUST_CHECK int lsh_agent_parse_sign(const uint8_t *body, size_t n,
                                        const uint8_t **sig,
                                        size_t *sig_len);

#endif
