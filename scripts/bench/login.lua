-- POST /api/v1/auth/login as the seeded users, round-robin.
-- wrk -s login.lua URL -- LOGIN_FILE
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
local body

function init(args)
  body = common.rotation(args[1])
end

function request()
  return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" }, body())
end
