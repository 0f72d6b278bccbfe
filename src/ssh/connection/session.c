/*
 * Type-specific data of session requests, forwarding opens and forwarding
 * global requests (RFC 4254 §6-§8, RFC 4335, RFC 8160, OpenSSH PROTOCOL
 * §2.4).  Each message's encoder and parser sit together, in the order of
 * the RFC's layout.
 */
#include "ssh/connection/session.h"

#include <string.h>

#include "common/rd.h"

/* Helpers */

/* A text field: length readable, under its cap, present, free of NUL. */
static int
rd_text_max(lsh_rd *rd, size_t max, lsh_span *out)
{
    const uint8_t *p;
    size_t n;
    int r;
    if ((r = lsh_rd_string_max(rd, max, &p, &n)) != 0) {
        return r;
    }
    if (memchr(p, 0, n) != NULL) {
        return LSH_EBADSTRING;
    }
    out->p = p;
    out->n = n;
    return 0;
}

static int
rd_port(lsh_rd *rd, uint32_t *port)
{
    uint32_t v;
    int r;
    if ((r = lsh_rd_u32(rd, &v)) != 0) {
        return r;
    }
    if (v > 65535) {
        return LSH_EINVAL;
    }
    *port = v;
    return 0;
}

static int
text_ok(lsh_span s, size_t max)
{
    if (s.n > max) {
        return LSH_ETOOLARGE;
    }
    if (s.n > 0 && (s.p == NULL || memchr(s.p, 0, s.n) != NULL)) {
        return LSH_EINVAL;
    }
    return 0;
}

static int
put_text(lsh_buf *b, lsh_span s, size_t max)
{
    int r;
    if ((r = text_ok(s, max)) != 0) {
        return r;
    }
    return lsh_buf_put_string(b, s.p, s.n);
}

/* Undoes a partial append, so that a failed encoder appends nothing. */
static int
finish(lsh_buf *b, size_t before, int r)
{
    if (r != 0 && lsh_buf_len(b) > before) {
        (void)lsh_buf_truncate(b, lsh_buf_len(b) - before);
    }
    return r;
}

static int
parse_one_text(const uint8_t *p, size_t n, size_t max, lsh_span *out)
{
    lsh_rd rd;
    int r;
    lsh_rd_init(&rd, p, n);
    if ((r = rd_text_max(&rd, max, out)) != 0) {
        return r;
    }
    return lsh_rd_end(&rd);
}

static int
parse_one_u32(const uint8_t *p, size_t n, uint32_t *out)
{
    lsh_rd rd;
    int r;
    lsh_rd_init(&rd, p, n);
    if ((r = lsh_rd_u32(&rd, out)) != 0) {
        return r;
    }
    return lsh_rd_end(&rd);
}

int
lsh_chan_parse_empty(const uint8_t *p, size_t n)
{
    (void)p;
    return n == 0 ? 0 : LSH_ETRAILING;
}

/* RFC 4254 §8: encoded terminal modes */

static const struct {
    uint8_t op;
    const char *name;
} tty_names[] = {
    {1, "VINTR"}, {2, "VQUIT"}, {3, "VERASE"}, {4, "VKILL"}, {5, "VEOF"},
    {6, "VEOL"}, {7, "VEOL2"}, {8, "VSTART"}, {9, "VSTOP"}, {10, "VSUSP"},
    {11, "VDSUSP"}, {12, "VREPRINT"}, {13, "VWERASE"}, {14, "VLNEXT"},
    {15, "VFLUSH"}, {16, "VSWTCH"}, {17, "VSTATUS"}, {18, "VDISCARD"},
    {30, "IGNPAR"}, {31, "PARMRK"}, {32, "INPCK"}, {33, "ISTRIP"},
    {34, "INLCR"}, {35, "IGNCR"}, {36, "ICRNL"}, {37, "IUCLC"},
    {38, "IXON"}, {39, "IXANY"}, {40, "IXOFF"}, {41, "IMAXBEL"},
    {42, "IUTF8"}, /* RFC 8160 §3 */
    {50, "ISIG"}, {51, "ICANON"}, {52, "XCASE"}, {53, "ECHO"},
    {54, "ECHOE"}, {55, "ECHOK"}, {56, "ECHONL"}, {57, "NOFLSH"},
    {58, "TOSTOP"}, {59, "IEXTEN"}, {60, "ECHOCTL"}, {61, "ECHOKE"},
    {62, "PENDIN"}, {70, "OPOST"}, {71, "OLCUC"}, {72, "ONLCR"},
    {73, "OCRNL"}, {74, "ONOCR"}, {75, "ONLRET"}, {90, "CS7"},
    {91, "CS8"}, {92, "PARENB"}, {93, "PARODD"},
    {128, "TTY_OP_ISPEED"}, {129, "TTY_OP_OSPEED"},
};

