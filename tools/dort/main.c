/* main.c - `dort`: run apps locally (dev), in production (serve), inspect
 * their queues, and benchmark the runtime. */
#include <stdio.h>
#include <string.h>

#include <dort/dort.h>

#include "cli.h"

static const cli_cmd_t commands[] = {
    {"dev", "run an app locally, as wrangler dev: relaxed durability, state kept", cmd_dev,
     cmd_dev_usage},
    {"serve", "run an app in production: full durability, secrets required", cmd_serve,
     cmd_serve_usage},
    {"queues", "inspect an app's durable queues; replay dead letters, purge", cmd_queues,
     cmd_queues_usage},
    {"bench", "measure the runtime: round trips, durable writes, memory, activation",
     cmd_bench, cmd_bench_usage},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: dort <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n  dort <command> --help   options of one command\n"
               "  dort --version          print the version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("dort %s\n", dort_version_string());
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        if (cli_wants_help(argc - 1, argv + 1)) {
            commands[i].usage();
            return 0;
        }
        return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "dort: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
