/*
 * SFTP version 3 wire codec (draft-ietf-secsh-filexfer-02) with the
 * OpenSSH extensions of PROTOCOL §4.
 *
 * Framing: every packet is uint32 length, byte type, payload
 * (draft-02 §3).  The decoders here take the bytes after the length
 * (type byte first) and borrow from them: every pointer in a decoded
 * struct is valid as long as the packet bytes are.  Strings are NOT
 * NUL-terminated.  Encoders append whole framed packets to an lsh_buf and
 * leave it unchanged on failure.
 */
#ifndef LSH_SSH_SFTP_CODEC_H
#define LSH_SSH_SFTP_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/rd.h"

#define LSH_SFTP_VERSION 3

/* draft-02 §3 packet types. */
enum {
    LSH_SFTP_INIT = 1,
    LSH_SFTP_VERSION_PKT = 2,
    LSH_SFTP_OPEN = 3,
    LSH_SFTP_CLOSE = 4,
    LSH_SFTP_READ = 5,
    LSH_SFTP_WRITE = 6,
    LSH_SFTP_LSTAT = 7,
    LSH_SFTP_FSTAT = 8,
    LSH_SFTP_SETSTAT = 9,
    LSH_SFTP_FSETSTAT = 10,
    LSH_SFTP_OPENDIR = 11,
    LSH_SFTP_READDIR = 12,
    LSH_SFTP_REMOVE = 13,
    LSH_SFTP_MKDIR = 14,
    LSH_SFTP_RMDIR = 15,
    LSH_SFTP_REALPATH = 16,
    LSH_SFTP_STAT = 17,
    LSH_SFTP_RENAME = 18,
    LSH_SFTP_READLINK = 19,
    LSH_SFTP_SYMLINK = 20,
    LSH_SFTP_STATUS = 101,
    LSH_SFTP_HANDLE = 102,
    LSH_SFTP_DATA = 103,
    LSH_SFTP_NAME = 104,
    LSH_SFTP_ATTRS = 105,
    LSH_SFTP_EXTENDED = 200,
    LSH_SFTP_EXTENDED_REPLY = 201
};

/* draft-02 §7 status codes. */
enum {
    LSH_SFTP_FX_OK = 0,
    LSH_SFTP_FX_EOF = 1,
    LSH_SFTP_FX_NO_SUCH_FILE = 2,
    LSH_SFTP_FX_PERMISSION_DENIED = 3,
    LSH_SFTP_FX_FAILURE = 4,
    LSH_SFTP_FX_BAD_MESSAGE = 5,
    LSH_SFTP_FX_NO_CONNECTION = 6,
    LSH_SFTP_FX_CONNECTION_LOST = 7,
    LSH_SFTP_FX_OP_UNSUPPORTED = 8
};

/* draft-02 §5 attribute flags. */
#define LSH_SFTP_ATTR_SIZE 0x00000001u
#define LSH_SFTP_ATTR_UIDGID 0x00000002u
#define LSH_SFTP_ATTR_PERMISSIONS 0x00000004u
#define LSH_SFTP_ATTR_ACMODTIME 0x00000008u
#define LSH_SFTP_ATTR_EXTENDED 0x80000000u
#define LSH_SFTP_ATTR_KNOWN                                               \
    (LSH_SFTP_ATTR_SIZE | LSH_SFTP_ATTR_UIDGID |                          \
     LSH_SFTP_ATTR_PERMISSIONS | LSH_SFTP_ATTR_ACMODTIME |                \
     LSH_SFTP_ATTR_EXTENDED)

/* draft-02 §6.3 open flags. */
#define LSH_SFTP_FXF_READ 0x01u
#define LSH_SFTP_FXF_WRITE 0x02u
#define LSH_SFTP_FXF_APPEND 0x04u
#define LSH_SFTP_FXF_CREAT 0x08u
#define LSH_SFTP_FXF_TRUNC 0x10u
#define LSH_SFTP_FXF_EXCL 0x20u

/* draft-02 §6: handles are at most 256 bytes. */
#define LSH_SFTP_MAX_HANDLE 256
/* Caps on decoded fields (paths, attribute extensions, id lists). */
#define LSH_SFTP_MAX_PATH 8192
#define LSH_SFTP_MAX_ATTR_EXT 64
#define LSH_SFTP_MAX_IDS 4096
/* Largest framed packet (length field excluded) either side accepts. */
#define LSH_SFTP_MAX_PACKET ((size_t)256 * 1024)

