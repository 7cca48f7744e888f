/* h_rooms.h — the room endpoints of docs/http-api.md.  The dispatcher (http.c) has already
 * checked route, token, room id, content type, body size and JSON syntax; these do the
 * document (422) and precondition (412 / 304) checks, one store call, and the reply.
 *   POST   /rooms/{id}/save      h_save_post
 *   GET    /rooms/{id}/state     h_state_get     (?version=N, If-None-Match)
 *   DELETE /rooms/{id}/state     h_state_delete  (If-Match)
 *   GET    /rooms/{id}/versions  h_versions_get */
#ifndef ROOMSTATE_H_ROOMS_H
#define ROOMSTATE_H_ROOMS_H

#include "server/http.h"

enum MHD_Result h_save_post(struct http_req *r);
enum MHD_Result h_state_get(struct http_req *r);
enum MHD_Result h_state_delete(struct http_req *r);
enum MHD_Result h_versions_get(struct http_req *r);

#endif
