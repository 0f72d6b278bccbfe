/*
 * Shared by the files of src/uvio only.
 *
 * Every libuv handle this layer creates has h->data pointing at a struct
 * that starts with lsh_io_base, whose close_cb knows how to release the
 * owner; lsh_io_shutdown uses it to close whatever is left at exit.
 */
#ifndef LSH_UVIO_INTERNAL_H
#define LSH_UVIO_INTERNAL_H

#include <uv.h>

typedef struct lsh_io_base {
    uv_close_cb close_cb;
} lsh_io_base;

uv_loop_t *lsh__io_loop(void);

/* Maps a libuv error to an LSH_E* code. */
int lsh__io_err(int uverr);

#endif
