#include "uvio/work.h"

#include <stdlib.h>

#include <uv.h>

#include "common/error.h"
#include "uvio/internal.h"

/*
 * A uv_work_t is a request, not a handle: uv_walk never sees it and it
 * needs no uv_close, so the lsh_io_base convention of internal.h does not
 * apply.  The request is freed right after the done callback.
 */
struct lsh_io_job {
    uv_work_t req;
    void (*work)(void *data);
    void (*done)(void *data, int cancelled);
    void *data;
};

/* Jobs accepted whose done callback has not run (loop thread only). */
static unsigned long jobs_in_flight;

static void
on_work(uv_work_t *req)
{
    lsh_io_job *j = req->data;
    j->work(j->data);
}

static void
on_after_work(uv_work_t *req, int status)
{
    lsh_io_job *j = req->data;
    jobs_in_flight--;
    j->done(j->data, status == UV_ECANCELED);
    free(j);
}

int
lsh_io_work(void (*work)(void *data), void (*done)(void *data, int cancelled),
            void *data, lsh_io_job **out)
{
    uv_loop_t *loop = lsh__io_loop();
    lsh_io_job *j;
    int r;

    if (loop == NULL || work == NULL || done == NULL) {
        return LSH_EINVAL;
    }
    if ((j = calloc(1, sizeof(*j))) == NULL) {
        return LSH_ENOMEM;
    }
    j->req.data = j;
    j->work = work;
    j->done = done;
    j->data = data;
    if ((r = uv_queue_work(loop, &j->req, on_work, on_after_work)) != 0) {
        free(j);
        return r == UV_ENOMEM ? LSH_ENOMEM : LSH_EINVAL;
    }
    jobs_in_flight++;
    if (out != NULL) {
        *out = j;
    }
    return 0;
}

unsigned long
lsh_io_work_in_flight(void)
{
    return jobs_in_flight;
}

int
lsh_io_work_cancel(lsh_io_job *job)
{
    return uv_cancel((uv_req_t *)&job->req) == 0 ? 0 : LSH_EAGAIN;
}
