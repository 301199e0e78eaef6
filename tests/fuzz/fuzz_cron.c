/* fuzz_cron.c - libFuzzer target for dort_cron_parse() and dort_cron_next().
 *
 * Any bytes are parsed (as a NUL-terminated copy). A refusal must be
 * DORT_ECRON with a NUL-terminated message naming a field. An accepted
 * expression is searched from start times derived from the input, and each
 * answer must be a whole minute strictly after the start, reachable again
 * from any time between the two, or DORT_ENOENT consistently (the calendar
 * repeats, so "never" cannot depend on the start within normal years).
 * Termination is libFuzzer's -timeout.
 *
 * Built with -DDORT_FUZZ_REPLAY it is a plain program instead: every file
 * named on the command line, or every file in a directory named there, is
 * fed to LLVMFuzzerTestOneInput(), so the committed corpus runs as a
 * regression test without libFuzzer.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dort/cron.h>
#include <dort/errors.h>

#define MIN_MS INT64_C(60000)
/* 1900-01-01 and 2400-01-01 in Unix ms: "normal" years for the checks. */
#define NORMAL_LO INT64_C(-2208988800000)
#define NORMAL_HI INT64_C(13569465600000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what, const char *expr)
{
    if (!ok) {
        fprintf(stderr, "fuzz_cron: %s (expression \"%s\")\n", what, expr);
        abort();
    }
}

/* FNV-1a: start times that follow the input, so the fuzzer can steer them. */
static uint64_t hash(const uint8_t *data, size_t size)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 0x100000001b3ULL;
    return h;
}

static void check_refusal(int rc, const dort_cron_t *c, const char *err, size_t err_len,
                          const char *s)
{
    static const char *const heads[] = {"minute field", "hour field",        "day-of-month field",
                                        "month field",  "day-of-week field", "cron expression"};
    int named = 0;
    check(rc == DORT_ECRON, "refused with a code other than DORT_ECRON", s);
    check(c == NULL, "out not NULL after a refusal", s);
    check(memchr(err, '\0', err_len) != NULL, "message not NUL-terminated", s);
    for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++)
        named |= strncmp(err, heads[i], strlen(heads[i])) == 0;
    check(named, "message does not name a field", s);
}

/* Returns 1 when a fire time was found. */
static int check_next(const dort_cron_t *c, int64_t after, const char *s)
{
    int64_t n = 0, again = 0;
    int rc = dort_cron_next(c, after, &n);
    if (rc == DORT_ENOENT)
        return 0;
    check(rc == 0, "next returned an unexpected code", s);
    check(n > after, "next is not after the start", s);
    check(n % MIN_MS == 0, "next is not a whole minute", s);
    /* Nothing fires in (after, n), so any start in [after, n) gives n. */
    check(dort_cron_next(c, n - 1, &again) == 0 && again == n, "n - 1 does not lead to n", s);
    int64_t mid = after + (int64_t)(((uint64_t)n - (uint64_t)after) / 2); /* no overflow */
    check(dort_cron_next(c, mid, &again) == 0 && again == n, "a start between does not lead to n",
          s);
    rc = dort_cron_next(c, n, &again);
    check(rc == DORT_ENOENT || (rc == 0 && again > n), "the following fire time is not later", s);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[160];
    dort_cron_t *c = NULL;
    char *s;

    if (size > 4096) /* long inputs only slow the fuzzer down */
        return 0;
    s = malloc(size + 1);
    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    int rc = dort_cron_parse(s, &c, err, sizeof(err));
    if (rc != 0) {
        check_refusal(rc, c, err, sizeof(err), s);
        free(s);
        return 0;
    }
    check(strcmp(dort_cron_expr(c), s) == 0, "expression text not kept", s);

    uint64_t h = hash(data, size);
    int64_t normal = NORMAL_LO + (int64_t)(h % (uint64_t)(NORMAL_HI - NORMAL_LO));
    int fires = check_next(c, 0, s);
    check(check_next(c, normal, s) == fires, "never depends on the start time", s);
    check(check_next(c, -1, s) == fires, "never depends on the start time", s);
    check_next(c, (int64_t)h, s);
    check_next(c, INT64_MAX - (int64_t)(h % (UINT64_C(1) << 40)), s);
    check_next(c, INT64_MIN + (int64_t)(h % (UINT64_C(1) << 40)), s);

    dort_cron_free(c);
    free(s);
    return 0;
}

#ifdef DORT_FUZZ_REPLAY
#include <dirent.h>
#include <sys/stat.h>

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t buf[8192];
    size_t n;

    if (f == NULL) {
        perror(path);
        return 1;
    }
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, n);
    return 0;
}

static int replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    int failed = 0, count = 0;

    if (d == NULL) {
        perror(dir);
        return 1;
    }
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        failed |= replay_file(path);
        count++;
    }
    closedir(d);
    printf("fuzz_cron: replayed %d inputs from %s\n", count, dir);
    return failed;
}

int main(int argc, char **argv)
{
    int failed = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
            failed |= replay_dir(argv[i]);
        else
            failed |= replay_file(argv[i]);
    }
    return failed;
}
#endif
