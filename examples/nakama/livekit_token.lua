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

Load it from main.lua:   local livekit = require("livekit_token")
(the module registers the RPC itself).  Client call (Godot):
  var result = await nakama_client.rpc_async(session, "livekit_token", JSON.stringify({"room": "lobby-1"}))
  -> {"token": "...", "url": "wss://...", "identity": "<user id>", "expires_at": "..."}
]]
local nk = require("nakama")

local M = {}

local SERVICE_NAME = "nakama"
local TOKEN_TTL_S = 60 -- the service token only has to live for one HTTP call

local function setting(context, name)
  local env = context.env or {}
  local v = env[name]
  if v == nil or v == "" then
    error(string.format("runtime.env %s is not set", name))
  end
  return v
end

-- Returns the JSON string the client receives (the server's answer, unchanged).
function M.rpc_livekit_token(context, payload)
  if context.user_id == nil or context.user_id == "" then
    error("livekit_token must be called by an authenticated user")
  end
  local ok, req = pcall(nk.json_decode, payload or "")
  if not ok or type(req) ~= "table" or type(req.room) ~= "string" or req.room == "" then
    error("payload must be {\"room\": \"<livekit room name>\"}")
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
  local code, _, resp = nk.http_request(base .. "/livekit/token", "POST", headers, body)
  if code ~= 200 then
    nk.logger_warn(string.format("livekit_token: roomstate-server answered %d for user %s",
      code, context.user_id))
    error(string.format("could not get a LiveKit token (status %d)", code))
  end
  return resp
end

nk.register_rpc(M.rpc_livekit_token, "livekit_token")

return M
