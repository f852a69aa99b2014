#include "meter.h"

uint64_t meter_errors(const struct meter *m)
{
    return m->err_status + m->err_match + m->err_parse + m->err_conn + m->lost;
}

void meter_merge(struct meter *dst, const struct meter *src)
{
    dst->tx += src->tx;
    dst->sent += src->sent;
    dst->completed += src->completed;
    dst->answered += src->answered;
    dst->err_status += src->err_status;
    dst->err_match += src->err_match;
    dst->err_parse += src->err_parse;
    dst->err_conn += src->err_conn;
    dst->lost += src->lost;
    dst->closed += src->closed;
    hist_merge(&dst->latency, &src->latency);
}
