-- wrk script: a flood of POST /api/v1/shipments/{id}/events with made-up credentials.
-- Arguments (after `--`): <targets file> (bench/wrk_events.lua's: line 1 the honest token,
-- line 2 checkpoint ids, then one shipment id per line) and <requests per second> (0: as
-- fast as the server answers). Each request names a real shipment, carries a well-formed
-- event body and a different made-up driver link (`drv_` + 43 random characters, as real
-- ones look), so that every one is looked up and refused: no cache can answer it.
-- The rate is kept by a schedule shared by the thread's connections (LuaJIT's FFI clock);
-- a slot missed because the server was slow is dropped, never sent in a burst later.
-- Counts the answers by status; done() prints "flood statuses: 401=N other=M".

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } flood_timespec;
int clock_gettime(int clock_id, flood_timespec *tp);
]]
local clock = ffi.new("flood_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local shipments, checkpoints = {}, {}
local interval_ms, next_slot = 0, nil
local threads = {}
refused, other = 0, 0

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

local function split(line)
  local out = {}
  for word in string.gmatch(line, "%S+") do out[#out + 1] = word end
  return out
end

function setup(thread)
  threads[#threads + 1] = thread
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  file:read("*l") -- the honest token: not ours
  checkpoints = split(file:read("*l"))
  for line in file:lines() do
    if #line > 0 then shipments[#shipments + 1] = line end
  end
  file:close()
  local rate = tonumber(args[2] or "0")
  if rate > 0 then interval_ms = 1000 / rate end
  math.randomseed(os.time() + 7919)
end

local function made_up_token()
  local chars = {}
  for i = 1, 43 do
    local n = math.random(1, #alphabet)
    chars[i] = string.sub(alphabet, n, n)
  end
  return "drv_" .. table.concat(chars)
end

function delay()
  if interval_ms == 0 then return 0 end
  local now = now_ms()
  if next_slot == nil or next_slot < now then next_slot = now end
  local wait = next_slot - now
  next_slot = next_slot + interval_ms
  return math.floor(wait)
end

request = function()
  local shipment = shipments[math.random(1, #shipments)]
  local checkpoint = checkpoints[math.random(1, #checkpoints)]
  local body = '{"event_id":"' .. string.format("%08x-0000-4000-8000-%012x",
      math.random(0, 0x7fffffff), math.random(0, 0x7fffffff)) ..
    '","occurred_at":"2026-01-01T06:00:00Z","type":"arrived","checkpoint_id":"' ..
    checkpoint .. '"}'
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. made_up_token(),
  }
  return wrk.format("POST", "/api/v1/shipments/" .. shipment .. "/events", headers, body)
end

response = function(status, headers, body)
  if status == 401 then refused = refused + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local r, o = 0, 0
  for _, thread in ipairs(threads) do
    r = r + thread:get("refused")
    o = o + thread:get("other")
  end
  io.write(string.format("flood statuses: 401=%d other=%d\n", r, o))
end
