-- POST /api/v1/auth/addresses as the seeded writers (users with free
-- slots), round-robin, so each answer is a committed, fsynced create.
-- wrk -s create.lua URL -- COOKIE_FILE
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
local cookie
local body = '{"label":"Bench","first_name":"Bench","last_name":"User","street_address":"Hauptstr. 1","city":"Berlin","postal_code":"10115","country":"DE"}'

function init(args)
  cookie = common.rotation(args[1])
end

function request()
  return wrk.format("POST", "/api/v1/auth/addresses", { ["Cookie"] = cookie(), ["Content-Type"] = "application/json" }, body)
end

-- Each wrk thread has its own Lua state: done() (main thread) sums the
-- threads' counters.
local threads = {}
function setup(thread) threads[#threads + 1] = thread end

bad = 0
function response(status)
  if status ~= 201 then bad = bad + 1 end
end

function done(summary)
  local n = 0
  for _, t in ipairs(threads) do n = n + t:get("bad") end
  io.write(string.format("non-201 answers: %d\n", n))
end
