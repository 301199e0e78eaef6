/* cron_app.h - the integration tests' cron app (cron_app.c), linked into
 * dort-test only. */
#ifndef DORT_CRON_APP_H
#define DORT_CRON_APP_H

#include <dort/dort.h>

extern const dort_class_t cron_log_class;
extern const dort_worker_class_t crontest_worker;

#endif