/* OpenSSH PROTOCOL §4.4 statvfs f_flag bits. */
#define LSH_SFTP_STATVFS_RDONLY 0x1u
#define LSH_SFTP_STATVFS_NOSUID 0x2u

/* A borrowed byte string (not NUL-terminated). */
typedef struct lsh_sftp_str {
    const uint8_t *p;
    size_t n;
} lsh_sftp_str;

/*
 * ATTRS (draft-02 §5).  On decode, `ext` borrows the raw extended
 * (type, data) pairs, already checked to be ext_count well-formed pairs.
 */
typedef struct lsh_sftp_attrs {
    uint32_t flags;
    uint64_t size;
    uint32_t uid, gid;
    uint32_t perms;
    uint32_t atime, mtime;
    uint32_t ext_count;
    lsh_sftp_str ext;
} lsh_sftp_attrs;

/* OpenSSH PROTOCOL §4.4 reply. */
typedef struct lsh_sftp_statvfs {
    uint64_t bsize, frsize, blocks, bfree, bavail, files, ffree, favail,
        fsid, flag, namemax;
} lsh_sftp_statvfs;

/* Extended request kinds the codec knows (OpenSSH PROTOCOL §4.3-4.12). */
typedef enum lsh_sftp_ext {
    LSH_SFTP_EXT_UNKNOWN = 0,
    LSH_SFTP_EXT_POSIX_RENAME,  /* path, path2 */
    LSH_SFTP_EXT_STATVFS,       /* path */
    LSH_SFTP_EXT_FSTATVFS,      /* handle */
    LSH_SFTP_EXT_HARDLINK,      /* path, path2 */
    LSH_SFTP_EXT_FSYNC,         /* handle */
    LSH_SFTP_EXT_LSETSTAT,      /* path, attrs */
    LSH_SFTP_EXT_LIMITS,        /* nothing */
    LSH_SFTP_EXT_EXPAND_PATH,   /* path */
    LSH_SFTP_EXT_COPY_DATA,     /* handle, offset, len64, handle2, offset2 */
    LSH_SFTP_EXT_HOME_DIRECTORY, /* path (the user name) */
    LSH_SFTP_EXT_USERS_GROUPS   /* ids, ids2: raw uint32 lists */
} lsh_sftp_ext;

/*
 * A decoded client request.  Which fields are set depends on `type` (and
 * `ext` for SSH_FXP_EXTENDED): see lsh_sftp_request_decode.
 */
typedef struct lsh_sftp_request {
    uint8_t type;
    uint32_t id;      /* INIT: the client's version */
    lsh_sftp_str path, path2;   /* RENAME/SYMLINK: path=first, path2=second */
    lsh_sftp_str handle, handle2;
    uint64_t offset, offset2;
    uint32_t len;     /* READ */
    uint64_t len64;   /* copy-data */
    uint32_t pflags;  /* OPEN */
    lsh_sftp_attrs attrs;
    lsh_sftp_str data; /* WRITE */
    lsh_sftp_str ext_name;      /* EXTENDED: request name */
    lsh_sftp_ext ext;
    lsh_sftp_str ext_data;      /* EXTENDED: bytes after the name */
    lsh_sftp_str ids, ids2;     /* users-groups-by-id: packed uint32s */
} lsh_sftp_request;

/*
 * Frames the next packet in p[0..n): returns 1 and sets *pkt and *pktlen (the
 * bytes after the length field, borrowed) and *consumed when a whole
 * packet is there, 0 when more bytes are needed, LSH_ETOOLARGE when the
 * announced length exceeds max, LSH_EBADPACKET for a zero length.
 */
int lsh_sftp_frame(const uint8_t *p, size_t n, size_t max,
                   const uint8_t **pkt, size_t *pktlen, size_t *consumed);

/* ATTRS: decode (strict: unknown flag bits are LSH_EPROTOCOL, as draft-02
 * §5 says) and encode. */
LSH_MUST_CHECK int lsh_sftp_attrs_decode(lsh_rd *rd, lsh_sftp_attrs *a);
LSH_MUST_CHECK int lsh_sftp_attrs_put(lsh_buf *b, const lsh_sftp_attrs *a);

