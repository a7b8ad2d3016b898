-- PATCH /api/v1/auth/profile as the seeded readers, round-robin: each
-- answer is a committed, fsynced change that emits user.updated.
-- wrk -s patch.lua URL -- COOKIE_FILE
local cookies, i, n = {}, 0, 0

function init(args)
  for line in io.lines(args[1]) do cookies[#cookies + 1] = line end
  i = math.random(#cookies)
end

function request()
  i = i % #cookies + 1
  n = n + 1
  return wrk.format("PATCH", "/api/v1/auth/profile", { ["Cookie"] = cookies[i], ["Content-Type"] = "application/json" },
    '{"first_name":"Bench' .. n .. '"}')
end
