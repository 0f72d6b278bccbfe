/*
 * IMPLEMENTATION NOTES
 *
 * A task is a full userdata ("luassh.Task") holding struct llsh_task, with
 * user value 1 = its Lua thread and user value 2 = its outcome (a packed
 * result table, or the error value).  The thread's extra space points back
 * at the task, which is how llsh_current() recognises a task: coroutines a
 * script makes itself copy the main thread's extra space, which is NULL.
 *
 * Lifetime: while a task is not finished it is anchored in the registry
 * (ref_self), so a task nobody holds still runs to completion.  Once
 * finished, it lives as long as Lua references it; its __gc reports an
 * error nobody retrieved.
 *
 * Resumption: wakers only put a task on the ready queue and arm the loop's
 * runner; run_ready() resumes queued tasks from the loop.  A task that was
 * interrupted (cancel, timeout, deadlock) carries the error value to raise
 * in interrupt_ref; the continuation raises it through llsh_resumed().
 * Cancellation and expired timeouts are sticky: every later wait in the
 * same scope raises again, so a task that swallows one still stops.
 *
 * Errors: when a task fails, its traceback is taken while its stack is
 * still intact, then lua_resetthread() closes its pending to-be-closed
 * variables.
 *
 * Memory (issue 6, RSS per idle connection): a finished task lets go of
 * its Lua thread (stack and call frames) and its sleep timer at once; only
 * the outcome stays.  After a burst (IDLE_TRIM_TASKS tasks finished) the
 * scheduler waits for the loop to go quiet (an IDLE_TRIM_MS period in
 * which at most IDLE_QUIET_TASKS more finish), then runs one full garbage
 * collection and malloc_trim(0), so that the pages the burst used go back
 * to the system instead of staying resident while the connections sit
 * idle.  That costs a few milliseconds per burst (a full collection, and
 * a walk of malloc's free lists), at most once per IDLE_TRIM_GAP_MS
 * whatever the load, and nothing while nothing happens.  The trim timer
 * does not keep the loop alive: a trim pending when everything else is
 * done is skipped.
 */
#include "lua_bindings/sched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <lauxlib.h>

#include "common/error.h"
#include "lua_bindings/l_error.h"
#include "uvio/loop.h"

#define TASK_MT "luassh.Task"
#define TASK_MAGIC 0x7a5c1f01u

/* Idle trim: see the notes above. */
#define IDLE_TRIM_TASKS 64
#define IDLE_QUIET_TASKS 8
#define IDLE_TRIM_MS 250
#define IDLE_TRIM_GAP_MS 2000

enum task_state { T_NEW, T_READY, T_RUNNING, T_WAITING, T_DONE };

typedef struct scope {
    struct scope *next;
    llsh_task *task;
    lsh_io_timer *timer;
    double seconds;
    int expired;
} scope;

struct llsh_task {
    unsigned magic;
    lua_State *co;
    int state;
    int nargs;           /* arguments waiting for the first resume */
    int failed;
    int cancel_requested;
    int cancelled;       /* finished because of a cancellation */
    int retrieved;       /* someone received the outcome */
    int ref_self;        /* registry anchor while unfinished */
    int interrupt_ref;   /* error value to raise at the next resume */
    long id;
    llsh_waiter *waiting_on;
    llsh_waiter own;     /* used by sleep and join waits */
    lsh_io_timer *timer; /* for sleep */
    llsh_waiter *joiners;
    scope *scopes;
    char *traceback;
    llsh_task *next_ready;
    llsh_task *prev_live, *next_live;
};

static struct {
    lua_State *L;       /* main state, for the registry */
    lua_State *scratch; /* a thread whose stack only the scheduler uses */
    llsh_task *ready_head, *ready_tail;
    llsh_task *live;
    long next_id;
    int opened;
    lsh_io_timer *trim_timer;  /* armed while a trim is pending */
    unsigned long finished;    /* tasks finished since the last trim */
    unsigned long finished_at_arm; /* 0: not armed */
    uint64_t last_trim_ms;
} S;

/* Idle trim */

