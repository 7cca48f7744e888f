/* lease.c — one room's hosting lease (lease.h). */
#include "relay/lease.h"

#include <string.h>

void lease_init(struct lease *l, int64_t ttl_ms)
{
    memset(l, 0, sizeof *l);
    if (ttl_ms < LEASE_TTL_MIN_MS)
        ttl_ms = LEASE_TTL_MIN_MS;
    if (ttl_ms > LEASE_TTL_MAX_MS)
        ttl_ms = LEASE_TTL_MAX_MS;
    l->ttl_ms = ttl_ms;
    l->retry_after_ms = -1;
}

int64_t lease_margin_ms(int64_t ttl_ms)
{
    int64_t m = ttl_ms / 10;
    return m > 500 ? 500 : m;
}

static bool type_is(const char *type, const char *name)
{
    if (!type)
        return false;
    const char *slash = strrchr(type, '/');
    return strcmp(slash ? slash + 1 : type, name) == 0;
}

enum lease_answer lease_classify(long status, const char *problem_type)
{
    if (status == 200)
        return LEASE_ANS_OK;
    if (status == 409 && type_is(problem_type, "lease-held"))
        return LEASE_ANS_HELD;
    if (status == 409 && type_is(problem_type, "lease-lost"))
        return LEASE_ANS_LOST;
    if (status == 0 || status >= 500 || status == 429 || status == 408)
        return LEASE_ANS_TRANSIENT;
    return LEASE_ANS_REFUSED;
}

bool lease_next(struct lease *l, int64_t now_ms, bool *renew)
{
    *renew = false;
    if (l->in_flight)
        return false;
    if (l->state == LEASE_NONE || (l->state == LEASE_HELD && now_ms >= l->next_renew_ms)) {
        *renew = l->state == LEASE_HELD;
        if (l->state == LEASE_NONE)
            l->state = LEASE_ACQUIRING;
        l->in_flight = true;
        l->sent_ms = now_ms;
        return true;
    }
    return false;
}

enum lease_event lease_result(struct lease *l, enum lease_answer a, int64_t fence,
                              int64_t expires_in_ms, int64_t now_ms, unsigned max_attempts)
{
    if (!l->in_flight)
        return LEASE_EV_NONE;
    l->in_flight = false;
    int64_t valid = l->sent_ms + l->ttl_ms - lease_margin_ms(l->ttl_ms);
    if (l->state == LEASE_ACQUIRING) {
        switch (a) {
        case LEASE_ANS_OK:
            if (fence < 1)
                break;
            l->state = LEASE_HELD;
            l->fence = fence;
            l->valid_until_ms = valid;
            l->next_renew_ms = l->sent_ms + l->ttl_ms / 3;
            return LEASE_EV_GRANTED;
        case LEASE_ANS_HELD:
            l->state = LEASE_HELD_ELSEWHERE;
            l->retry_after_ms = expires_in_ms;
            return LEASE_EV_HELD;
        case LEASE_ANS_TRANSIENT:
            if (++l->acquire_attempts < max_attempts) {
                l->state = LEASE_NONE; /* lease_next asks again */
                return LEASE_EV_NONE;
            }
            break;
        case LEASE_ANS_LOST:
        case LEASE_ANS_REFUSED:
            break;
        }
        l->state = LEASE_FAILED;
        return LEASE_EV_FAILED;
    }
    if (l->state != LEASE_HELD)
        return LEASE_EV_NONE; /* lost meanwhile (own clock): the answer changes nothing */
    switch (a) {
    case LEASE_ANS_OK:
        if (fence != l->fence)
            break;
        if (valid > l->valid_until_ms)
            l->valid_until_ms = valid;
        l->next_renew_ms = l->sent_ms + l->ttl_ms / 3;
        return LEASE_EV_RENEWED;
    case LEASE_ANS_TRANSIENT:
    case LEASE_ANS_REFUSED:
        l->next_renew_ms = now_ms + LEASE_RETRY_MS;
        return LEASE_EV_NONE;
    case LEASE_ANS_HELD:
    case LEASE_ANS_LOST:
        break;
    }
    l->state = LEASE_LOST;
    return LEASE_EV_LOST;
}

bool lease_expired(struct lease *l, int64_t now_ms)
{
    if (l->state != LEASE_HELD || now_ms < l->valid_until_ms)
        return false;
    l->state = LEASE_LOST;
    return true;
}
