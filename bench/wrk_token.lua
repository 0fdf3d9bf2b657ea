-- Rotates over pre-built requests, one per seeded API key, so no cache sees one hot key.
-- Usage: wrk -t1 -cC -dD -s bench/wrk_token.lua URL -- KEYS_FILE MODE
--   KEYS_FILE: lines "<api key> <namespace>"; MODE: "token" (GET /token, Basic auth,
--   push scope on the key's own namespace), "identity" (POST /identity/token, apikey form)
--   or "healthz" (GET /healthz: the framework's floor, no credential, no database).
-- At the end prints one JSON line: requests, errors, p50/p99 latency (microseconds).

local requests = {}
local index = 0

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(data)
  return ((data:gsub(".", function(x)
    local r, b = "", x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and "1" or "0") end
    return r
  end) .. "0000"):gsub("%d%d%d?%d?%d?%d?", function(x)
    if #x < 6 then return "" end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == "1" and 2 ^ (6 - i) or 0) end
    return b64chars:sub(c + 1, c + 1)
  end) .. ({ "", "==", "=" })[#data % 3 + 1])
end

function init(args)
  local path, mode = args[1], args[2] or "token"
  for line in io.lines(path) do
    local key, ns = line:match("^(%S+)%s+(%S+)$")
    if key then
      if mode == "healthz" then
        requests[#requests + 1] = wrk.format("GET", "/healthz", {}, nil)
      elseif mode == "identity" then
        requests[#requests + 1] = wrk.format("POST", "/identity/token",
          { ["Content-Type"] = "application/x-www-form-urlencoded" },
          "grant_type=urn%3Aibm%3Aparams%3Aoauth%3Agrant-type%3Aapikey&apikey=" .. key)
      else
        requests[#requests + 1] = wrk.format("GET",
          "/token?service=registry.local&scope=repository:" .. ns .. "/app:pull,push",
          { ["Authorization"] = "Basic " .. base64("iamapikey:" .. key) }, nil)
      end
    end
  end
  if #requests == 0 then error("no keys in " .. path) end
  index = math.random(#requests) - 1
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "errors": %d, "status_errors": %d, ' ..
    '"socket_errors": %d, "p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
