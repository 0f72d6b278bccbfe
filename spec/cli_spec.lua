-- The luassh binary behaves like the lua interpreter.
local util = require "spec.support.util"
local q = util.q

describe("luassh command line", function()
  local dir
  setup(function() dir = util.tmpdir() end)
  teardown(function() util.rmtree(dir) end)

  it("passes the arg table and ... to a script", function()
    local script = dir .. "/args.lua"
    util.write(script, [[
      print(arg[0], arg[1], arg[2], #arg, arg[-1] ~= nil)
      print(select("#", ...), ...)
    ]])
    local r = util.luassh(q(script) .. " one 'two words'")
    assert.equal(0, r.status)
    assert.equal(script .. "\tone\ttwo words\t2\ttrue\n2\tone\ttwo words\n", r.stdout)
  end)

  it("runs -e chunks and -l modules in order", function()
    util.write(dir .. "/mymod.lua", "return {value = 41}")
    local r = util.luassh("-e 'x = 1' -l mymod -e 'print(x + mymod.value)'", nil,
                          "LUA_PATH=" .. q(dir .. "/?.lua"))
    assert.equal(0, r.status)
    assert.equal("42\n", r.stdout)
  end)

  it("supports -l g=mod", function()
    util.write(dir .. "/othermod.lua", "return {value = 7}")
    local r = util.luassh("-l om=othermod -e 'print(om.value)'", nil,
                          "LUA_PATH=" .. q(dir .. "/?.lua"))
    assert.equal("7\n", r.stdout)
  end)

  it("runs LUA_INIT, and -E ignores it and LUA_PATH", function()
    local r = util.luassh("-e 'print(INIT)'", nil, "LUA_INIT='INIT=5'")
    assert.equal("5\n", r.stdout)
    r = util.luassh("-E -e 'print(INIT, package.path:find(\"nowhere\"))'", nil,
                    "LUA_INIT='INIT=5' LUA_PATH='/nowhere/?.lua'")
    assert.equal("nil\tnil\n", r.stdout)
  end)

  it("reads LUA_INIT from a file with @", function()
    util.write(dir .. "/init.lua", "FROMFILE = 'yes'")
    local r = util.luassh("-e 'print(FROMFILE)'", nil, "LUA_INIT=@" .. q(dir .. "/init.lua"))
    assert.equal("yes\n", r.stdout)
  end)

  it("uses Debian's default package paths", function()
    local r = util.luassh("-e 'print(package.path) print(package.cpath)'")
    assert.matches("/usr/share/lua/5.4/?.lua", r.stdout, 1, true)
    assert.matches("/usr/lib/x86_64-linux-gnu/lua/5.4/?.so", r.stdout, 1, true)
  end)

  it("loads Debian's Lua C modules (exported Lua C API)", function()
    local r = util.luassh("-e 'local lfs = require \"lfs\" print(type(lfs.currentdir()))'")
    assert.equal(0, r.status, r.stderr)
    assert.equal("string\n", r.stdout)
  end)

  it("runs a script from standard input with -", function()
    local r = util.luassh("- a b", "print(arg[1], arg[2], ...)")
    assert.equal("a\tb\ta\tb\n", r.stdout)
  end)

  it("treats everything after -- as the script and its arguments", function()
    util.write(dir .. "/-dash.lua", "print('dash', ...)")
    local r = util.luassh("-- " .. q(dir .. "/-dash.lua") .. " -x")
    assert.equal("dash\t-x\n", r.stdout)
  end)

  it("runs standard input when it is not a terminal and there are no arguments", function()
    local r = util.luassh("", "print('from stdin')")
    assert.equal("from stdin\n", r.stdout)
  end)

  it("exits 1 with the message and a traceback on an uncaught error", function()
    local r = util.luassh("-e 'local function f() error(\"kaboom\") end f()'")
    assert.equal(1, r.status)
    assert.matches("kaboom", r.stderr)
    assert.matches("stack traceback:", r.stderr)
    assert.matches("in local 'f'", r.stderr, 1, true)
  end)

  it("prints error objects with their __tostring", function()
    local r = util.luassh("-e 'local ssh = require \"luassh\" ssh.timeout(0.01, ssh.sleep, 1)'")
    assert.equal(1, r.status)
    assert.matches("Timeout: timed out after 0.01 seconds", r.stderr, 1, true)
  end)

  it("honours os.exit", function()
    assert.equal(3, util.luassh("-e 'os.exit(3)'").status)
    assert.equal(0, util.luassh("-e 'os.exit(true)'").status)
    assert.equal(1, util.luassh("-e 'os.exit(false)'").status)
  end)

  it("reports a syntax error with exit status 1", function()
    local r = util.luassh("-e 'x = = 1'")
    assert.equal(1, r.status)
    assert.matches("unexpected symbol", r.stderr)
  end)

  it("rejects an unknown option with usage", function()
    local r = util.luassh("-z")
    assert.equal(1, r.status)
    assert.matches("unrecognized option '%-z'", r.stderr)
    assert.matches("usage:", r.stderr)
    r = util.luassh("-e")
    assert.matches("'%-e' needs argument", r.stderr)
  end)

  it("shows versions with --version and -v", function()
    local r = util.luassh("--version")
    assert.equal(0, r.status)
    assert.matches("^luassh %d+%.%d+%.%d+", r.stdout)
    assert.matches("Lua 5.4", r.stdout, 1, true)
    assert.matches("OpenSSL 3", r.stdout, 1, true)
    assert.matches("libuv 1%.", r.stdout)
    r = util.luassh("-v")
    assert.matches("Lua 5.4", r.stdout, 1, true)
  end)

  it("shows examples with --help", function()
    local r = util.luassh("--help")
    assert.equal(0, r.status)
    assert.matches("Examples:", r.stdout, 1, true)
    assert.matches("ssh.gather", r.stdout, 1, true)
  end)

  it("turns warnings on with -W", function()
    local r = util.luassh("-W -e 'warn(\"careful\")'")
    assert.matches("Lua warning: careful", r.stderr, 1, true)
    r = util.luassh("-e 'warn(\"careful\")'")
    assert.equal("", r.stderr)
  end)

  it("lets top-level code call functions that wait", function()
    local r = util.luassh("-e 'local ssh = require \"luassh\" ssh.sleep(0.01) print(\"after\")'")
    assert.equal("after\n", r.stdout)
  end)

  it("runs from any directory without the source tree", function()
    local r = util.run("cd / && " .. q(util.bin) .. " -e 'print(require(\"luassh\").version)'")
    assert.equal(0, r.status, r.stderr)
    assert.matches("^%d+%.%d+%.%d+\n$", r.stdout)
  end)

  it("cancels tasks left running at the end, running their <close>", function()
    local r = util.luassh([[-e 'local ssh = require "luassh"
      ssh.spawn(function()
        local g <close> = setmetatable({}, {__close = function() print("closed") end})
        ssh.sleep(60)
      end)
      ssh.sleep(0.01) print("end of main")']])
    assert.equal(0, r.status)
    assert.equal("end of main\nclosed\n", r.stdout)
  end)

  it("reports an error in a task nobody waited for, with its traceback", function()
    local r = util.luassh([[-e 'local ssh = require "luassh"
      local function worker() ssh.sleep(0) error("lost error") end
      ssh.spawn(worker)
      ssh.sleep(0.01)']])
    assert.equal(0, r.status)
    assert.matches("nobody waited", r.stderr)
    assert.matches("lost error", r.stderr)
    assert.matches("stack traceback:", r.stderr)
  end)

  it("does not report errors that were retrieved or cancellations", function()
    local r = util.luassh([[-e 'local ssh = require "luassh"
      local t = ssh.spawn(function() error("seen") end)
      pcall(t.wait, t)
      local c = ssh.spawn(function() ssh.sleep(9) end)
      ssh.sleep(0) c:cancel() ssh.sleep(0)']])
    assert.equal(0, r.status)
    assert.equal("", r.stderr)
  end)

  it("detects a deadlock instead of hanging", function()
    local r = util.luassh([[-e 'local ssh = require "luassh"
      local main = ssh.current_task()
      local t = ssh.spawn(function() main:wait() end)
      t:wait()']])
    assert.equal(1, r.status)
    assert.matches("deadlock", r.stderr)
  end)

  it("is loadable from stock lua5.4 as a C module, with ssh.run driving the loop", function()
    if os.getenv("LUASSH_SANITIZED") then
      -- A sanitizer-built .so cannot load into an uninstrumented lua5.4;
      -- the plain build checks this.
      return
    end
    local so_dir = util.bin:match("^(.*)/[^/]*$")
    local r = util.run("lua5.4 -e " .. q([[
      package.cpath = "]] .. so_dir .. [[/?.so;" .. package.cpath
      local ssh = require "luassh"
      print(ssh.run(function(a)
        ssh.sleep(0.01)
        return ssh.gather({function() return a end, function() ssh.sleep(0.01) return 2 end})[2] + a
      end, 40))
      print(pcall(ssh.run, function() error("inside", 0) end))
      print(pcall(ssh.sleep, 1))]]))
    assert.equal(0, r.status, r.stderr)
    assert.matches("^42\nfalse\tinside\nfalse\t.*must run inside a luassh task", r.stdout)
  end)
end)
