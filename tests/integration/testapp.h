/* testapp.h - the integration tests' app, linked into dort-test only. */
#ifndef DORT_TESTAPP_H
#define DORT_TESTAPP_H

#include <dort/dort.h>

extern const dort_worker_class_t testapp_worker;
extern const dort_class_t sse_room_class;
extern const dort_class_t ws_echo_class; /* ws_echo.c */

#endif