static void
idle_trim(void *unused)
{
    uint64_t now = lsh_io_now_ms(), wait = 0;
    (void)unused;
    if (S.last_trim_ms != 0 && now - S.last_trim_ms < IDLE_TRIM_GAP_MS) {
        wait = IDLE_TRIM_GAP_MS - (now - S.last_trim_ms); /* too soon */
    } else if (S.finished - S.finished_at_arm > IDLE_QUIET_TASKS) {
        wait = IDLE_TRIM_MS; /* still busy: look again once calmer */
    }
    if (wait > 0) {
        S.finished_at_arm = S.finished;
        lsh_io_timer_start(S.trim_timer, wait, idle_trim, NULL);
        return;
    }
    S.finished = S.finished_at_arm = 0;
    S.last_trim_ms = now;
    if (lua_gc(S.L, LUA_GCISRUNNING)) { /* not if the script stopped it */
        lua_gc(S.L, LUA_GCCOLLECT);
    }
#ifdef __GLIBC__
    (void)malloc_trim(0);
#endif
}

static void
note_finished(void)
{
    if (++S.finished < IDLE_TRIM_TASKS || S.finished_at_arm != 0) {
        return;
    }
    if (S.trim_timer == NULL) {
        if ((S.trim_timer = lsh_io_timer_new()) == NULL) {
            return; /* no trim this time; nothing else depends on it */
        }
        /* A pending trim never holds the loop (or a script's end, or the
         * deadlock check) up: it runs only while other work goes on. */
        lsh_io_timer_unref(S.trim_timer);
    }
    S.finished_at_arm = S.finished;
    lsh_io_timer_start(S.trim_timer, IDLE_TRIM_MS, idle_trim, NULL);
}

/* Queue */

static void
enqueue(llsh_task *t)
{
    if (t->state == T_READY || t->state == T_DONE) {
        return;
    }
    if (t->state != T_NEW) {
        t->state = T_READY;
    }
    t->next_ready = NULL;
    if (S.ready_tail) {
        S.ready_tail->next_ready = t;
    } else {
        S.ready_head = t;
    }
    S.ready_tail = t;
    lsh_io_arm_runner(1);
}

llsh_task *
llsh_current(lua_State *L)
{
    llsh_task *t = *(llsh_task **)lua_getextraspace(L);
    if (t == NULL || t->magic != TASK_MAGIC || t->co != L) {
        return NULL;
    }
    return t;
}

int
llsh_task_done(llsh_task *t)
{
    return t->state == T_DONE;
}

const char *
llsh_task_traceback(llsh_task *t)
{
    return t->traceback;
}

/* Interrupts */

static void
set_interrupt(llsh_task *t, lua_State *L)
{
    /* [-1, +0] the value on top of L becomes the pending interrupt. */
    if (t->interrupt_ref != LUA_NOREF) {
        lua_pop(L, 1); /* the first interrupt wins */
        return;
    }
    t->interrupt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Detaches t from what it waits on and queues it to receive the interrupt. */
static void
deliver(llsh_task *t)
{
    llsh_waiter *w = t->waiting_on;
    if (w != NULL) {
        t->waiting_on = NULL;
        w->task = NULL;
        if (w->cancel != NULL) {
            w->cancel(w);
        }
        enqueue(t);
    }
}

static void
push_cancelled(lua_State *L)
{
    llsh_error_push(L, "Cancelled", 0, "the task was cancelled");
}

static void
push_timeout(lua_State *L, scope *sc)
{
    llsh_error_push(L, "Timeout", LSH_ETIMEOUT,
                    "timed out after %f seconds", sc->seconds);
    /* Trim "2.000000" to "2" for the message. */
    lua_getfield(L, -1, "reason");
    luaL_gsub(L, lua_tostring(L, -1), ".000000", "");
    lua_setfield(L, -3, "reason");
    lua_pop(L, 1);
    lua_pushnumber(L, sc->seconds);
    lua_setfield(L, -2, "seconds");
}

/* Raises the sticky interrupt state of t, if any, in L. */
static void
raise_pending(lua_State *L, llsh_task *t)
{
    if (t->interrupt_ref != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, t->interrupt_ref);
        luaL_unref(L, LUA_REGISTRYINDEX, t->interrupt_ref);
        t->interrupt_ref = LUA_NOREF;
        lua_error(L);
    }
    if (t->cancel_requested) {
        push_cancelled(L);
        lua_error(L);
    }
    for (scope *sc = t->scopes; sc != NULL; sc = sc->next) {
        if (sc->expired) {
            push_timeout(L, sc);
            lua_error(L);
        }
    }
}

