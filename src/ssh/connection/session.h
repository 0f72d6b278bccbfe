/*
 * Type-specific data of the connection protocol's requests and opens:
 * sessions (RFC 4254 §6, terminal modes §8 with RFC 8160's IUTF8, break
 * RFC 4335), TCP/IP forwarding (§7) and OpenSSH's Unix-socket forwarding
 * (PROTOCOL §2.4).
 *
 * Encoders append the data that follows the request name / want_reply (or
 * the open's window and maximum packet size) to an lsh_buf; pass
 * lsh_buf_ptr/lsh_buf_len to lsh_chan_request, lsh_global_request or
 * lsh_chan_open.  On failure nothing is appended.
 *
 * Parsers take an event's `extra` bytes and are strict: every field
 * present, no byte left over (lsh_rd_end), strings under the caps below,
 * text fields free of NUL bytes (they end up in C strings: a command, a
 * variable, a path), ports at most 65535.  Spans point into the parsed
 * bytes (borrowed: valid as long as they are) and are NOT NUL-terminated.
 * On failure the output is unspecified and the result is an LSH_E* code:
 * LSH_ETRUNCATED, LSH_ETOOLARGE, LSH_ETRAILING, LSH_EBADSTRING (a NUL),
 * LSH_EINVAL (a value out of range).
 */
#ifndef LSH_SSH_CONNECTION_SESSION_H
#define LSH_SSH_CONNECTION_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common/buf.h"

typedef struct lsh_span {
    const uint8_t *p;
    size_t n;
} lsh_span;

static inline lsh_span
lsh_span_str(const char *s)
{
    lsh_span sp = {(const uint8_t *)s, s ? strlen(s) : 0};
    return sp;
}

/* Caps on the text fields (bytes). */
#define LSH_SESS_TERM_MAX 256
#define LSH_SESS_ENV_NAME_MAX 1024
#define LSH_SESS_ENV_VALUE_MAX (64 * 1024)
#define LSH_SESS_COMMAND_MAX (256 * 1024)
#define LSH_SESS_SUBSYSTEM_MAX 256
#define LSH_SESS_SIGNAL_MAX 64
#define LSH_SESS_MESSAGE_MAX (64 * 1024)
#define LSH_SESS_LANG_MAX 256
#define LSH_SESS_X11_PROTO_MAX 256
#define LSH_SESS_X11_COOKIE_MAX 1024
#define LSH_SESS_HOST_MAX 1024
#define LSH_SESS_PATH_MAX 4096
/* Encoded terminal modes: 5 bytes per mode, 255 modes, TTY_OP_END. */
#define LSH_TTY_MODES_MAX_BYTES (5 * 255 + 1)

/* RFC 4254 §8 opcodes (and RFC 8160 §3: IUTF8 = 42). */
enum {
    LSH_TTY_OP_END = 0,
    LSH_TTY_VINTR = 1, LSH_TTY_VQUIT = 2, LSH_TTY_VERASE = 3,
    LSH_TTY_VKILL = 4, LSH_TTY_VEOF = 5, LSH_TTY_VEOL = 6,
    LSH_TTY_VEOL2 = 7, LSH_TTY_VSTART = 8, LSH_TTY_VSTOP = 9,
    LSH_TTY_VSUSP = 10, LSH_TTY_VDSUSP = 11, LSH_TTY_VREPRINT = 12,
    LSH_TTY_VWERASE = 13, LSH_TTY_VLNEXT = 14, LSH_TTY_VFLUSH = 15,
    LSH_TTY_VSWTCH = 16, LSH_TTY_VSTATUS = 17, LSH_TTY_VDISCARD = 18,
    LSH_TTY_IGNPAR = 30, LSH_TTY_PARMRK = 31, LSH_TTY_INPCK = 32,
    LSH_TTY_ISTRIP = 33, LSH_TTY_INLCR = 34, LSH_TTY_IGNCR = 35,
    LSH_TTY_ICRNL = 36, LSH_TTY_IUCLC = 37, LSH_TTY_IXON = 38,
    LSH_TTY_IXANY = 39, LSH_TTY_IXOFF = 40, LSH_TTY_IMAXBEL = 41,
    LSH_TTY_IUTF8 = 42,
    LSH_TTY_ISIG = 50, LSH_TTY_ICANON = 51, LSH_TTY_XCASE = 52,
    LSH_TTY_ECHO = 53, LSH_TTY_ECHOE = 54, LSH_TTY_ECHOK = 55,
    LSH_TTY_ECHONL = 56, LSH_TTY_NOFLSH = 57, LSH_TTY_TOSTOP = 58,
    LSH_TTY_IEXTEN = 59, LSH_TTY_ECHOCTL = 60, LSH_TTY_ECHOKE = 61,
    LSH_TTY_PENDIN = 62,
    LSH_TTY_OPOST = 70, LSH_TTY_OLCUC = 71, LSH_TTY_ONLCR = 72,
    LSH_TTY_OCRNL = 73, LSH_TTY_ONOCR = 74, LSH_TTY_ONLRET = 75,
    LSH_TTY_CS7 = 90, LSH_TTY_CS8 = 91, LSH_TTY_PARENB = 92,
    LSH_TTY_PARODD = 93,
    LSH_TTY_OP_ISPEED = 128, LSH_TTY_OP_OSPEED = 129
};