const char *
lsh_tty_mode_name(uint8_t opcode)
{
    for (size_t i = 0; i < sizeof(tty_names) / sizeof(tty_names[0]); i++) {
        if (tty_names[i].op == opcode) {
            return tty_names[i].name;
        }
    }
    return NULL;
}

int
lsh_tty_mode_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof(tty_names) / sizeof(tty_names[0]); i++) {
        if (strcmp(tty_names[i].name, name) == 0) {
            return tty_names[i].op;
        }
    }
    return -1;
}

int
lsh_tty_modes_encode(lsh_buf *out, const lsh_tty_mode *m, size_t n)
{
    size_t before = lsh_buf_len(out);
    int r = 0;
    if (n > 255) {
        return LSH_ETOOLARGE;
    }
    for (size_t i = 0; i < n; i++) {
        if (m[i].opcode == LSH_TTY_OP_END || m[i].opcode >= 160) {
            return LSH_EINVAL;
        }
    }
    for (size_t i = 0; i < n && r == 0; i++) {
        if ((r = lsh_buf_put_u8(out, m[i].opcode)) == 0) {
            r = lsh_buf_put_u32(out, m[i].value);
        }
    }
    if (r == 0) {
        r = lsh_buf_put_u8(out, LSH_TTY_OP_END);
    }
    return finish(out, before, r);
}

int
lsh_tty_modes_decode(const uint8_t *p, size_t n, lsh_tty_mode *out,
                     size_t max, size_t *count)
{
    lsh_rd rd;
    size_t k = 0;
    int r;
    lsh_rd_init(&rd, p, n);
    while (lsh_rd_remaining(&rd) > 0) {
        uint8_t op;
        uint32_t v;
        if ((r = lsh_rd_u8(&rd, &op)) != 0) {
            return r;
        }
        if (op == LSH_TTY_OP_END) {
            if ((r = lsh_rd_end(&rd)) != 0) {
                return r;
            }
            break;
        }
        if (op >= 160) {
            break; /* §8: undefined opcodes stop parsing */
        }
        if ((r = lsh_rd_u32(&rd, &v)) != 0) {
            return r;
        }
        if (k == max) {
            return LSH_ETOOLARGE;
        }
        out[k].opcode = op;
        out[k].value = v;
        k++;
    }
    *count = k;
    return 0;
}

/* §6.2 "pty-req" */

int
lsh_chan_pty_req_data(lsh_buf *out, const lsh_pty_req *q)
{
    size_t before = lsh_buf_len(out);
    int r;
    if (q->modes.n > LSH_TTY_MODES_MAX_BYTES ||
        (q->modes.n > 0 && q->modes.p == NULL)) {
        return LSH_ETOOLARGE;
    }
    if ((r = put_text(out, q->term, LSH_SESS_TERM_MAX)) != 0 ||
        (r = lsh_buf_put_u32(out, q->cols)) != 0 ||
        (r = lsh_buf_put_u32(out, q->rows)) != 0 ||
        (r = lsh_buf_put_u32(out, q->width_px)) != 0 ||
        (r = lsh_buf_put_u32(out, q->height_px)) != 0 ||
        (r = lsh_buf_put_string(out, q->modes.p, q->modes.n)) != 0) {
        return finish(out, before, r);
    }
    return 0;
}

int
lsh_chan_parse_pty_req(const uint8_t *p, size_t n, lsh_pty_req *q)
{
    lsh_rd rd;
    int r;
    lsh_rd_init(&rd, p, n);
    if ((r = rd_text_max(&rd, LSH_SESS_TERM_MAX, &q->term)) != 0 ||
        (r = lsh_rd_u32(&rd, &q->cols)) != 0 ||
        (r = lsh_rd_u32(&rd, &q->rows)) != 0 ||
        (r = lsh_rd_u32(&rd, &q->width_px)) != 0 ||
        (r = lsh_rd_u32(&rd, &q->height_px)) != 0 ||
        (r = lsh_rd_string_max(&rd, LSH_TTY_MODES_MAX_BYTES, &q->modes.p,
                               &q->modes.n)) != 0) {
        return r;
    }
    return lsh_rd_end(&rd);
}