void
llsh_resumed(lua_State *L)
{
    llsh_task *t = llsh_current(L);
    if (t != NULL && t->interrupt_ref != LUA_NOREF) {
        raise_pending(L, t);
    }
}

int
llsh_require_task(lua_State *L)
{
    return luaL_error(L, "this luassh call waits, so it must run inside a "
                         "luassh task (the main chunk, ssh.spawn or "
                         "ssh.run), not in a coroutine of your own");
}

void
llsh_wait(lua_State *L, llsh_waiter *w)
{
    llsh_task *t = llsh_current(L);
    if (t == NULL) {
        llsh_require_task(L);
        return;
    }
    if (!lua_isyieldable(L)) {
        luaL_error(L, "this luassh call waits, but Lua cannot yield here "
                      "(inside a metamethod, require, __gc, or a C function "
                      "such as table.sort or string.gsub); move the call "
                      "into ssh.spawn(...)");
        return;
    }
    if (t->waiting_on != NULL) {
        luaL_error(L, "task is already waiting");
        return;
    }
    raise_pending(L, t);
    w->task = t;
    w->status = 0;
    t->waiting_on = w;
    t->state = T_WAITING;
}

void
llsh_wake(llsh_waiter *w, int status)
{
    llsh_task *t = w->task;
    if (t == NULL) {
        return;
    }
    w->task = NULL;
    w->status = status;
    t->waiting_on = NULL;
    enqueue(t);
}

/* Wait queues */

static void
waitq_cancel(llsh_waiter *w)
{
    llsh_waitq *q = w->data;
    for (llsh_waiter **pp = &q->head; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    w->next = NULL;
    w->data = NULL;
}

void
llsh_waitq_wait(lua_State *L, llsh_waitq *q)
{
    llsh_waiter *w = lua_newuserdatauv(L, sizeof(*w), 0);
    memset(w, 0, sizeof(*w));
    w->cancel = waitq_cancel;
    w->data = q;
    llsh_wait(L, w); /* may raise: link only once it did not */
    w->next = q->head;
    q->head = w;
}

void
llsh_waitq_wake_all(llsh_waitq *q, int status)
{
    llsh_waiter *w;
    while ((w = q->head) != NULL) {
        q->head = w->next;
        w->next = NULL;
        w->data = NULL;
        llsh_wake(w, status);
    }
}

/* Finishing */

static void
push_task(lua_State *L, llsh_task *t)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->ref_self);
}

static void
unlink_live(llsh_task *t)
{
    if (t->prev_live) {
        t->prev_live->next_live = t->next_live;
    } else if (S.live == t) {
        S.live = t->next_live;
    }
    if (t->next_live) {
        t->next_live->prev_live = t->prev_live;
    }
    t->prev_live = t->next_live = NULL;
}

/* [-1, +0] Stores the outcome on top of S.scratch and finishes the task. */
static void
finish(llsh_task *t, int failed)
{
    lua_State *L = S.scratch;
    llsh_waiter *j;

    push_task(L, t);
    lua_insert(L, -2);
    lua_setiuservalue(L, -2, 2);
    /* The thread has run its course: drop it (user value 1) so that its
     * stack goes with the next collection, even while the task object
     * itself is kept for its outcome. */
    *(llsh_task **)lua_getextraspace(t->co) = NULL;
    t->co = NULL;
    lua_pushnil(L);
    lua_setiuservalue(L, -2, 1);
    lua_pop(L, 1);
    lsh_io_timer_close(t->timer);
    t->timer = NULL;
    t->failed = failed;
    t->state = T_DONE;
    t->waiting_on = NULL;
    if (t->interrupt_ref != LUA_NOREF) {
        luaL_unref(L, LUA_REGISTRYINDEX, t->interrupt_ref);
        t->interrupt_ref = LUA_NOREF;
    }
    while ((j = t->joiners) != NULL) {
        t->joiners = j->next;
        j->next = NULL;
        llsh_wake(j, 0);
    }
    unlink_live(t);
    luaL_unref(L, LUA_REGISTRYINDEX, t->ref_self);
    t->ref_self = LUA_NOREF;
    note_finished();
}