typedef struct lsh_tty_mode {
    uint8_t opcode; /* 1..159 */
    uint32_t value;
} lsh_tty_mode;

/*
 * Appends the encoded terminal modes (RFC 4254 §8: opcode byte + uint32,
 * then TTY_OP_END) -- the raw stream, which lsh_pty_req.modes carries.
 * Opcodes outside 1..159 are LSH_EINVAL; more than 255 modes LSH_ETOOLARGE.
 */
LSH_MUST_CHECK int lsh_tty_modes_encode(lsh_buf *out, const lsh_tty_mode *m,
                                        size_t n);

/*
 * Decodes an encoded modes stream into out[0..max), *count modes.  An
 * opcode of 160..255 stops parsing (§8: what follows is ignored); bytes
 * after TTY_OP_END are LSH_ETRAILING; an opcode 1..159 without its four
 * bytes is LSH_ETRUNCATED; more modes than max is LSH_ETOOLARGE.  A stream
 * that ends without TTY_OP_END is accepted (clients send an empty string
 * for "no modes").  Repeated opcodes are kept in order (the last wins).
 */
LSH_MUST_CHECK int lsh_tty_modes_decode(const uint8_t *p, size_t n,
                                        lsh_tty_mode *out, size_t max,
                                        size_t *count);

/* The §8 mnemonic of an opcode ("VINTR", "IUTF8", "TTY_OP_ISPEED"), or
 * NULL; and the opcode of a mnemonic, or -1. */
const char *lsh_tty_mode_name(uint8_t opcode);
int lsh_tty_mode_lookup(const char *name);

/* Requests without data ("shell", "auth-agent-req@openssh.com",
 * "eow@openssh.com", the "session" open): LSH_ETRAILING unless empty. */
LSH_MUST_CHECK int lsh_chan_parse_empty(const uint8_t *p, size_t n);

/* "pty-req" (§6.2) */
typedef struct lsh_pty_req {
    lsh_span term;     /* TERM, e.g. "xterm" */
    uint32_t cols, rows, width_px, height_px;
    lsh_span modes;    /* encoded terminal modes (lsh_tty_modes_*) */
} lsh_pty_req;
LSH_MUST_CHECK int lsh_chan_pty_req_data(lsh_buf *out, const lsh_pty_req *r);
LSH_MUST_CHECK int lsh_chan_parse_pty_req(const uint8_t *p, size_t n,
                                          lsh_pty_req *out);

/* "x11-req" (§6.3.1); the cookie must be hexadecimal. */
typedef struct lsh_x11_req {
    int single_connection;
    lsh_span proto;  /* e.g. "MIT-MAGIC-COOKIE-1" */
    lsh_span cookie; /* hex */
    uint32_t screen;
} lsh_x11_req;
LSH_MUST_CHECK int lsh_chan_x11_req_data(lsh_buf *out, const lsh_x11_req *r);
LSH_MUST_CHECK int lsh_chan_parse_x11_req(const uint8_t *p, size_t n,
                                          lsh_x11_req *out);

/* "env" (§6.4); the name must not be empty nor contain '='. */
typedef struct lsh_env_req {
    lsh_span name, value;
} lsh_env_req;
LSH_MUST_CHECK int lsh_chan_env_data(lsh_buf *out, const lsh_env_req *r);
LSH_MUST_CHECK int lsh_chan_parse_env(const uint8_t *p, size_t n,
                                      lsh_env_req *out);

/* "exec" and "subsystem" (§6.5): one string each. */
LSH_MUST_CHECK int lsh_chan_exec_data(lsh_buf *out, lsh_span command);
LSH_MUST_CHECK int lsh_chan_parse_exec(const uint8_t *p, size_t n,
                                       lsh_span *command);
LSH_MUST_CHECK int lsh_chan_subsystem_data(lsh_buf *out, lsh_span name);
LSH_MUST_CHECK int lsh_chan_parse_subsystem(const uint8_t *p, size_t n,
                                            lsh_span *name);

/* "window-change" (§6.7) */
typedef struct lsh_window_change {
    uint32_t cols, rows, width_px, height_px;
} lsh_window_change;
LSH_MUST_CHECK int lsh_chan_window_change_data(lsh_buf *out,
                                               const lsh_window_change *w);
LSH_MUST_CHECK int lsh_chan_parse_window_change(const uint8_t *p, size_t n,
                                                lsh_window_change *out);

/* "xon-xoff" (§6.8): client can do */
LSH_MUST_CHECK int lsh_chan_xon_xoff_data(lsh_buf *out, int client_can_do);
LSH_MUST_CHECK int lsh_chan_parse_xon_xoff(const uint8_t *p, size_t n,
                                           int *client_can_do);