/* §6.3.1 "x11-req" */

static int
hex_ok(lsh_span s)
{
    for (size_t i = 0; i < s.n; i++) {
        uint8_t ch = s.p[i];
        if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
              (ch >= 'A' && ch <= 'F'))) {
            return 0;
        }
    }
    return 1;
}

int
lsh_chan_x11_req_data(lsh_buf *out, const lsh_x11_req *q)
{
    size_t before = lsh_buf_len(out);
    int r;
    if ((r = text_ok(q->cookie, LSH_SESS_X11_COOKIE_MAX)) != 0) {
        return r;
    }
    if (!hex_ok(q->cookie)) {
        return LSH_EINVAL;
    }
    if ((r = lsh_buf_put_bool(out, q->single_connection)) != 0 ||
        (r = put_text(out, q->proto, LSH_SESS_X11_PROTO_MAX)) != 0 ||
        (r = put_text(out, q->cookie, LSH_SESS_X11_COOKIE_MAX)) != 0 ||
        (r = lsh_buf_put_u32(out, q->screen)) != 0) {
        return finish(out, before, r);
    }
    return 0;
}

int
lsh_chan_parse_x11_req(const uint8_t *p, size_t n, lsh_x11_req *q)
{
    lsh_rd rd;
    int r;
    lsh_rd_init(&rd, p, n);
    if ((r = lsh_rd_bool(&rd, &q->single_connection)) != 0 ||
        (r = rd_text_max(&rd, LSH_SESS_X11_PROTO_MAX, &q->proto)) != 0 ||
        (r = rd_text_max(&rd, LSH_SESS_X11_COOKIE_MAX, &q->cookie)) != 0 ||
        (r = lsh_rd_u32(&rd, &q->screen)) != 0 ||
        (r = lsh_rd_end(&rd)) != 0) {
        return r;
    }
    /* §6.3.1: the cookie MUST be hexadecimal encoded. */
    return hex_ok(q->cookie) ? 0 : LSH_EINVAL;
}

/* §6.4 "env" */

static int
env_name_ok(lsh_span s)
{
    return s.n > 0 && memchr(s.p, '=', s.n) == NULL;
}

int
lsh_chan_env_data(lsh_buf *out, const lsh_env_req *q)
{
    size_t before = lsh_buf_len(out);
    int r;
    if ((r = text_ok(q->name, LSH_SESS_ENV_NAME_MAX)) != 0) {
        return r;
    }
    if (!env_name_ok(q->name)) {
        return LSH_EINVAL;
    }
    if ((r = put_text(out, q->name, LSH_SESS_ENV_NAME_MAX)) != 0 ||
        (r = put_text(out, q->value, LSH_SESS_ENV_VALUE_MAX)) != 0) {
        return finish(out, before, r);
    }
    return 0;
}

int
lsh_chan_parse_env(const uint8_t *p, size_t n, lsh_env_req *q)
{
    lsh_rd rd;
    int r;
    lsh_rd_init(&rd, p, n);
    if ((r = rd_text_max(&rd, LSH_SESS_ENV_NAME_MAX, &q->name)) != 0 ||
        (r = rd_text_max(&rd, LSH_SESS_ENV_VALUE_MAX, &q->value)) != 0 ||
        (r = lsh_rd_end(&rd)) != 0) {
        return r;
    }
    return env_name_ok(q->name) ? 0 : LSH_EINVAL;
}

/* §6.5 "exec" and "subsystem" */

int
lsh_chan_exec_data(lsh_buf *out, lsh_span command)
{
    return put_text(out, command, LSH_SESS_COMMAND_MAX);
}

int
lsh_chan_parse_exec(const uint8_t *p, size_t n, lsh_span *command)
{
    return parse_one_text(p, n, LSH_SESS_COMMAND_MAX, command);
}

