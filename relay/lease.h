/* lease.h — one room's hosting lease as this relay sees it (fleet API: POST/DELETE
 * /rooms/{id}/lease).  Pure logic, no I/O and no clock of its own: the caller passes the
 * relay's monotonic milliseconds, sends the requests lease_next() asks for and feeds their
 * answers to lease_result().  Unit-tested in tests/unit/test_relay_fleet.c.
 *
 * Safety rule: the server's clock decides expiry, counted from when it handled the request;
 * the relay counts its own validity from when it SENT the request (earlier), minus a margin,
 * so it always stops serving before the server could give the room to another relay (as long
 * as the two clocks run at the same rate).  A lease is renewed every ttl/3; a renewal that
 * fails for a transient reason (timeout, 5xx) is retried LEASE_RETRY_MS later until the
 * validity runs out. */
#ifndef ROOMSTATE_RELAY_LEASE_H
#define ROOMSTATE_RELAY_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#define LEASE_RETRY_MS 200
#define LEASE_TTL_MIN_MS 1000 /* the server's bounds for ttl_ms */
#define LEASE_TTL_MAX_MS 60000

enum lease_state {
    LEASE_NONE = 0, /* not asked yet */
    LEASE_ACQUIRING,
    LEASE_HELD,
    LEASE_HELD_ELSEWHERE, /* 409 lease-held: another relay hosts the room */
    LEASE_LOST,           /* 409 lease-lost, or not renewed in time: stop serving */
    LEASE_FAILED,         /* acquisition failed (server unreachable, bad answer) */
};

struct lease {
    enum lease_state state;
    int64_t ttl_ms;
    int64_t fence;          /* valid while HELD */
    int64_t valid_until_ms; /* by the relay's clock (HELD) */
    int64_t next_renew_ms;
    bool in_flight;
    int64_t sent_ms;           /* of the request in flight */
    int64_t retry_after_ms;    /* HELD_ELSEWHERE: the holder's lease ends in this many ms */
    unsigned acquire_attempts; /* transient failures of the acquisition so far */
};

/* Answer classes of POST /rooms/{id}/lease, from the HTTP status and the problem type. */
enum lease_answer {
    LEASE_ANS_OK = 0,    /* 200 with a fence */
    LEASE_ANS_HELD,      /* 409 lease-held */
    LEASE_ANS_LOST,      /* 409 lease-lost */
    LEASE_ANS_TRANSIENT, /* no answer, 5xx, 429: try again */
    LEASE_ANS_REFUSED,   /* any other answer (400, 401, 403, 404 …): a configuration fault */
};

/* What lease_result reports. */
enum lease_event {
    LEASE_EV_NONE = 0,
    LEASE_EV_GRANTED, /* acquired: fence set, the room may be served */
    LEASE_EV_RENEWED,
    LEASE_EV_HELD,   /* held elsewhere (state HELD_ELSEWHERE, retry_after_ms set) */
    LEASE_EV_LOST,   /* state LOST: stop serving at once */
    LEASE_EV_FAILED, /* acquisition gave up (state FAILED) */
};

void lease_init(struct lease *l, int64_t ttl_ms);
/* Classifies an answer: status 0 = no HTTP answer; type = the problem's "type" (its last
 * path segment is compared: ".../lease-held" or "lease-held"), may be NULL. */
enum lease_answer lease_classify(long status, const char *problem_type);

/* Whether a request should go out now: returns true and marks it in flight (sent_ms = now)
 * when the lease must be acquired (NONE) or renewed (HELD and now >= next_renew_ms, or a
 * retry is due).  *renew: the request carries the fence. */
bool lease_next(struct lease *l, int64_t now_ms, bool *renew);
/* The answer of the request in flight (fence: the answer's fence when OK; expires_in_ms: of a
 * 409 lease-held, or -1).  Acquisition: OK -> GRANTED; HELD -> HELD; TRANSIENT -> retried
 * (NONE) up to max_attempts, then FAILED; LOST/REFUSED -> FAILED.  Renewal: OK with the same
 * fence -> RENEWED; LOST, HELD, or another fence -> LOST; TRANSIENT/REFUSED -> retried
 * while valid. */
enum lease_event lease_result(struct lease *l, enum lease_answer a, int64_t fence,
                              int64_t expires_in_ms, int64_t now_ms, unsigned max_attempts);
/* Checks the relay's own clock: a HELD lease past its validity becomes LOST (returns true,
 * once). */
bool lease_expired(struct lease *l, int64_t now_ms);
/* The validity margin: what the relay subtracts from ttl (ttl/10, at most 500 ms). */
int64_t lease_margin_ms(int64_t ttl_ms);

#endif