/*
 * Decodes a client packet (type byte first).  Returns 0; LSH_EUNSUPPORTED
 * for an unknown packet type (req->type and req->id set, so a server can
 * answer OP_UNSUPPORTED); LSH_ETRUNCATED/ETOOLARGE/ETRAILING/EBADSTRING/
 * EPROTOCOL for malformed bodies (req->id is set when it could be read:
 * *id_ok then 1).  Unknown EXTENDED names decode with ext = UNKNOWN.
 */
LSH_MUST_CHECK int lsh_sftp_request_decode(const uint8_t *pkt, size_t n,
                                           lsh_sftp_request *req, int *id_ok);

/* Encodes a framed request from the fields that its type uses. */
LSH_MUST_CHECK int lsh_sftp_request_put(lsh_buf *b,
                                        const lsh_sftp_request *req);

/* Known extension name <-> kind. */
lsh_sftp_ext lsh_sftp_ext_lookup(const uint8_t *name, size_t n);
const char *lsh_sftp_ext_name(lsh_sftp_ext e);

/*
 * Response encoders (server side).  Each appends one framed packet.
 * lsh_sftp_begin/lsh_sftp_end frame a packet built field by field:
 * begin writes the length placeholder and type and returns the mark.
 */
LSH_MUST_CHECK int lsh_sftp_begin(lsh_buf *b, uint8_t type, size_t *mark);
LSH_MUST_CHECK int lsh_sftp_end(lsh_buf *b, size_t mark, size_t max);

/* VERSION with (name, data) extension pairs, names/datas NUL-terminated. */
LSH_MUST_CHECK int lsh_sftp_put_version(lsh_buf *b, uint32_t version,
                                        const char *const *names,
                                        const char *const *datas,
                                        size_t count);
LSH_MUST_CHECK int lsh_sftp_put_status(lsh_buf *b, uint32_t id,
                                       uint32_t code, const char *msg);
LSH_MUST_CHECK int lsh_sftp_put_handle(lsh_buf *b, uint32_t id,
                                       const uint8_t *h, size_t n);
LSH_MUST_CHECK int lsh_sftp_put_data(lsh_buf *b, uint32_t id,
                                     const uint8_t *p, size_t n);
LSH_MUST_CHECK int lsh_sftp_put_attrs(lsh_buf *b, uint32_t id,
                                      const lsh_sftp_attrs *a);
/* A NAME with one entry (REALPATH, READLINK): attrs may be NULL (empty). */
LSH_MUST_CHECK int lsh_sftp_put_name1(lsh_buf *b, uint32_t id,
                                      const char *name, const char *longname,
                                      const lsh_sftp_attrs *a);
LSH_MUST_CHECK int lsh_sftp_put_statvfs(lsh_buf *b, uint32_t id,
                                        const lsh_sftp_statvfs *s);
/* limits@openssh.com reply (PROTOCOL §4.8). */
LSH_MUST_CHECK int lsh_sftp_put_limits(lsh_buf *b, uint32_t id,
                                       uint64_t max_packet, uint64_t max_read,
                                       uint64_t max_write,
                                       uint64_t max_handles);

/*
 * A decoded server response (client side and tests).  NAME: count and a
 * cursor over the entries (read them with lsh_sftp_name_next).
 * EXTENDED_REPLY: ext_data is the raw bytes after the id.
 */
typedef struct lsh_sftp_response {
    uint8_t type;
    uint32_t id;       /* VERSION: the version */
    uint32_t code;     /* STATUS */
    lsh_sftp_str msg, lang;
    lsh_sftp_str handle;
    lsh_sftp_str data;
    uint32_t count;    /* NAME */
    lsh_rd names;
    lsh_sftp_attrs attrs;
    lsh_sftp_str ext_data; /* EXTENDED_REPLY, VERSION extension pairs */
} lsh_sftp_response;

typedef struct lsh_sftp_name {
    lsh_sftp_str filename, longname;
    lsh_sftp_attrs attrs;
} lsh_sftp_name;

LSH_MUST_CHECK int lsh_sftp_response_decode(const uint8_t *pkt, size_t n,
                                            lsh_sftp_response *resp);
/* Next NAME entry: 1 and *out set, 0 at the end, or a negative error. */
int lsh_sftp_name_next(lsh_sftp_response *resp, uint32_t *i,
                       lsh_sftp_name *out);
LSH_MUST_CHECK int lsh_sftp_statvfs_decode(const uint8_t *p, size_t n,
                                           lsh_sftp_statvfs *s);

#endif
