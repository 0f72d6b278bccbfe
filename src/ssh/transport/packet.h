/*
 * The SSH binary packet protocol (RFC 4253 §6), one direction at a time.
 *
 *     uint32    packet_length
 *     byte      padding_length
 *     byte[n1]  payload        (compressed when compression is active)
 *     byte[n2]  random padding (n2 >= 4)
 *     byte[m]   mac            (or the AEAD tag)
 *
 * An lsh_pkt_dir holds everything one direction needs: cipher, MAC and
 * compression state, the sequence number, the traffic counters used for
 * rekeying, and the partial state of a packet being received.  The
 * transport owns two of them (one per direction) and drives them:
 * lsh_pkt_dir_set_keys() at NEWKEYS, lsh_pkt_encode() per outgoing
 * payload, lsh_pkt_decode() whenever bytes arrive.
 *
 * Errors: every function returns 0 or a negative LSH_E* code.  The first
 * fatal error is sticky: it is recorded in the direction, and every later
 * call returns it without doing anything.  Calls refused for a reason that
 * changed nothing (a bad argument, a payload too large to encode) are not
 * fatal and say so below.
 */
#ifndef LSH_SSH_TRANSPORT_PACKET_H
#define LSH_SSH_TRANSPORT_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "ssh/transport/cipher.h"
#include "ssh/transport/comp.h"
#include "ssh/transport/mac.h"

/*
 * Largest packet_length accepted or produced (256 KiB).  A received length
 * field above it is LSH_ETOOLARGE before any allocation; an inflated
 * payload above it is LSH_ECOMPRESSION.
 */
#define LSH_PKT_MAX 262144u

/* The per-packet random source: 0 on success, a negative LSH_E* code else. */
typedef int (*lsh_pkt_rng_fn)(void *ctx, uint8_t *out, size_t n);

typedef struct lsh_pkt_dir {
    /* Public, read-only for the caller. */
    uint32_t seqnr;   /* RFC 4253 §6.4 sequence number, wraps at 2^32 */
    uint64_t bytes;   /* wire bytes since the last set_keys */
    uint64_t packets; /* packets since the last set_keys */

    /* Private. */
    lsh_cipher_ctx cipher;  /* info NULL: "none" */
    lsh_mac_ctx mac;        /* info NULL: "none" (and for AEAD ciphers) */
    lsh_comp_ctx comp;      /* running zlib stream, if any */
    lsh_comp_type comp_type;
    int mode;               /* 0 until set_keys, then LSH_PKT_SEND/RECV */
    int authenticated;      /* delayed compression may run (survives rekey) */
    int err;                /* sticky fatal error, 0 if none */
    int rx_have_len;        /* receive: the length of the current packet */
    uint32_t rx_len;        /*   is known (and, for CBC/CTR without etm, */
                            /*   its first block is decrypted in place) */
} lsh_pkt_dir;

#define LSH_PKT_SEND 1
#define LSH_PKT_RECV 2

/*
 * Takes new keys into use (at NEWKEYS, RFC 4253 §7.3).  `encrypt` is
 * nonzero for the sending direction.  `cipher`, `mac` and `comp` are the
 * negotiated names; `mac` is ignored (and may be NULL) for an AEAD cipher
 * and `comp` NULL means "none".  key, iv and mac_key hold key_len, iv_len
 * and (for the MAC) key_len bytes as given by lsh_cipher_lookup() and
 * lsh_mac_lookup(); they are copied into OpenSSL and not kept.
 *
 * The sequence number is NOT reset (see lsh_pkt_dir_reset_seqnr); the
 * byte and packet counters are.  A zlib stream is started afresh (RFC
 * 4253 §6.2: initialised after each key exchange); zlib@openssh.com
 * starts now only if lsh_pkt_dir_enable_delayed_compression() was called
 * before, under earlier keys.  "none" as cipher or MAC is accepted only in
 * builds made with -DLSH_TESTING.
 *
 * Errors (all sticky, the direction cannot go on under its old keys):
 * LSH_ENOALG for an unknown name, LSH_EINVAL for a missing key,
 * LSH_ESTATE if a received packet is half-decoded, LSH_ECRYPTO/LSH_ENOMEM.
 */
LSH_MUST_CHECK int lsh_pkt_dir_set_keys(lsh_pkt_dir *d, int encrypt,
                                        const char *cipher, const char *mac,
                                        const char *comp, const uint8_t *key,
                                        const uint8_t *iv,
                                        const uint8_t *mac_key);

/* Strict kex (draft-ietf-sshm-strict-kex §2): sequence number back to 0. */
void lsh_pkt_dir_reset_seqnr(lsh_pkt_dir *d);

