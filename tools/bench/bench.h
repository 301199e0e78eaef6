/* bench.h - dort's in-process benchmarks (run by `dort bench`). Each
 * benchmark runs one measurement and returns its figures; the driver repeats
 * it and prints medians. They use only the public API, as an embedding
 * program would. */
#ifndef DORT_BENCH_H
#define DORT_BENCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct bench_params_s {
    const char *dir;        /* a scratch directory on the disk under test */
    double seconds;         /* how long a timed run lasts */
    uint32_t actors;        /* actor count where it applies */
    uint32_t pairs;         /* concurrent ping-pong pairs */
    uint32_t batch_max;     /* commit_batch_max (0 = group commit) */
    int durability;         /* dort_durability_t */
} bench_params_t;

typedef struct bench_result_s {
    double value;           /* the headline figure */
    double p50_us, p99_us;  /* latencies where measured, else 0 */
    double extra;           /* benchmark-specific (e.g. writes per commit) */
} bench_result_t;

/* Round trips per second between actors, no storage. */
int bench_rtt(const bench_params_t *p, bench_result_t *r);
/* Acknowledged durable writes per second, `actors` actors each writing in a
 * loop; latency from send to acknowledged answer. */
int bench_writes(const bench_params_t *p, bench_result_t *r);
/* Bytes of resident memory per idle actor (run in a child process). */
int bench_idle_memory(const bench_params_t *p, bench_result_t *r);
/* Activation of evicted actors: amortised cost per activation (value, µs)
 * and the latency of a single activation (p50/p99, µs). */
int bench_activation(const bench_params_t *p, bench_result_t *r);

/* Durable queue: messages acked per second, batches of 100. */
int bench_queue_throughput(const bench_params_t *p, bench_result_t *r);
/* Durable queue: send -> handler latency at `actors` messages per second. */
int bench_queue_latency(const bench_params_t *p, bench_result_t *r);

/* Shared plumbing. */
double bench_now(void);  /* monotonic seconds */
int bench_percentiles(double *v, size_t n, double *p50, double *p99);

#endif
