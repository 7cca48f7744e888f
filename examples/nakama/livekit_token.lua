--[[
livekit_token.lua — keeps the game's existing `livekit_token` RPC working without any
secret in Lua code (the networking plan, Phase 1.1/1.2).

The LiveKit API secret lives only in roomstate-server (LIVEKIT_API_SECRET_FILE).  This
module mints a short-lived *service token* for the calling user with nk.jwt_generate (key
from Nakama's runtime.env, read as context.env: Nakama's Lua has no os.getenv, which is
why the old RPC ended up with a hard-coded secret) and asks roomstate-server's
POST /livekit/token for a LiveKit token acting for context.user_id.

Nakama config (e.g. local.yml or --runtime.env flags):
  runtime:
    env:
      - "ROOMSTATE_URL=http://roomstate-server:8080"
      - "ROOMSTATE_SERVICE_KEY=<the same key as roomstate-server's ROOMSTATE_SERVICE_KEY_FILE>"

Install: copy this file into the directory named by Nakama's runtime.path (default
data/modules).  Nakama loads every .lua file there by itself at start-up, and the module
registers the RPC itself: no `require` from main.lua is needed (a require would only load it
a second time).  Client call (Godot):
  var result = await nakama_client.rpc_async(session, "livekit_token", JSON.stringify({"room": "lobby-1"}))
  -> {"token": "...", "url": "wss://...", "identity": "<user id>", "expires_at": "..."}

Errors reach the client as Nakama RPC errors with a gRPC status code:
  3  INVALID_ARGUMENT  the payload is not {"room": "<non-empty string>"}
  16 UNAUTHENTICATED   called without a user (e.g. server-to-server without a user id)
  14 UNAVAILABLE       roomstate-server could not be reached, or answered 503
  13 INTERNAL          runtime.env incomplete, or roomstate-server refused the request
                       (details only in Nakama's log; the client never sees addresses)
]]
local nk = require("nakama")

local M = {}

-- gRPC status codes Nakama passes to the client with error({message, code})
local INVALID_ARGUMENT, INTERNAL, UNAVAILABLE, UNAUTHENTICATED = 3, 13, 14, 16

local SERVICE_NAME = "nakama"
local TOKEN_TTL_S = 60 -- the service token only has to live for one HTTP call

local function setting(context, name)
  local env = context.env or {}
  local v = env[name]
  if v == nil or v == "" then
    nk.logger_error(string.format("livekit_token: runtime.env %s is not set", name))
    error({ string.format("runtime.env %s is not set", name), INTERNAL })
  end
  return v
end

-- Returns the JSON string the client receives (the server's answer, unchanged).
function M.rpc_livekit_token(context, payload)
  if context.user_id == nil or context.user_id == "" then
    error({ "livekit_token must be called by an authenticated user", UNAUTHENTICATED })
  end
  local ok, req = pcall(nk.json_decode, payload or "")
  if not ok or type(req) ~= "table" or type(req.room) ~= "string" or req.room == "" then
    error({ "payload must be {\"room\": \"<livekit room name>\"}", INVALID_ARGUMENT })
  end

  local base = setting(context, "ROOMSTATE_URL")
  local key = setting(context, "ROOMSTATE_SERVICE_KEY")
  local now = math.floor(nk.time() / 1000)
  local token = nk.jwt_generate("HS256", key, {
    svc = SERVICE_NAME,
    sub = context.user_id,
    usn = context.username,
    iat = now,
    exp = now + TOKEN_TTL_S,
  })

  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json",
  }
  local body = nk.json_encode({ room = req.room })
  -- nk.http_request raises (a Lua error naming the address) when the server cannot be
  -- reached: catch it, log it, and give the client a clean UNAVAILABLE without the address
  local sent, code, _, resp = pcall(nk.http_request, base .. "/livekit/token", "POST", headers,
    body)
  if not sent then
    nk.logger_error(string.format("livekit_token: roomstate-server unreachable: %s",
      tostring(code)))
    error({ "the voice token service is unavailable, try again later", UNAVAILABLE })
  end
  if code ~= 200 then
    nk.logger_warn(string.format("livekit_token: roomstate-server answered %d for user %s",
      code, context.user_id))
    if code == 503 then
      error({ "the voice token service is unavailable, try again later", UNAVAILABLE })
    end
    error({ string.format("could not get a LiveKit token (status %d)", code), INTERNAL })
  end
  return resp
end

nk.register_rpc(M.rpc_livekit_token, "livekit_token")

return M