static void
finish_error(llsh_task *t)
{
    lua_State *co = t->co, *L = S.scratch;
    int st;

    t->cancelled = llsh_error_is(co, -1, "Cancelled") && t->cancel_requested;
    /* Take the traceback while the failed thread's frames still exist;
     * __tostring runs on the scratch thread, never on the dead one. */
    lua_pushvalue(co, -1);
    lua_xmove(co, L, 1);
    luaL_traceback(L, co, luaL_tolstring(L, -1, NULL), 0);
    free(t->traceback);
    t->traceback = strdup(lua_tostring(L, -1));
    lua_pop(L, 3);
    lua_xmove(co, L, 1);
    /* Close pending to-be-closed variables; a failing __close replaces
     * the error, as it would in plain Lua. */
    st = lua_resetthread(co);
    if (st != LUA_OK && lua_gettop(co) > 0) {
        lua_pop(L, 1);
        lua_xmove(co, L, 1);
    }
    lua_settop(co, 0);
    finish(t, 1);
}

static void
finish_ok(llsh_task *t, int nres)
{
    lua_State *co = t->co, *L = S.scratch;
    luaL_checkstack(L, nres + 2, "too many results");
    lua_createtable(L, nres, 1);
    lua_xmove(co, L, nres);
    for (int i = nres; i >= 1; i--) {
        lua_rawseti(L, -(i + 1), i);
    }
    lua_pushinteger(L, nres);
    lua_setfield(L, -2, "n");
    lua_settop(co, 0);
    finish(t, 0);
}

static void
resume(llsh_task *t)
{
    int nres = 0, st, nargs;

    if (t->state == T_DONE) {
        return;
    }
    if (t->state == T_NEW && t->cancel_requested) {
        t->cancelled = 1;
        lua_settop(t->co, 0);
        push_cancelled(S.scratch);
        finish(t, 1);
        return;
    }
    nargs = t->state == T_NEW ? t->nargs : 0;
    t->state = T_RUNNING;
    st = lua_resume(t->co, S.scratch, nargs, &nres);
    if (st == LUA_YIELD) {
        lua_pop(t->co, nres);
        if (t->waiting_on == NULL && t->state == T_RUNNING) {
            /* A plain coroutine.yield() in a task: let others run. */
            t->state = T_WAITING;
            enqueue(t);
        }
        return;
    }
    if (st == LUA_OK) {
        finish_ok(t, nres);
    } else {
        finish_error(t);
    }
}

static void
run_ready(void *unused)
{
    (void)unused;
    llsh_task *list = S.ready_head;
    S.ready_head = S.ready_tail = NULL;
    while (list != NULL) {
        llsh_task *t = list;
        list = t->next_ready;
        t->next_ready = NULL;
        resume(t);
    }
    lsh_io_arm_runner(S.ready_head != NULL);
}

/* Spawning */

llsh_task *
llsh_spawn(lua_State *L, int idx, int nargs)
{
    llsh_task *t;
    lua_State *co;

    idx = lua_absindex(L, idx);
    co = lua_newthread(L);
    lua_pushvalue(L, idx);
    lua_xmove(L, co, 1);
    lua_rotate(L, -(nargs + 1), 1); /* thread below the arguments */
    lua_xmove(L, co, nargs);
    t = lua_newuserdatauv(L, sizeof(*t), 2);
    memset(t, 0, sizeof(*t));
    t->magic = TASK_MAGIC;
    t->ref_self = LUA_NOREF;
    t->interrupt_ref = LUA_NOREF;
    luaL_setmetatable(L, TASK_MT);
    lua_rotate(L, -2, 1);
    lua_setiuservalue(L, -2, 1); /* uv1 = thread */
    t->co = co;
    t->nargs = nargs;
    t->id = ++S.next_id;
    t->state = T_NEW;
    *(llsh_task **)lua_getextraspace(co) = t;
    lua_pushvalue(L, -1);
    t->ref_self = luaL_ref(L, LUA_REGISTRYINDEX);
    t->next_live = S.live;
    if (S.live) {
        S.live->prev_live = t;
    }
    S.live = t;
    enqueue(t);
    return t;
}