/*
 * "signal" (§6.9): the signal name without "SIG" ("TERM", "INT",
 * "INFO@openssh.com").  The encoder drops a leading "SIG" it is given;
 * the parser refuses one (LSH_EINVAL), and an empty name.
 */
LSH_MUST_CHECK int lsh_chan_signal_data(lsh_buf *out, lsh_span name);
LSH_MUST_CHECK int lsh_chan_parse_signal(const uint8_t *p, size_t n,
                                         lsh_span *name);

/* "exit-status" (§6.10) */
LSH_MUST_CHECK int lsh_chan_exit_status_data(lsh_buf *out, uint32_t status);
LSH_MUST_CHECK int lsh_chan_parse_exit_status(const uint8_t *p, size_t n,
                                              uint32_t *status);

/* "exit-signal" (§6.10): name as for "signal", then core dumped, an
 * error message (UTF-8) and a language tag. */
typedef struct lsh_exit_signal {
    lsh_span signal;
    int core_dumped;
    lsh_span message, lang;
} lsh_exit_signal;
LSH_MUST_CHECK int lsh_chan_exit_signal_data(lsh_buf *out,
                                             const lsh_exit_signal *e);
LSH_MUST_CHECK int lsh_chan_parse_exit_signal(const uint8_t *p, size_t n,
                                              lsh_exit_signal *out);

/* "break" (RFC 4335 §3): break length in milliseconds. */
LSH_MUST_CHECK int lsh_chan_break_data(lsh_buf *out, uint32_t ms);
LSH_MUST_CHECK int lsh_chan_parse_break(const uint8_t *p, size_t n,
                                        uint32_t *ms);

/*
 * "direct-tcpip" and "forwarded-tcpip" opens (§7.2): host to connect /
 * address that was connected, its port, originator address and port.
 */
typedef struct lsh_tcpip_open {
    lsh_span host;
    uint32_t port;
    lsh_span orig_host;
    uint32_t orig_port;
} lsh_tcpip_open;
LSH_MUST_CHECK int lsh_chan_direct_tcpip_data(lsh_buf *out,
                                              const lsh_tcpip_open *o);
LSH_MUST_CHECK int lsh_chan_forwarded_tcpip_data(lsh_buf *out,
                                                 const lsh_tcpip_open *o);
LSH_MUST_CHECK int lsh_chan_parse_tcpip_open(const uint8_t *p, size_t n,
                                             lsh_tcpip_open *out);

/* "x11" open (§6.3.2): originator address and port. */
LSH_MUST_CHECK int lsh_chan_x11_open_data(lsh_buf *out, lsh_span orig_host,
                                          uint32_t orig_port);
LSH_MUST_CHECK int lsh_chan_parse_x11_open(const uint8_t *p, size_t n,
                                           lsh_span *orig_host,
                                           uint32_t *orig_port);

/*
 * OpenSSH PROTOCOL §2.4.  "direct-streamlocal@openssh.com": socket path,
 * reserved string, reserved uint32 (sent empty / 0, ignored);
 * "forwarded-streamlocal@openssh.com": socket path, reserved string.
 */
LSH_MUST_CHECK int lsh_chan_direct_streamlocal_data(lsh_buf *out,
                                                    lsh_span path);
LSH_MUST_CHECK int lsh_chan_parse_direct_streamlocal(const uint8_t *p,
                                                     size_t n,
                                                     lsh_span *path);
LSH_MUST_CHECK int lsh_chan_forwarded_streamlocal_data(lsh_buf *out,
                                                       lsh_span path);
LSH_MUST_CHECK int lsh_chan_parse_forwarded_streamlocal(const uint8_t *p,
                                                        size_t n,
                                                        lsh_span *path);

/* "tcpip-forward" / "cancel-tcpip-forward" global requests (§7.1):
 * address to bind and port (0: the server picks). */
LSH_MUST_CHECK int lsh_chan_tcpip_forward_data(lsh_buf *out, lsh_span addr,
                                               uint32_t port);
LSH_MUST_CHECK int lsh_chan_parse_tcpip_forward(const uint8_t *p, size_t n,
                                                lsh_span *addr,
                                                uint32_t *port);
/* The REQUEST_SUCCESS data for "tcpip-forward" with port 0: the port. */
LSH_MUST_CHECK int lsh_chan_forward_port_data(lsh_buf *out, uint32_t port);
LSH_MUST_CHECK int lsh_chan_parse_forward_port(const uint8_t *p, size_t n,
                                               uint32_t *port);

/* "streamlocal-forward@openssh.com" / "cancel-streamlocal-forward@
 * openssh.com" global requests (PROTOCOL §2.4): the socket path. */
LSH_MUST_CHECK int lsh_chan_streamlocal_forward_data(lsh_buf *out,
                                                     lsh_span path);
LSH_MUST_CHECK int lsh_chan_parse_streamlocal_forward(const uint8_t *p,
                                                      size_t n,
                                                      lsh_span *path);

#endif
