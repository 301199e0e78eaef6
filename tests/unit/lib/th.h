/* th.h - helpers for dort's unit tests: runtimes on private temp dirs, a
 * loop that runs until a condition holds (with a deadline), synchronous
 * requests for test code that lives outside any actor. */
#ifndef DORT_TEST_HELPERS_H
#define DORT_TEST_HELPERS_H

#include <dort/dort.h>

/* A fresh directory under $TMPDIR (or /tmp), created; caller frees with
 * th_rmdir (removes the LMDB files inside) and free(). */
char *th_mkdtemp(void);
void th_rmdir(char *dir);

/* Options for tests: memory durability unless a dir is given, quiet logs
 * (DORT_TEST_LOG=1 turns them on). */
void th_options(dort_rt_options_t *o, const char *dir);

/* Creates and starts a runtime with `classes` (NULL-terminated) each bound
 * to a namespace of the same name as the class. */
dort_rt_t *th_start(const dort_rt_options_t *o, const dort_class_t *const *classes);

/* Stops (graceful) and frees the runtime, running its loop until done. */
void th_stop(dort_rt_t *rt);

/* Runs the loop until cond(data) is true or timeout_ms passes. Returns 1 if
 * the condition became true. */
int th_run_until(dort_rt_t *rt, int (*cond)(void *data), void *data, int timeout_ms);

/* Runs the loop for about `ms` milliseconds. */
void th_run_for(dort_rt_t *rt, int ms);

/* The result of a request made from outside any actor. */
typedef struct th_result_s {
    int done;
    int status;          /* 0 or DORT_E* */
    int http_status;     /* response status when status == 0 */
    char body[4096];
    size_t body_len;
    uint64_t order;      /* completion order (global counter) */
    uv_loop_t *loop;     /* stopped when the answer lands, so th_run_until sees it */
} th_result_t;

/* Sends (method, path, body) to actor `name` of namespace `binding`; the
 * result lands in *r when the loop runs. Returns dort_stub_fetch's code. */
int th_send(dort_rt_t *rt, const char *binding, const char *name, const char *method,
            const char *path, const char *body, th_result_t *r);

/* Sends and runs the loop until the answer arrives (timeout 10 s). Returns
 * r->status, or DORT_ETIMEDOUT. */
int th_fetch(dort_rt_t *rt, const char *binding, const char *name, const char *method,
             const char *path, const char *body, th_result_t *r);

/* Path helpers for actor handlers in tests. */
int th_path_is(const dort_call_t *call, const char *path);
/* Copies the request body into buf (NUL-terminated); returns its length. */
size_t th_body(const dort_call_t *call, char *buf, size_t cap);

#endif