/*
 * Records that user authentication succeeded, so that zlib@openssh.com
 * runs from the next packet on and after every later rekey
 * (draft-miller-secsh-compression-delayed §3).  The sender calls it right
 * after encoding SSH_MSG_USERAUTH_SUCCESS, the receiver right after
 * decoding it.  Returns 0, or a sticky LSH_ENOMEM if the stream cannot
 * start.  Harmless for other compression methods.
 */
int lsh_pkt_dir_enable_delayed_compression(lsh_pkt_dir *d);

/*
 * Frees the OpenSSL and zlib state (keys are cleansed) and zeroes `d`,
 * which is then a fresh "none" direction with sequence number 0.
 */
void lsh_pkt_dir_free(lsh_pkt_dir *d);

/* The sticky error, or 0. */
static inline int
lsh_pkt_dir_error(const lsh_pkt_dir *d)
{
    return d->err;
}

/*
 * The largest payload lsh_pkt_encode() accepts under the current
 * algorithms (with compression: conservatively, assuming incompressible
 * data).
 */
size_t lsh_pkt_dir_max_payload(const lsh_pkt_dir *d);

/*
 * Appends one complete wire packet carrying payload[0..n) to `out`: the
 * payload is compressed if compression is active, padded as RFC 4253 §6
 * requires (at least 4 bytes of padding from `rng`; the packet a multiple
 * of max(8, block size), the 4-byte length excluded for etm MACs and AEAD
 * ciphers), encrypted in place inside `out` and followed by its MAC or
 * tag.  Then the sequence number advances (mod 2^32) and the counters grow.
 *
 * Not fatal (nothing changed, `out` untouched): LSH_EINVAL (NULL rng,
 * a receiving direction), LSH_ETOOLARGE when the packet would exceed
 * LSH_PKT_MAX or `out` its cap, LSH_ENOMEM before anything was written.
 * Fatal: any failure once the compression or cipher state has moved on
 * (`out` is still restored to its previous length).  Whatever a failed
 * call wrote into `out` is zeroed before it is cut off, so `out` may be
 * a bulk buffer (lsh_buf_set_bulk) and never keeps plaintext.
 */
LSH_MUST_CHECK int lsh_pkt_encode(lsh_pkt_dir *d, const uint8_t *payload,
                                  size_t n, lsh_pkt_rng_fn rng, void *rng_ctx,
                                  lsh_buf *out);

/*
 * lsh_pkt_encode() for a payload given in two parts, hdr[0..hn) then
 * data[0..dn) (either may be empty), as if they were one buffer: channel
 * data goes out behind its few header bytes without being copied next to
 * them first.  The payload is copied once, into `out`.  With compression
 * each part is deflated in turn (two partial flushes in the packet, one
 * valid stream; the bytes differ from those of one concatenated part).
 * Errors as lsh_pkt_encode(); LSH_ETOOLARGE also when hn + dn exceeds
 * LSH_PKT_MAX.
 */
LSH_MUST_CHECK int lsh_pkt_encode2(lsh_pkt_dir *d, const uint8_t *hdr,
                                   size_t hn, const uint8_t *data, size_t dn,
                                   lsh_pkt_rng_fn rng, void *rng_ctx,
                                   lsh_buf *out);

/* Nonzero while outgoing (or incoming) payloads are (de)compressed. */
int lsh_pkt_dir_compressing(const lsh_pkt_dir *d);

/*
 * Decodes at most one packet from the front of `in`.
 *
 * Returns 0 when a whole packet was there: its bytes are consumed from
 * `in` and its payload (decompressed) is appended to `payload_out`.
 * Whatever of the packet was decrypted inside `in` is zeroed before it is
 * consumed, so `in` never keeps plaintext and may be a bulk buffer
 * (lsh_buf_set_bulk: consumed bytes are not wiped one by one).
 * Returns LSH_EAGAIN when more bytes are needed; nothing is consumed, but
 * the bytes already looked at may have been decrypted in place (the first
 * block of a CBC/CTR packet without etm), so the caller must only ever
 * append to `in` between calls and pass the same buffer again.
 *
 * Fatal errors: LSH_ETOOLARGE when packet_length exceeds LSH_PKT_MAX
 * (checked on the field itself, before anything else), LSH_EBADPACKET for
 * a length that is too short or not a multiple of the block size, or a
 * padding_length < 4 or >= packet_length, LSH_EBADMAC for a MAC or tag
 * mismatch, LSH_ECOMPRESSION for corrupt compressed data or a payload
 * that inflates beyond LSH_PKT_MAX, LSH_ETOOLARGE if `payload_out` is
 * full.  On any error `payload_out` is left as it was.
 */
LSH_MUST_CHECK int lsh_pkt_decode(lsh_pkt_dir *d, lsh_buf *in,
                                  lsh_buf *payload_out);

#endif
