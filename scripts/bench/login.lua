-- POST /api/v1/auth/login as the seeded users, round-robin.
-- wrk -s login.lua URL -- LOGIN_FILE
local bodies, i = {}, 0

function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
  i = math.random(#bodies)
end

function request()
  i = i % #bodies + 1
  return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/json" }, bodies[i])
end
