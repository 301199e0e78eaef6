/* bench_memory.c - resident memory per idle actor.
 *
 * A child process activates `actors` actors (state_size 0, eviction off) in
 * waves, so that transient call objects stay few, then reports the growth of
 * its resident set divided by the actor count. Measured in a child so each
 * size starts from a fresh heap. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dort/dort.h>

#include "bench.h"

#define WAVE 8192

static int idle_fetch(dort_actor_t *self, dort_call_t *call)
{
    (void)self;
    dort_response_t *res;
    int rc = dort_response_new(&res, 204);
    return rc != 0 ? rc : dort_call_respond(call, res);
}

static const dort_class_t idle_class = {.name = "Idle", .fetch = idle_fetch};

static uint32_t answered;

static int on_answer(dort_actor_t *self, void *data, int status, dort_response_t *res)
{
    (void)self, (void)data, (void)status;
    dort_response_free(res);
    answered++;
    return 0;
}

static long rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static void stopped(dort_rt_t *rt, void *data)
{
    (void)rt, (void)data;
}

static double measure(uint32_t n)
{
    dort_rt_options_t o;
    dort_rt_options_init(&o);
    o.durability = DORT_DURABILITY_MEMORY;
    o.idle_timeout_ms = -1;
    dort_rt_t *rt;
    dort_ns_t *ns;
    if (dort_rt_new(&rt, &o) != 0 || dort_rt_register_class(rt, &idle_class) != 0 ||
        dort_rt_bind_namespace(rt, "IDLE", "Idle", NULL, &ns) != 0 || dort_rt_start(rt) != 0)
        return -1;
    malloc_trim(0);
    long before = rss_bytes();
    for (uint32_t base = 0; base < n; base += WAVE) {
        uint32_t end = base + WAVE < n ? base + WAVE : n;
        answered = 0;
        for (uint32_t i = base; i < end; i++) {
            char name[32];
            snprintf(name, sizeof name, "idle-%u", i);
            dort_id_t id;
            dort_id_from_name(ns, name, strlen(name), &id);
            dort_stub_t stub;
            dort_stub_init(&stub, ns, &id);
            dort_request_t *req;
            dort_request_new2(&req, "GET", 3, "/", 1);
            dort_stub_fetch(&stub, NULL, req, on_answer, NULL);
        }
        while (answered < end - base)
            uv_run(dort_rt_loop(rt), UV_RUN_ONCE);
    }
    dort_rt_stats_t st;
    dort_rt_stats(rt, &st);
    malloc_trim(0);
    long after = rss_bytes();
    double per = st.actors_live == n ? (double)(after - before) / n : -1;
    dort_rt_stop(rt, stopped, NULL);
    dort_rt_run(rt);
    dort_rt_free(rt);
    return per;
}

int bench_idle_memory(const bench_params_t *p, bench_result_t *r)
{
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        double per = measure(p->actors);
        if (write(fds[1], &per, sizeof per) != (ssize_t)sizeof per)
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    double per = -1;
    ssize_t got = read(fds[0], &per, sizeof per);
    close(fds[0]);
    int st;
    waitpid(pid, &st, 0);
    if (got != (ssize_t)sizeof per || per < 0)
        return -1;
    r->value = per;
    return 0;
}
