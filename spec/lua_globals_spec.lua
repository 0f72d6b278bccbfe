-- The runtime's Lua modules (lua/luassh/*.lua) read and write no global
-- variable but Lua 5.4's standard ones: a misspelt or out-of-scope local
-- (a nil global at run time) is caught here, from the bytecode listing
-- of luac5.4 (GETTABUP/SETTABUP on _ENV), before any code path runs it.
local util = require "spec.support.util"

local STANDARD = {}
for name in ([[_G _VERSION arg assert collectgarbage coroutine debug dofile
  error getmetatable io ipairs load loadfile math next os package pairs pcall
  print rawequal rawget rawlen rawset require select setmetatable string
  table tonumber tostring type utf8 warn xpcall]]):gmatch("%S+") do
  STANDARD[name] = true
end

local function modules()
  local p = assert(io.popen("ls " .. util.q(util.root .. "/lua/luassh") .. "/*.lua"))
  local list = {}
  for path in p:lines() do list[#list + 1] = path end
  p:close()
  return list
end

local have_luac = os.execute("command -v luac5.4 >/dev/null 2>&1")

describe("lua/luassh modules", function()
  (have_luac and it or pending)("use only standard globals", function()
    local bad = {}
    local files = modules()
    assert.is_true(#files > 10)
    for _, path in ipairs(files) do
      local r = util.run("luac5.4 -p -l " .. util.q(path))
      assert.equal(0, r.status, path .. ": " .. r.stderr)
      for line, op, name in r.stdout:gmatch("%[(%d+)%]%s+([GS]ETTABUP)[^\n]-_ENV \"([^\"]+)\"") do
        if not STANDARD[name] then
          bad[#bad + 1] = ("%s:%s: %s %s"):format(path, line,
            op == "SETTABUP" and "sets global" or "reads global", name)
        end
      end
    end
    assert.same({}, bad)
  end)
end)
