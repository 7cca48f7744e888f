/* h_fleet.h — the relay fleet endpoints of docs/http-api.md ("Relay fleet"), service tokens
 * only (a user's token: 403 forbidden).  The dispatcher (http.c) has checked route, token,
 * room id, content type, body size (--checkpoint-max-bytes for checkpoints) and JSON syntax.
 *   POST   /rooms/{id}/lease              h_lease_post        acquire / renew
 *   GET    /rooms/{id}/lease              h_lease_get
 *   DELETE /rooms/{id}/lease?fence=N      h_lease_delete      release
 *   PUT    /rooms/{id}/checkpoint?fence=N h_checkpoint_put
 *   GET    /rooms/{id}/checkpoint         h_checkpoint_get
 *   DELETE /rooms/{id}/checkpoint?fence=N h_checkpoint_delete */
#ifndef ROOMSTATE_H_FLEET_H
#define ROOMSTATE_H_FLEET_H

#include "server/http.h"

enum MHD_Result h_lease_post(struct http_req *r);
enum MHD_Result h_lease_get(struct http_req *r);
enum MHD_Result h_lease_delete(struct http_req *r);
enum MHD_Result h_checkpoint_put(struct http_req *r);
enum MHD_Result h_checkpoint_get(struct http_req *r);
enum MHD_Result h_checkpoint_delete(struct http_req *r);

#endif
