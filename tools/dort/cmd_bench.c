/* cmd_bench.c - `dort bench`: runs each benchmark several times and prints
 * the median (and the spread) of every figure. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <dort/dort.h>

#include "../bench/bench.h"
#include "cli.h"

void cmd_bench_usage(void)
{
    printf("usage: dort bench [--only NAME]... [--runs N] [--seconds S] [--dir DIR] [--quick]\n"
           "\n"
           "  NAME      rtt | writes | memory | activation | queue (default: all)\n"
           "  --runs    repetitions per figure; the median is printed (default 5)\n"
           "  --seconds length of one timed run (default 2)\n"
           "  --dir     scratch directory on the disk to measure (default $TMPDIR or /tmp)\n"
           "  --quick   smaller sizes, for a smoke run\n");
}

typedef struct row_s {
    const char *label;
    int (*fn)(const bench_params_t *, bench_result_t *);
    bench_params_t p;
    const char *unit;
    int scale; /* 1: print value as is, 1000: in thousands */
} row_t;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

static void run_row(const row_t *row, int runs)
{
    double v[64], p50[64], p99[64], ex[64];
    int ok = 0;
    for (int i = 0; i < runs && i < 64; i++) {
        bench_result_t r = {0};
        if (row->fn(&row->p, &r) != 0) {
            fprintf(stderr, "  %s: run %d failed\n", row->label, i + 1);
            continue;
        }
        v[ok] = r.value;
        p50[ok] = r.p50_us;
        p99[ok] = r.p99_us;
        ex[ok] = r.extra;
        ok++;
    }
    if (ok == 0) {
        printf("%-52s %14s\n", row->label, "failed");
        return;
    }
    double lo = v[0], hi = v[0];
    for (int i = 1; i < ok; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    double m = median(v, ok), m50 = median(p50, ok), m99 = median(p99, ok), mex = median(ex, ok);
    printf("%-52s %14.1f %-14s [%.1f .. %.1f]", row->label, m, row->unit, lo, hi);
    if (m99 > 0)
        printf("  p50 %.0f us, p99 %.0f us", m50, m99);
    if (mex > 0 && row->fn == bench_writes)
        printf("  %.0f writes/commit", mex);
    printf("  (%d runs)\n", ok);
    fflush(stdout);
}

static int selected(char **only, int nonly, const char *name)
{
    if (nonly == 0)
        return 1;
    for (int i = 0; i < nonly; i++)
        if (strcmp(only[i], name) == 0)
            return 1;
    return 0;
}

static void print_machine(void)
{
    struct utsname u;
    uname(&u);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    long mem = (long)((double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE) / 1048576.0);
    char model[256] = "unknown cpu";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f != NULL) {
        char line[512];
        while (fgets(line, sizeof line, f) != NULL) {
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');
                if (c != NULL) {
                    snprintf(model, sizeof model, "%s", c + 2);
                    model[strcspn(model, "\n")] = '\0';
                }
                break;
            }
        }
        fclose(f);
    }
    printf("dort %s bench on %s %s, %ld cpus (%s), %ld MiB\n", dort_version_string(), u.sysname,
           u.release, cpus, model, mem);
}

int cmd_bench(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"only", required_argument, NULL, 'o'}, {"runs", required_argument, NULL, 'r'},
        {"seconds", required_argument, NULL, 's'}, {"dir", required_argument, NULL, 'd'},
        {"quick", no_argument, NULL, 'q'}, {NULL, 0, NULL, 0}};
    char *only[8];
    int nonly = 0, runs = 5, quick = 0, c;
    double seconds = 2;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    while ((c = getopt_long(argc, argv, "o:r:s:d:q", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            if (nonly < 8)
                only[nonly++] = optarg;
            break;
        case 'r':
            runs = atoi(optarg);
            break;
        case 's':
            seconds = atof(optarg);
            break;
        case 'd':
            dir = optarg;
            break;
        case 'q':
            quick = 1;
            break;
        default:
            cmd_bench_usage();
            return 2;
        }
    }
    if (runs < 1 || runs > 64 || seconds <= 0) {
        fprintf(stderr, "dort bench: --runs must be 1..64 and --seconds positive\n");
        return 2;
    }
    char scratch[4096];
    snprintf(scratch, sizeof scratch, "%s/dort-bench-XXXXXX", dir);
    if (mkdtemp(scratch) == NULL) {
        perror("dort bench: scratch directory");
        return 1;
    }
    uint32_t writers = quick ? 1000 : 10000;
    uint32_t small = quick ? 10000 : 100000, large = quick ? 100000 : 1000000;
    const row_t rows[] = {
        {"rtt: round trips/s, 1 pair", bench_rtt, {.seconds = seconds, .pairs = 1}, "/s", 1},
        {"rtt: round trips/s, 64 pairs", bench_rtt, {.seconds = seconds, .pairs = 64}, "/s", 1},
        {"writes: full, group commit, acked/s", bench_writes,
         {scratch, seconds, writers, 0, 0, DORT_DURABILITY_FULL}, "/s", 1},
        {"writes: full, one commit per write, acked/s", bench_writes,
         {scratch, seconds, writers, 0, 1, DORT_DURABILITY_FULL}, "/s", 1},
        {"writes: relaxed, group commit, acked/s", bench_writes,
         {scratch, seconds, writers, 0, 0, DORT_DURABILITY_RELAXED}, "/s", 1},
        {"writes: full, group commit, 100 actors, acked/s", bench_writes,
         {scratch, seconds, 100, 0, 0, DORT_DURABILITY_FULL}, "/s", 1},
        {"memory: bytes per idle actor, 100k", bench_idle_memory, {.actors = small}, "B", 1},
        {"memory: bytes per idle actor, 1M", bench_idle_memory, {.actors = large}, "B", 1},
        {"activation: us per evicted actor (amortised)", bench_activation, {.actors = small},
         "us", 1},
        {"queue: full, batches of 100, acked msgs/s", bench_queue_throughput,
         {.dir = scratch, .seconds = seconds, .durability = DORT_DURABILITY_FULL}, "/s", 1},
        {"queue: relaxed, batches of 100, acked msgs/s", bench_queue_throughput,
         {.dir = scratch, .seconds = seconds, .durability = DORT_DURABILITY_RELAXED}, "/s", 1},
        {"queue: full, 10k msgs/s steady, send->handler", bench_queue_latency,
         {.dir = scratch, .seconds = seconds, .actors = 10000,
          .durability = DORT_DURABILITY_FULL}, "/s", 1},
    };
    static const char *const keys[] = {"rtt",    "rtt",    "writes",     "writes",
                                       "writes", "writes", "memory",     "memory",
                                       "activation", "queue", "queue", "queue"};
    print_machine();
    printf("%-52s %14s %-14s %s\n", "benchmark", "median", "unit", "[min .. max]");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (selected(only, nonly, keys[i]))
            run_row(&rows[i], rows[i].fn == bench_writes && runs > 3 ? 3 : runs);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    if (system(cmd) != 0)
        fprintf(stderr, "dort bench: could not remove %s\n", scratch);
    return 0;
}