int
llsh_task_push_outcome(lua_State *L, llsh_task *t)
{
    int n;
    /* The task userdata must be reachable: fetch user value 2 via L. */
    lua_getiuservalue(L, -1, 2);
    if (t->failed) {
        return -1;
    }
    lua_getfield(L, -1, "n");
    n = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
    luaL_checkstack(L, n, "too many results");
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, -i, i);
    }
    lua_remove(L, -(n + 1));
    return n;
}

/* The loop */

int
llsh_loop_step(void)
{
    run_ready(NULL);
    if (S.ready_head != NULL) {
        lsh_io_run_once(1);
        return 1;
    }
    return lsh_io_run_once(0) || S.ready_head != NULL;
}

int
llsh_run_until(lua_State *L, llsh_task *t)
{
    (void)L;
    while (t->state != T_DONE) {
        /* Tasks made ready by the last step run first: if the main task
         * finishes there, do not block in the loop for handles (a
         * subprocess's pipes, an open socket) that may never fire. */
        run_ready(NULL);
        if (t->state == T_DONE) {
            break;
        }
        if (!llsh_loop_step() && t->state != T_DONE && S.ready_head == NULL) {
            /* Nothing can ever wake the task. */
            llsh_error_push(S.scratch, "Deadlock", 0,
                            "every task is waiting and nothing can wake "
                            "them (deadlock)");
            set_interrupt(t, S.scratch);
            deliver(t);
            if (S.ready_head == NULL) {
                break;
            }
        }
    }
    return t->failed;
}

void
llsh_sched_cancel_all(lua_State *L, llsh_task *except)
{
    (void)L;
    for (int pass = 0; pass < 1000 && S.live != NULL; pass++) {
        int any = 0;
        for (llsh_task *t = S.live; t != NULL; t = t->next_live) {
            if (t == except) {
                continue;
            }
            any = 1;
            if (!t->cancel_requested) {
                t->cancel_requested = 1;
                push_cancelled(S.scratch);
                set_interrupt(t, S.scratch);
                deliver(t);
            } else if (t->state == T_WAITING && t->waiting_on != NULL) {
                deliver(t);
            }
        }
        if (!any) {
            break;
        }
        llsh_loop_step();
    }
}

void
llsh_sched_close(lua_State *L)
{
    (void)L;
    lsh_io_timer_close(S.trim_timer);
    S.trim_timer = NULL;
    lsh_io_shutdown();
}

/* Lua API: ssh.spawn, ssh.sleep, ssh.timeout, ssh.now, task methods */

static llsh_task *
check_task(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, TASK_MT);
}

static int
l_spawn(lua_State *L)
{
    int top = lua_gettop(L);
    if (lua_type(L, 1) != LUA_TFUNCTION) {
        if (!luaL_getmetafield(L, 1, "__call")) {
            return luaL_typeerror(L, 1, "function");
        }
        lua_pop(L, 1);
    }
    llsh_spawn(L, 1, top - 1);
    return 1;
}

static int
l_is_task(lua_State *L)
{
    lua_pushboolean(L, luaL_testudata(L, 1, TASK_MT) != NULL);
    return 1;
}

static int
l_current(lua_State *L)
{
    llsh_task *t = llsh_current(L);
    if (t == NULL) {
        lua_pushnil(L);
    } else {
        push_task(L, t);
    }
    return 1;
}

static void
sleep_cancel(llsh_waiter *w)
{
    llsh_task *t = w->data;
    if (t->timer != NULL) { /* none for a sleep without end */
        lsh_io_timer_stop(t->timer);
    }
}

static void
sleep_fire(void *data)
{
    llsh_task *t = data;
    llsh_wake(&t->own, 0);
}

static int
sleep_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    (void)ctx;
    llsh_resumed(L);
    return 0;
}

