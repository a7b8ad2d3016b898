-- GET a path with a session cookie, round-robin over the seeded sessions.
-- wrk -s cookies.lua URL -- PATH COOKIE_FILE
local path, cookies, i = "/", {}, 0

function init(args)
  path = args[1]
  for line in io.lines(args[2]) do cookies[#cookies + 1] = line end
  i = math.random(#cookies)
end

function request()
  i = i % #cookies + 1
  return wrk.format("GET", path, { ["Cookie"] = cookies[i] })
end
