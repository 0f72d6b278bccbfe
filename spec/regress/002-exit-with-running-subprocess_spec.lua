-- Regression: a script that ended while a subprocess was still running
-- blocked in the loop until the child exited (sched.c llsh_run_until ran
-- the loop before the tasks it had just made ready).
local util = require "spec.support.util"

describe("a script ending with a running subprocess", function()
  it("exits at once and kills the child", function()
    local dir = util.tmpdir()
    util.write(dir .. "/s.lua", [[
local ssh = require "luassh"
local p = ssh.create_subprocess("sleep 30")
io.open(arg[1], "w"):write(p.pid):close()
ssh.sleep(0.05)
print("done")
]])
    local t0 = os.time()
    local r = util.luassh(util.q(dir .. "/s.lua") .. " " .. util.q(dir .. "/pid"))
    assert.equal(0, r.status, r.stderr)
    assert.equal("done\n", r.stdout)
    assert.is_true(os.time() - t0 < 10)
    local pid = io.open(dir .. "/pid"):read("a")
    -- the child is gone (killed and reaped)
    assert.is_false(os.execute("kill -0 " .. pid .. " 2>/dev/null") == true)
    util.rmtree(dir)
  end)
end)
