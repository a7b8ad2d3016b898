-- GET a path with a bearer session token, round-robin over the seeded tokens.
-- wrk -s bearer.lua URL -- PATH TOKEN_FILE
local path, tokens, i = "/", {}, 0

function init(args)
  path = args[1]
  for line in io.lines(args[2]) do tokens[#tokens + 1] = "Bearer " .. line end
  i = math.random(#tokens)
end

function request()
  i = i % #tokens + 1
  return wrk.format("GET", path, { ["Authorization"] = tokens[i] })
end