int
lsh_chan_subsystem_data(lsh_buf *out, lsh_span name)
{
    if (name.n == 0) {
        return LSH_EINVAL;
    }
    return put_text(out, name, LSH_SESS_SUBSYSTEM_MAX);
}

int
lsh_chan_parse_subsystem(const uint8_t *p, size_t n, lsh_span *name)
{
    int r = parse_one_text(p, n, LSH_SESS_SUBSYSTEM_MAX, name);
    if (r == 0 && name->n == 0) {
        return LSH_EINVAL;
    }
    return r;
}

/* §6.7 "window-change" */

int
lsh_chan_window_change_data(lsh_buf *out, const lsh_window_change *w)
{
    size_t before = lsh_buf_len(out);
    int r;
    if ((r = lsh_buf_put_u32(out, w->cols)) != 0 ||
        (r = lsh_buf_put_u32(out, w->rows)) != 0 ||
        (r = lsh_buf_put_u32(out, w->width_px)) != 0 ||
        (r = lsh_buf_put_u32(out, w->height_px)) != 0) {
        return finish(out, before, r);
    }
    return 0;
}

int
lsh_chan_parse_window_change(const uint8_t *p, size_t n,
                             lsh_window_change *w)
{
    lsh_rd rd;
    int r;
    lsh_rd_init(&rd, p, n);
    if ((r = lsh_rd_u32(&rd, &w->cols)) != 0 ||
        (r = lsh_rd_u32(&rd, &w->rows)) != 0 ||
        (r = lsh_rd_u32(&rd, &w->width_px)) != 0 ||
        (r = lsh_rd_u32(&rd, &w->height_px)) != 0) {
        return r;
    }
    return lsh_rd_end(&rd);
}

/* §6.8 "xon-xoff" */

int
lsh_chan_xon_xoff_data(lsh_buf *out, int client_can_do)
{
    return lsh_buf_put_bool(out, client_can_do);
}

int
lsh_chan_parse_xon_xoff(const uint8_t *p, size_t n, int *client_can_do)
{
    lsh_rd rd;
    int r;
    lsh_rd_init(&rd, p, n);
    if ((r = lsh_rd_bool(&rd, client_can_do)) != 0) {
        return r;
    }
    return lsh_rd_end(&rd);
}

/* §6.9 "signal" */

static lsh_span
strip_sig(lsh_span s)
{
    if (s.n > 3 && memcmp(s.p, "SIG", 3) == 0) {
        s.p += 3;
        s.n -= 3;
    }
    return s;
}

static int
signal_ok(lsh_span s)
{
    return s.n > 0 && !(s.n >= 3 && memcmp(s.p, "SIG", 3) == 0);
}

int
lsh_chan_signal_data(lsh_buf *out, lsh_span name)
{
    name = strip_sig(name);
    if (!signal_ok(name)) {
        return LSH_EINVAL;
    }
    return put_text(out, name, LSH_SESS_SIGNAL_MAX);
}

int
lsh_chan_parse_signal(const uint8_t *p, size_t n, lsh_span *name)
{
    int r = parse_one_text(p, n, LSH_SESS_SIGNAL_MAX, name);
    if (r == 0 && !signal_ok(*name)) {
        return LSH_EINVAL;
    }
    return r;
}

/* §6.10 "exit-status" and "exit-signal" */

int
lsh_chan_exit_status_data(lsh_buf *out, uint32_t status)
{
    return lsh_buf_put_u32(out, status);
}

int
lsh_chan_parse_exit_status(const uint8_t *p, size_t n, uint32_t *status)
{
    return parse_one_u32(p, n, status);
}

int
lsh_chan_exit_signal_data(lsh_buf *out, const lsh_exit_signal *e)
{
    size_t before = lsh_buf_len(out);
    lsh_span sig = strip_sig(e->signal);
    int r;
    if (!signal_ok(sig)) {
        return LSH_EINVAL;
    }
    if ((r = put_text(out, sig, LSH_SESS_SIGNAL_MAX)) != 0 ||
        (r = lsh_buf_put_bool(out, e->core_dumped)) != 0 ||
        (r = put_text(out, e->message, LSH_SESS_MESSAGE_MAX)) != 0 ||
        (r = put_text(out, e->lang, LSH_SESS_LANG_MAX)) != 0) {
        return finish(out, before, r);
    }
    return 0;
}