static int
l_sleep(lua_State *L)
{
    double secs = luaL_optnumber(L, 1, 0);
    llsh_task *t = llsh_current(L);
    if (t == NULL) {
        return llsh_require_task(L);
    }
    if (!(secs >= 0)) {
        return luaL_argerror(L, 1, "must be a non-negative number");
    }
    t->own.cancel = sleep_cancel;
    t->own.data = t;
    llsh_wait(L, &t->own);
    if (secs <= 0) {
        llsh_wake(&t->own, 0); /* just let the others run */
    } else if (secs > 1e15) {
        /* math.huge and the like: forever (until cancelled); no timer,
         * since the conversion below is undefined for them. */
    } else {
        if (t->timer == NULL && (t->timer = lsh_io_timer_new()) == NULL) {
            t->waiting_on = NULL;
            t->own.task = NULL;
            t->state = T_RUNNING;
            return luaL_error(L, "out of memory");
        }
        lsh_io_timer_start(t->timer, (uint64_t)(secs * 1000.0 + 0.5),
                           sleep_fire, t);
    }
    return lua_yieldk(L, 0, 0, sleep_k);
}

static int
l_now(lua_State *L)
{
    lua_pushnumber(L, lsh_io_now());
    return 1;
}

static void
scope_fire(void *data)
{
    scope *sc = data;
    llsh_task *t = sc->task;
    sc->expired = 1;
    push_timeout(S.scratch, sc);
    set_interrupt(t, S.scratch);
    deliver(t);
}

static int
timeout_k(lua_State *L, int status, lua_KContext ctx)
{
    scope *sc = (scope *)ctx;
    llsh_task *t = sc->task;
    int expired = sc->expired;

    t->scopes = sc->next;
    lsh_io_timer_close(sc->timer);
    if (expired) {
        push_timeout(L, sc);
        free(sc);
        /* A pending interrupt for this scope is now moot. */
        if (t->interrupt_ref != LUA_NOREF) {
            luaL_unref(L, LUA_REGISTRYINDEX, t->interrupt_ref);
            t->interrupt_ref = LUA_NOREF;
        }
        return lua_error(L);
    }
    free(sc);
    if (status != LUA_OK && status != LUA_YIELD) {
        return lua_error(L);
    }
    return lua_gettop(L) - 1;
}

static int
l_timeout(lua_State *L)
{
    double secs = luaL_checknumber(L, 1);
    llsh_task *t = llsh_current(L);
    scope *sc;

    luaL_checkany(L, 2);
    if (t == NULL) {
        return llsh_require_task(L);
    }
    if (!(secs >= 0)) {
        return luaL_argerror(L, 1, "must be a non-negative number");
    }
    sc = calloc(1, sizeof(*sc));
    if (sc == NULL || (sc->timer = lsh_io_timer_new()) == NULL) {
        free(sc);
        return luaL_error(L, "out of memory");
    }
    sc->task = t;
    sc->seconds = secs;
    sc->next = t->scopes;
    t->scopes = sc;
    lsh_io_timer_start(sc->timer, (uint64_t)(secs * 1000.0 + 0.5),
                       scope_fire, sc);
    return timeout_k(L, lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0,
                                   (lua_KContext)sc, timeout_k),
                     (lua_KContext)sc);
}

static void
join_cancel(llsh_waiter *w)
{
    llsh_task *target = w->data;
    for (llsh_waiter **pp = &target->joiners; *pp; pp = &(*pp)->next) {
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    }
    w->next = NULL;
}

static int
task_wait_k(lua_State *L, int status, lua_KContext ctx)
{
    (void)ctx;
    llsh_task *t = check_task(L, 1), *self;
    int n;

    if (status == LUA_YIELD) {
        llsh_resumed(L);
    }
    lua_settop(L, 1);
    if (t->state == T_DONE) {
        t->retrieved = 1;
        n = llsh_task_push_outcome(L, t);
        if (n < 0) {
            return lua_error(L);
        }
        return n;
    }
    self = llsh_current(L);
    if (self == NULL) {
        return llsh_require_task(L);
    }
    if (self == t) {
        return luaL_error(L, "a task cannot wait for itself");
    }
    self->own.cancel = join_cancel;
    self->own.data = t;
    llsh_wait(L, &self->own);
    self->own.next = t->joiners;
    t->joiners = &self->own;
    return lua_yieldk(L, 0, 0, task_wait_k);
}

static int
task_wait(lua_State *L)
{
    check_task(L, 1);
    return task_wait_k(L, LUA_OK, 0);
}

