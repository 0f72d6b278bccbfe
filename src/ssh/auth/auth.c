/*
 * The authentication layer (RFC 4252, RFC 4256): not written yet.  Until
 * it is, its messages go up unparsed as LSH_EV_MESSAGE events.
 */
#include "ssh/conn_internal.h"

int
lsh__auth_on_message(lsh_conn *c, const uint8_t *p, size_t n)
{
    c->current.ev = (lsh_event){.type = LSH_EV_MESSAGE, .data = p, .len = n};
    c->current.text[0] = '\0';
    return 1;
}

void
lsh__auth_free(lsh_conn *c)
{
    (void)c;
}
