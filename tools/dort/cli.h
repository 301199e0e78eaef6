/* cli.h - the `dort` command: subcommands and shared helpers. */
#ifndef DORT_CLI_H
#define DORT_CLI_H

typedef struct cli_cmd_s {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand name */
    void (*usage)(void);
} cli_cmd_t;

int cmd_bench(int argc, char **argv);
int cmd_dev(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_queues(int argc, char **argv);
void cmd_dev_usage(void);
void cmd_serve_usage(void);
void cmd_bench_usage(void);
void cmd_queues_usage(void);

/* 1 when argv has -h or --help. */
int cli_wants_help(int argc, char **argv);

#endif
