-- GET a path with a bearer session token, round-robin over the seeded tokens.
-- wrk -s bearer.lua URL -- PATH TOKEN_FILE
local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
common.get_each("Authorization", "Bearer ")
