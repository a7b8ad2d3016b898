-- A latency probe, not a second load: one request every 10 ms per
-- connection (GET PATH, with a session cookie when COOKIE_FILE is given),
-- so the probe measures what a client meets without taking CPU from the
-- load it watches.
-- wrk -s probe.lua URL -- PATH [COOKIE_FILE]
local path, cookies, i = "/", {}, 0

function init(args)
  path = args[1]
  if args[2] then
    for line in io.lines(args[2]) do cookies[#cookies + 1] = line end
    i = math.random(#cookies)
  end
end

function delay()
  return 10
end

function request()
  if #cookies == 0 then return wrk.format("GET", path) end
  i = i % #cookies + 1
  return wrk.format("GET", path, { ["Cookie"] = cookies[i] })
end
