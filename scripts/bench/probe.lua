-- A latency probe, not a second load: one request every 10 ms per
-- connection (GET PATH, with a session cookie when COOKIE_FILE is given),
-- so the probe measures what a client meets without taking CPU from the
-- load it watches.
-- wrk -s probe.lua URL -- PATH [COOKIE_FILE]
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
local path, cookie = "/", nil

function init(args)
  path = args[1]
  if args[2] then cookie = common.rotation(args[2]) end
end

function delay()
  return 10
end

function request()
  if not cookie then return wrk.format("GET", path) end
  return wrk.format("GET", path, { ["Cookie"] = cookie() })
end
