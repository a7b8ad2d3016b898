-- GET a path with a session cookie, round-robin over the seeded sessions.
-- wrk -s cookies.lua URL -- PATH COOKIE_FILE
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
common.get_each("Cookie")