/* task:cancel() -> true if the task will stop, false if already finished. */
static int
task_cancel(lua_State *L)
{
    llsh_task *t = check_task(L, 1);
    if (t->state == T_DONE || t->cancel_requested) {
        lua_pushboolean(L, t->state != T_DONE);
        return 1;
    }
    t->cancel_requested = 1;
    push_cancelled(L);
    set_interrupt(t, L);
    deliver(t);
    lua_pushboolean(L, 1);
    return 1;
}

static int
task_done(lua_State *L)
{
    lua_pushboolean(L, check_task(L, 1)->state == T_DONE);
    return 1;
}

static int
task_cancelled(lua_State *L)
{
    lua_pushboolean(L, check_task(L, 1)->cancelled);
    return 1;
}

/* task:result() -> ok, results... | false, err (without waiting) */
static int
task_result(lua_State *L)
{
    llsh_task *t = check_task(L, 1);
    int n;
    lua_settop(L, 1);
    if (t->state != T_DONE) {
        return luaL_error(L, "task %d has not finished", (int)t->id);
    }
    t->retrieved = 1;
    n = llsh_task_push_outcome(L, t);
    lua_pushboolean(L, n >= 0);
    lua_insert(L, 2);
    return n < 0 ? 2 : n + 1;
}

static const char *const state_names[] = {"new", "ready", "running",
                                          "waiting", "done"};

static int
task_tostring(lua_State *L)
{
    llsh_task *t = check_task(L, 1);
    const char *st = state_names[t->state];
    if (t->state == T_DONE) {
        st = t->cancelled ? "cancelled" : t->failed ? "failed" : "done";
    }
    lua_pushfstring(L, "luassh.Task %d (%s)", (int)t->id, st);
    return 1;
}

static int
task_index(lua_State *L)
{
    llsh_task *t = check_task(L, 1);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "id") == 0) {
        lua_pushinteger(L, t->id);
        return 1;
    }
    luaL_getmetatable(L, TASK_MT);
    lua_getfield(L, -1, "methods");
    lua_getfield(L, -1, k);
    return 1;
}

static int
task_gc(lua_State *L)
{
    llsh_task *t = check_task(L, 1);
    if (t->magic != TASK_MAGIC) {
        return 0;
    }
    if (t->state == T_DONE && t->failed && !t->retrieved && !t->cancelled &&
        t->traceback != NULL) {
        fprintf(stderr, "luassh: error in task %ld, which nobody waited "
                        "for:\n%s\n", t->id, t->traceback);
        fflush(stderr);
    }
    free(t->traceback);
    t->traceback = NULL;
    lsh_io_timer_close(t->timer);
    t->timer = NULL;
    while (t->scopes != NULL) {
        scope *sc = t->scopes;
        t->scopes = sc->next;
        lsh_io_timer_close(sc->timer);
        free(sc);
    }
    t->magic = 0;
    return 0;
}

static const luaL_Reg task_methods[] = {
    {"wait", task_wait},     {"cancel", task_cancel},
    {"done", task_done},     {"cancelled", task_cancelled},
    {"result", task_result}, {NULL, NULL}};

static const luaL_Reg sched_funcs[] = {
    {"spawn", l_spawn}, {"sleep", l_sleep},   {"timeout", l_timeout},
    {"now", l_now},     {"current_task", l_current},
    {"is_task", l_is_task},   {NULL, NULL}};

void
llsh_sched_open(lua_State *L)
{
    if (!S.opened) {
        lua_State *main;
        lsh_io_init();
        lsh_io_set_runner(run_ready, NULL);
        lua_rawgeti(L, LUA_REGISTRYINDEX, LUA_RIDX_MAINTHREAD);
        main = lua_tothread(L, -1);
        lua_pop(L, 1);
        /* New threads copy the main thread's extra space: clear it so
         * that coroutines a script creates are not taken for tasks. */
        *(llsh_task **)lua_getextraspace(main) = NULL;
        S.L = main;
        S.scratch = lua_newthread(L);
        luaL_ref(L, LUA_REGISTRYINDEX);
        S.opened = 1;
    }
    if (luaL_newmetatable(L, TASK_MT)) {
        luaL_newlib(L, task_methods);
        lua_setfield(L, -2, "methods");
        lua_pushcfunction(L, task_index);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, task_tostring);
        lua_setfield(L, -2, "__tostring");
        lua_pushcfunction(L, task_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, sched_funcs, 0);
}
