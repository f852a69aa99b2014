#include "window.h"

#include <stdlib.h>

bool window_init(struct window *w, unsigned cap)
{
    *w = (struct window){.cap = cap};
    w->slots = calloc(cap, sizeof(*w->slots));
    return w->slots != NULL;
}

void window_free(struct window *w)
{
    free(w->slots);
    w->slots = NULL;
}

bool window_has_room(const struct window *w)
{
    return w->outstanding < w->cap && w->slots[w->next_seq % w->cap].seq_plus1 == 0;
}

uint64_t window_open(struct window *w, uint64_t now_ns)
{
    uint64_t seq = w->next_seq++;
    w->slots[seq % w->cap] = (struct window_slot){.seq_plus1 = seq + 1, .sent_ns = now_ns};
    w->outstanding++;
    return seq;
}

bool window_close(struct window *w, uint64_t seq, uint64_t now_ns, uint64_t *latency_ns)
{
    struct window_slot *s = &w->slots[seq % w->cap];
    if (s->seq_plus1 != seq + 1)
        return false;
    *latency_ns = now_ns - s->sent_ns;
    s->seq_plus1 = 0;
    w->outstanding--;
    return true;
}
