/* queue_records.c - keys and records of the queue databases. */
#include <string.h>

#include "alloc_internal.h"
#include "keycodec_internal.h"
#include "queue.pb-c.h"
#include "queue_internal.h"

static void be32_put(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

void dort__qkey_ready(unsigned char k[DORT__QKEY_READY], uint32_t qid, uint64_t seq)
{
    be32_put(k, qid);
    dort__be64_put(k + 4, seq);
}

void dort__qkey_delay(unsigned char k[DORT__QKEY_DELAY], uint32_t qid, int64_t visible,
                      uint64_t seq)
{
    be32_put(k, qid);
    dort__be64_put(k + 4, (uint64_t)(visible < 0 ? 0 : visible));
    dort__be64_put(k + 12, seq);
}

int dort__qrecord_encode(const unsigned char id[16], const void *body, size_t len,
                         dort_queue_content_t ct, int64_t ts, uint32_t attempts, uint32_t base,
                         void **out, size_t *out_len)
{
    Dort__QueueRecord r = DORT__QUEUE_RECORD__INIT;
    r.id.data = (uint8_t *)(uintptr_t)id;
    r.id.len = 16;
    r.body.data = (uint8_t *)(uintptr_t)body;
    r.body.len = len;
    r.content_type = (uint32_t)ct;
    r.timestamp_ms = ts;
    r.attempts = attempts;
    r.base_attempts = base;
    size_t n = dort__queue_record__get_packed_size(&r);
    uint8_t *buf = dort__malloc(n);
    if (buf == NULL)
        return DORT_ENOMEM;
    dort__queue_record__pack(&r, buf);
    *out = buf;
    *out_len = n;
    return 0;
}

int dort__qrecord_decode(const void *data, size_t len, dort_queue_message_t *m)
{
    Dort__QueueRecord *r = dort__queue_record__unpack(NULL, len, data);
    if (r == NULL || r->id.len != 16) {
        if (r != NULL)
            dort__queue_record__free_unpacked(r, NULL);
        return DORT_ECORRUPT;
    }
    static const char hex[] = "0123456789abcdef";
    memcpy(m->raw_id, r->id.data, 16);
    for (int i = 0; i < 16; i++) {
        m->id[2 * i] = hex[r->id.data[i] >> 4];
        m->id[2 * i + 1] = hex[r->id.data[i] & 15];
    }
    m->id[32] = '\0';
    m->timestamp_ms = r->timestamp_ms;
    m->attempts = r->attempts + 1;
    m->base_attempts = r->base_attempts;
    m->content_type = (dort_queue_content_t)r->content_type;
    m->body_len = r->body.len;
    m->body = dort__memdup(r->body.data, r->body.len);
    dort__queue_record__free_unpacked(r, NULL);
    return m->body ? 0 : DORT_ENOMEM;
}

int dort__qrecord_put(dort_rt_t *rt, dort__wset_t *ws, dort__queue_t *q, uint64_t seq,
                      int64_t visible_ms, const unsigned char id[16], const void *body, size_t len,
                      dort_queue_content_t ct, int64_t ts, uint32_t attempts, uint32_t base)
{
    dort__queues_t *qs = dort__queues(rt);
    void *rec;
    size_t rec_len;
    int rc = dort__qrecord_encode(id, body, len, ct, ts, attempts, base, &rec, &rec_len);
    if (rc != 0)
        return rc;
    if (visible_ms > 0) {
        unsigned char k[DORT__QKEY_DELAY];
        dort__qkey_delay(k, q->id, visible_ms, seq);
        rc = dort__wset_add_raw(ws, qs->db_delay, 0, k, sizeof k, rec, rec_len);
    } else {
        unsigned char k[DORT__QKEY_READY];
        dort__qkey_ready(k, q->id, seq);
        rc = dort__wset_add_raw(ws, qs->db_ready, 0, k, sizeof k, rec, rec_len);
    }
    dort__free(rec);
    return rc;
}
