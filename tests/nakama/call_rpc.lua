-- call_rpc.lua MODULE_DIR RPC_ID USER_ID USERNAME PAYLOAD [ENV_JSON]
-- Loads the Nakama module from MODULE_DIR with the stand-in runtime, calls the RPC as
-- Nakama would (context with user_id, username, env) and prints {"ok":…,"result"|"error"};
-- an error raised as {message, code} (Nakama's way to set the gRPC status) adds "code".
local here = arg[0]:match("^(.*)/[^/]*$") or "."
local module_dir, rpc_id, user_id, username, payload, env_json =
  arg[1], arg[2], arg[3], arg[4], arg[5], arg[6]
package.path = here .. "/?.lua;" .. module_dir .. "/?.lua;" .. package.path
local cjson = require("cjson")
local nk = require("nakama")
require(rpc_id)
local fn = assert(nk.rpcs[rpc_id], "the module registered no RPC " .. rpc_id)
local context = {
  user_id = user_id ~= "" and user_id or nil,
  username = username,
  env = env_json and cjson.decode(env_json) or {},
}
local ok, res = pcall(fn, context, payload)
if ok then
  print(cjson.encode({ ok = true, result = res }))
else
  if type(res) == "table" then
    print(cjson.encode({ ok = false, error = tostring(res[1]), code = res[2] }))
  else
    print(cjson.encode({ ok = false, error = tostring(res) }))
  end
end
