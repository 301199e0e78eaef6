/* dort/dort.h - the umbrella header: include this one.
 *
 * dort is a Durable Object runtime for C: single-threaded actors keyed by
 * name, transactional storage on LMDB with group commit and output gates,
 * alarms, HTTP ingress, durable queues and cron, on a libuv loop.
 */
#ifndef DORT_DORT_H
#define DORT_DORT_H

#include <dort/common.h>
#include <dort/version.h>
#include <dort/errors.h>
#include <dort/alloc.h>
#include <dort/log.h>
#include <dort/id.h>
#include <dort/message.h>
#include <dort/runtime.h>
#include <dort/actor.h>
#include <dort/storage.h>
#include <dort/worker.h>
#include <dort/router.h>
#include <dort/http.h>
#include <dort/websocket.h>
#include <dort/config.h>
#include <dort/cron.h>
#include <dort/scheduled.h>
#include <dort/queue.h>

#endif