int
lsh_chan_parse_exit_signal(const uint8_t *p, size_t n, lsh_exit_signal *e)
{
    lsh_rd rd;
    int r;
    lsh_rd_init(&rd, p, n);
    if ((r = rd_text_max(&rd, LSH_SESS_SIGNAL_MAX, &e->signal)) != 0 ||
        (r = lsh_rd_bool(&rd, &e->core_dumped)) != 0 ||
        (r = rd_text_max(&rd, LSH_SESS_MESSAGE_MAX, &e->message)) != 0 ||
        (r = rd_text_max(&rd, LSH_SESS_LANG_MAX, &e->lang)) != 0 ||
        (r = lsh_rd_end(&rd)) != 0) {
        return r;
    }
    return signal_ok(e->signal) ? 0 : LSH_EINVAL;
}

/* RFC 4335 §3 "break" */

int
lsh_chan_break_data(lsh_buf *out, uint32_t ms)
{
    return lsh_buf_put_u32(out, ms);
}

int
lsh_chan_parse_break(const uint8_t *p, size_t n, uint32_t *ms)
{
    return parse_one_u32(p, n, ms);
}

/* §7.2 "direct-tcpip" / "forwarded-tcpip" opens */

static int
tcpip_open_data(lsh_buf *out, const lsh_tcpip_open *o)
{
    size_t before = lsh_buf_len(out);
    int r;
    if (o->port > 65535 || o->orig_port > 65535) {
        return LSH_EINVAL;
    }
    if ((r = put_text(out, o->host, LSH_SESS_HOST_MAX)) != 0 ||
        (r = lsh_buf_put_u32(out, o->port)) != 0 ||
        (r = put_text(out, o->orig_host, LSH_SESS_HOST_MAX)) != 0 ||
        (r = lsh_buf_put_u32(out, o->orig_port)) != 0) {
        return finish(out, before, r);
    }
    return 0;
}

int
lsh_chan_direct_tcpip_data(lsh_buf *out, const lsh_tcpip_open *o)
{
    return tcpip_open_data(out, o);
}

int
lsh_chan_forwarded_tcpip_data(lsh_buf *out, const lsh_tcpip_open *o)
{
    return tcpip_open_data(out, o);
}

int
lsh_chan_parse_tcpip_open(const uint8_t *p, size_t n, lsh_tcpip_open *o)
{
    lsh_rd rd;
    int r;
    lsh_rd_init(&rd, p, n);
    if ((r = rd_text_max(&rd, LSH_SESS_HOST_MAX, &o->host)) != 0 ||
        (r = rd_port(&rd, &o->port)) != 0 ||
        (r = rd_text_max(&rd, LSH_SESS_HOST_MAX, &o->orig_host)) != 0 ||
        (r = rd_port(&rd, &o->orig_port)) != 0) {
        return r;
    }
    return lsh_rd_end(&rd);
}

/* §6.3.2 "x11" open */

int
lsh_chan_x11_open_data(lsh_buf *out, lsh_span orig_host, uint32_t orig_port)
{
    size_t before = lsh_buf_len(out);
    int r;
    if (orig_port > 65535) {
        return LSH_EINVAL;
    }
    if ((r = put_text(out, orig_host, LSH_SESS_HOST_MAX)) != 0 ||
        (r = lsh_buf_put_u32(out, orig_port)) != 0) {
        return finish(out, before, r);
    }
    return 0;
}

int
lsh_chan_parse_x11_open(const uint8_t *p, size_t n, lsh_span *orig_host,
                        uint32_t *orig_port)
{
    lsh_rd rd;
    int r;
    lsh_rd_init(&rd, p, n);
    if ((r = rd_text_max(&rd, LSH_SESS_HOST_MAX, orig_host)) != 0 ||
        (r = rd_port(&rd, orig_port)) != 0) {
        return r;
    }
    return lsh_rd_end(&rd);
}

/* OpenSSH PROTOCOL §2.4: Unix-domain socket forwarding */

int
lsh_chan_direct_streamlocal_data(lsh_buf *out, lsh_span path)
{
    size_t before = lsh_buf_len(out);
    int r;
    if (path.n == 0) {
        return LSH_EINVAL;
    }
    if ((r = put_text(out, path, LSH_SESS_PATH_MAX)) != 0 ||
        (r = lsh_buf_put_cstring(out, "")) != 0 ||
        (r = lsh_buf_put_u32(out, 0)) != 0) {
        return finish(out, before, r);
    }
    return 0;
}

