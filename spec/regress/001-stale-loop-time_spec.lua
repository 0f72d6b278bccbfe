-- Regression: libuv caches the loop time once per iteration.  After a
-- script blocked the loop (os.execute, io.popen) for longer than a
-- deadline, timers armed from the stale time fired at once: ssh.timeout
-- raised Timeout immediately and the first connection after a long
-- blocking call timed out (seen in CI after a 90 s shell script).
local ssh = require "luassh"

describe("timers armed after the loop was blocked", function()
  it("wait their full time", function()
    ssh.sleep(0) -- let the loop cache its time now
    os.execute("sleep 1.2") -- block the loop, leaving that time stale
    local t0 = ssh.now()
    local ok, err = pcall(ssh.timeout, 1, ssh.sleep, 0.3)
    assert.is_true(ok, tostring(err))
    local dt = ssh.now() - t0
    assert.is_true(dt >= 0.28, "slept only " .. dt)
  end)

  it("do not fire early for sleep", function()
    ssh.sleep(0)
    os.execute("sleep 0.6")
    local t0 = ssh.now()
    ssh.sleep(0.5)
    assert.is_true(ssh.now() - t0 >= 0.48)
  end)
end)
