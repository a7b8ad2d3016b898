-- What the bench scripts share. Each loads it from its own folder, so that
-- wrk finds it from any working directory:
--   local common = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "common.lua")
local common = {}

-- rotation(file, prefix) reads a seed file (one value a line, prefix put
-- before each) and returns a function that gives its values round-robin,
-- from a random start, so that wrk's threads (each its own Lua state) spread
-- over them.
function common.rotation(file, prefix)
  local values = {}
  for line in io.lines(file) do values[#values + 1] = (prefix or "") .. line end
  local i = math.random(#values)
  return function()
    i = i % #values + 1
    return values[i]
  end
end

-- get_each(header, prefix) makes the calling script GET a path with header
-- set to each value of a seed file in turn: wrk -s SCRIPT URL -- PATH FILE.
-- It defines wrk's init and request, which wrk looks up as globals.
function common.get_each(header, prefix)
  local path, value = "/", nil
  function init(args)
    path = args[1]
    value = common.rotation(args[2], prefix)
  end
  function request()
    return wrk.format("GET", path, { [header] = value() })
  end
end

return common
