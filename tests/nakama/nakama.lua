--[[
A stand-in for Nakama's Lua runtime module (`require("nakama")`) with the calls
examples/nakama/livekit_token.lua uses, each doing the real thing rather than pretending:
jwt_generate signs HS256 with the openssl command (as Nakama's Go runtime does with the key
and claims given), http_request sends a real HTTP request with curl, json_* are lua-cjson.
Used by tests/integration/test_nakama_lua.py to run the module against the real server.
]]
local cjson = require("cjson")

local M = { rpcs = {} }

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function b64url(data)
  local out = {}
  for i = 1, #data, 3 do
    local a, b, c = data:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local chars = 4
    if not b then chars = 2 elseif not c then chars = 3 end
    for k = 1, chars do
      local idx = math.floor(n / 64 ^ (4 - k)) % 64 + 1
      out[#out + 1] = B64:sub(idx, idx)
    end
  end
  return (table.concat(out):gsub("+", "-"):gsub("/", "_"))
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function write_temp(content)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(content)
  f:close()
  return path
end

function M.json_encode(v) return cjson.encode(v) end
function M.json_decode(s) return cjson.decode(s) end
function M.time() return os.time() * 1000 end
function M.logger_error(msg) io.stderr:write("ERROR " .. msg .. "\n") end
function M.logger_warn(msg) io.stderr:write("WARN " .. msg .. "\n") end
function M.logger_info(msg) io.stderr:write("INFO " .. msg .. "\n") end
function M.register_rpc(fn, id) M.rpcs[id] = fn end

function M.jwt_generate(alg, key, claims)
  if alg ~= "HS256" and alg ~= "RS256" then error("unsupported algo type") end
  assert(alg == "HS256", "the stand-in signs HS256 only")
  assert(type(key) == "string" and key ~= "", "expects string")
  local signing = b64url(cjson.encode({ alg = "HS256", typ = "JWT" })) .. "." ..
    b64url(cjson.encode(claims))
  local input = write_temp(signing)
  local p = assert(io.popen("openssl dgst -sha256 -binary -hmac " .. shell_quote(key) ..
    " < " .. shell_quote(input)))
  local mac = p:read("a")
  p:close()
  os.remove(input)
  assert(#mac == 32, "openssl gave no HMAC")
  return signing .. "." .. b64url(mac)
end

function M.http_request(url, method, headers, content)
  local cmd = { "curl", "-s", "--max-time", "10", "-X", shell_quote(method) }
  for k, v in pairs(headers or {}) do
    cmd[#cmd + 1] = "-H " .. shell_quote(k .. ": " .. v)
  end
  local body_file
  if content and content ~= "" then
    body_file = write_temp(content)
    cmd[#cmd + 1] = "--data-binary @" .. shell_quote(body_file)
  end
  cmd[#cmd + 1] = "-w " .. shell_quote("\n%{http_code}")
  cmd[#cmd + 1] = shell_quote(url)
  local p = assert(io.popen(table.concat(cmd, " ")))
  local out = p:read("a")
  p:close()
  if body_file then os.remove(body_file) end
  local body, code = out:match("^(.*)\n(%d+)$")
  -- like Nakama (Go's net/http error text): the failure raises and names the address
  if not code or code == "000" then
    error(string.format("Post %q: dial tcp: connection refused", url))
  end
  return tonumber(code), {}, body
end

return M
