-- PATCH /api/v1/auth/profile as the seeded readers, round-robin: each
-- answer is a committed, fsynced change that emits user.updated.
-- wrk -s patch.lua URL -- COOKIE_FILE
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
local cookie, n = nil, 0

function init(args)
  cookie = common.rotation(args[1])
end

function request()
  n = n + 1
  return wrk.format("PATCH", "/api/v1/auth/profile", { ["Cookie"] = cookie(), ["Content-Type"] = "application/json" },
    '{"first_name":"Bench' .. n .. '"}')
end
