/* connlimit.h — which connections roomstate-server takes and how long a request head may
 * take to arrive (docs/connection-limits.md).
 *
 * Admission: a new connection is refused (accepted and closed at once, before any byte is
 * read) when the server already holds max_connections, or max_per_ip from the same
 * client address (IPv4 address; IPv6 /64 prefix, since one host holds a whole /64).  The
 * decision is libmicrohttpd's accept-policy callback; the slot is handed to the connection
 * in its start notification and freed in its close notification.
 *
 * Head deadline: a connection must deliver a complete request head (request line and
 * every header field) within header_timeout_ms of being accepted, or of the previous
 * response on a kept-alive connection.  libmicrohttpd's own timeout restarts on every byte
 * received, so a client sending one byte every few seconds would hold the connection for
 * ever; this deadline does not move.  A sweeping thread shuts down the socket of a
 * connection past its deadline; the library then sees the end of the stream and closes
 * the connection the ordinary way (and calls its close notification).  The whole request,
 * body included, has a second deadline from the same start (request_timeout_ms), so that
 * a body trickled byte by byte does not hold a connection for ever either.
 *
 * Thread safety: every function may be called from any thread. */
#ifndef ROOMSTATE_CONNLIMIT_H
#define ROOMSTATE_CONNLIMIT_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct connlimit_config {
    unsigned max_connections;    /* open connections in all; at least 1 */
    unsigned max_per_ip;         /* from one address (IPv6: one /64); 0: no such limit */
    unsigned header_timeout_ms;  /* to receive a request head; 0: no deadline */
    unsigned request_timeout_ms; /* to receive the whole request, body included, from the
                                  * same start; 0: no deadline (not below the head's) */
};

enum connlimit_verdict {
    CONNLIMIT_ADMIT = 0,
    CONNLIMIT_REFUSE_IP,    /* max_per_ip reached for this address */
    CONNLIMIT_REFUSE_TOTAL, /* max_connections reached */
};

struct connlimit;

/* Starts the deadline sweeper (when either timeout is set).  NULL when out of memory or
 * the thread cannot start (logged). */
struct connlimit *connlimit_new(const struct connlimit_config *cfg);

/* Stops the sweeper and frees everything.  Call after the daemon has stopped (no callback
 * may run any more).  NULL is a no-op. */
void connlimit_free(struct connlimit *cl);

/* The MHD callbacks.  cls is the struct connlimit.  Pass connlimit_accept as the daemon's
 * accept policy (MHD_start_daemon's apc) and connlimit_notify as
 * MHD_OPTION_NOTIFY_CONNECTION. */
enum MHD_Result connlimit_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
void connlimit_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);

/* The access handler's first call for a request: its head is complete; the request's
 * deadline replaces the head's. */
void connlimit_head_received(struct MHD_Connection *conn);

/* The access handler's last call (the body, if any, is complete): no deadline until the
 * response has been sent (a save waiting for the database is not cut). */
void connlimit_request_received(struct MHD_Connection *conn);

/* A request completed (its response sent): the next request's head is now awaited. */
void connlimit_request_done(struct MHD_Connection *conn);

/* The admission decision alone, for tests: takes a slot for addr (CONNLIMIT_ADMIT) or
 * refuses.  Every admitted slot is given back with connlimit_release. */
enum connlimit_verdict connlimit_admit(struct connlimit *cl, const struct sockaddr *addr,
                                       socklen_t addrlen);
void connlimit_release(struct connlimit *cl, const struct sockaddr *addr, socklen_t addrlen);

/* Connections holding a slot now (admitted and not yet closed). */
unsigned connlimit_open(struct connlimit *cl);

/* Raises this process's soft limit on open files to its hard limit (logged when it
 * changes).  Returns the soft limit in force afterwards, or 0 when it cannot be read. */
uint64_t connlimit_raise_nofile(void);

#endif
