-- wrk script: POST /api/v1/shipments/{id}/events with realistic stop sequences.
-- Arguments (after `--`): <targets file> (line 1: bearer token, line 2: checkpoint ids
-- separated by spaces, then one shipment id per line), a thread-unique seed and, optionally,
-- `located`: every event then carries the phone's fix (`location` with `accuracy_m`), within
-- 150 m of its checkpoint (bench/ingest.py makes checkpoint n at 35.4 + n/100, 44.3).
-- Each shipment walks arrived -> procedure started/completed -> fee paid -> released,
-- checkpoint after checkpoint, one event every 7 minutes of its own clock.

local token, checkpoints, shipments = nil, {}, {}
local located = false
local step = {}
local base_time = 1767225600 -- 2026-01-01T00:00:00Z

local function split(line)
  local out = {}
  for word in string.gmatch(line, "%S+") do out[#out + 1] = word end
  return out
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  token = file:read("*l")
  checkpoints = split(file:read("*l"))
  for line in file:lines() do
    if #line > 0 then shipments[#shipments + 1] = line end
  end
  file:close()
  math.randomseed(tonumber(args[2] or "1") + os.time())
  located = args[3] == "located"
end

local function uuid4()
  local r = math.random
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x",
    r(0, 0xffff), r(0, 0xffff), r(0, 0xffff), r(0, 0xfff),
    r(0, 0x3fff) + 0x8000, r(0, 0xffff), r(0, 0xffff), r(0, 0xffff))
end

local sequence = {
  function(cp) return '"type":"arrived","checkpoint_id":"' .. cp .. '"' end,
  function(cp) return '"type":"procedure_started","procedure":"document_check"' end,
  function(cp) return '"type":"procedure_completed","procedure":"document_check"' end,
  function(cp) return '"type":"fee_paid","fee":{"amount":25000,"currency":"IQD","receipt":true}' end,
  function(cp) return '"type":"released"' end,
}

request = function()
  local index = math.random(1, #shipments)
  local n = step[index] or 0
  step[index] = n + 1
  local k = math.floor(n / #sequence) % #checkpoints
  local cp = checkpoints[k + 1]
  local fields = sequence[(n % #sequence) + 1](cp)
  if located then
    local lat = 35.4 + k / 100 + (math.random() - 0.5) * 0.002
    local lon = 44.3 + (math.random() - 0.5) * 0.002
    fields = fields .. string.format(
      ',"location":{"lat":%.6f,"lon":%.6f,"accuracy_m":%d}', lat, lon, math.random(5, 40))
  end
  local at = os.date("!%Y-%m-%dT%H:%M:%SZ", base_time + (index % 300) * 86400 + n * 420)
  local body = '{"event_id":"' .. uuid4() .. '","occurred_at":"' .. at .. '",' .. fields .. '}'
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }
  return wrk.format("POST", "/api/v1/shipments/" .. shipments[index] .. "/events", headers, body)
end