int
lsh_chan_parse_direct_streamlocal(const uint8_t *p, size_t n,
                                  lsh_span *path)
{
    lsh_rd rd;
    const uint8_t *res;
    size_t rl;
    uint32_t resv;
    int r;
    lsh_rd_init(&rd, p, n);
    if ((r = rd_text_max(&rd, LSH_SESS_PATH_MAX, path)) != 0 ||
        (r = lsh_rd_string_max(&rd, LSH_SESS_PATH_MAX, &res, &rl)) != 0 ||
        (r = lsh_rd_u32(&rd, &resv)) != 0 || (r = lsh_rd_end(&rd)) != 0) {
        return r;
    }
    return path->n > 0 ? 0 : LSH_EINVAL;
}

int
lsh_chan_forwarded_streamlocal_data(lsh_buf *out, lsh_span path)
{
    size_t before = lsh_buf_len(out);
    int r;
    if (path.n == 0) {
        return LSH_EINVAL;
    }
    if ((r = put_text(out, path, LSH_SESS_PATH_MAX)) != 0 ||
        (r = lsh_buf_put_cstring(out, "")) != 0) {
        return finish(out, before, r);
    }
    return 0;
}

int
lsh_chan_parse_forwarded_streamlocal(const uint8_t *p, size_t n,
                                     lsh_span *path)
{
    lsh_rd rd;
    const uint8_t *res;
    size_t rl;
    int r;
    lsh_rd_init(&rd, p, n);
    if ((r = rd_text_max(&rd, LSH_SESS_PATH_MAX, path)) != 0 ||
        (r = lsh_rd_string_max(&rd, LSH_SESS_PATH_MAX, &res, &rl)) != 0 ||
        (r = lsh_rd_end(&rd)) != 0) {
        return r;
    }
    return path->n > 0 ? 0 : LSH_EINVAL;
}

/* §7.1 "tcpip-forward" / "cancel-tcpip-forward" and the bound port */

int
lsh_chan_tcpip_forward_data(lsh_buf *out, lsh_span addr, uint32_t port)
{
    size_t before = lsh_buf_len(out);
    int r;
    if (port > 65535) {
        return LSH_EINVAL;
    }
    if ((r = put_text(out, addr, LSH_SESS_HOST_MAX)) != 0 ||
        (r = lsh_buf_put_u32(out, port)) != 0) {
        return finish(out, before, r);
    }
    return 0;
}

int
lsh_chan_parse_tcpip_forward(const uint8_t *p, size_t n, lsh_span *addr,
                             uint32_t *port)
{
    lsh_rd rd;
    int r;
    lsh_rd_init(&rd, p, n);
    if ((r = rd_text_max(&rd, LSH_SESS_HOST_MAX, addr)) != 0 ||
        (r = rd_port(&rd, port)) != 0) {
        return r;
    }
    return lsh_rd_end(&rd);
}

int
lsh_chan_forward_port_data(lsh_buf *out, uint32_t port)
{
    if (port == 0 || port > 65535) {
        return LSH_EINVAL;
    }
    return lsh_buf_put_u32(out, port);
}

int
lsh_chan_parse_forward_port(const uint8_t *p, size_t n, uint32_t *port)
{
    lsh_rd rd;
    int r;
    lsh_rd_init(&rd, p, n);
    if ((r = rd_port(&rd, port)) != 0 || (r = lsh_rd_end(&rd)) != 0) {
        return r;
    }
    return *port != 0 ? 0 : LSH_EINVAL;
}

/* PROTOCOL §2.4 "streamlocal-forward@openssh.com" and its cancel */

int
lsh_chan_streamlocal_forward_data(lsh_buf *out, lsh_span path)
{
    if (path.n == 0) {
        return LSH_EINVAL;
    }
    return put_text(out, path, LSH_SESS_PATH_MAX);
}

int
lsh_chan_parse_streamlocal_forward(const uint8_t *p, size_t n,
                                   lsh_span *path)
{
    int r = parse_one_text(p, n, LSH_SESS_PATH_MAX, path);
    if (r == 0 && path->n == 0) {
        return LSH_EINVAL;
    }
    return r;
}
