/* bench_util.c - timing and percentiles for the benchmarks. */
#include <stdlib.h>
#include <time.h>

#include "bench.h"

double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int bench_percentiles(double *v, size_t n, double *p50, double *p99)
{
    if (n == 0)
        return -1;
    qsort(v, n, sizeof *v, cmp_double);
    *p50 = v[n / 2];
    *p99 = v[(size_t)((double)(n - 1) * 0.99)];
    return 0;
}
