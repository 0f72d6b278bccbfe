-- The scheduler: tasks, gather, sleep, timeout, cancellation, errors.
local ssh = require "luassh"

describe("ssh.spawn and task:wait", function()
  it("runs a function as a task and returns all its results", function()
    local t = ssh.spawn(function(a, b) ssh.sleep(0.01) return a + b, "x", nil end, 2, 3)
    assert.is_true(ssh.is_error ~= nil)
    local r = table.pack(t:wait())
    assert.are.same({5, "x", nil, n = 3}, r)
    assert.is_true(t:done())
    -- Waiting again returns the same results.
    assert.equal(5, (t:wait()))
  end)

  it("does not start the task until the spawner waits or yields", function()
    local started = false
    local t = ssh.spawn(function() started = true end)
    assert.is_false(started)
    t:wait()
    assert.is_true(started)
  end)

  it("re-raises the task's error object from wait", function()
    local err = ssh.Error.new("ProcessError", "boom", {exit_status = 3})
    local t = ssh.spawn(function() ssh.sleep(0) error(err) end)
    local ok, e = pcall(t.wait, t)
    assert.is_false(ok)
    assert.equal(err, e)
    assert.equal(3, e.exit_status)
  end)

  it("reports result() without waiting", function()
    local t = ssh.spawn(function() return 7 end)
    assert.has_error(function() t:result() end)
    t:wait()
    assert.are.same({true, 7}, {t:result()})
    local f = ssh.spawn(function() error("bad", 0) end)
    pcall(f.wait, f)
    assert.are.same({false, "bad"}, {f:result()})
  end)

  it("accepts a callable table", function()
    local callable = setmetatable({}, {__call = function(_, x) return x * 2 end})
    assert.equal(8, ssh.spawn(callable, 4):wait())
  end)

  it("refuses a non-function", function()
    assert.has_error(function() ssh.spawn(42) end)
  end)

  it("lets a task wait for another task that waits", function()
    local inner = ssh.spawn(function() ssh.sleep(0.02) return "inner" end)
    local outer = ssh.spawn(function() return inner:wait() .. "+outer" end)
    assert.equal("inner+outer", outer:wait())
  end)

  it("refuses to let a task wait for itself", function()
    local t
    t = ssh.spawn(function() return pcall(function() return t:wait() end) end)
    local ok, msg = t:wait()
    assert.is_false(ok)
    assert.matches("cannot wait for itself", msg)
  end)

  it("treats coroutine.yield inside a task as letting others run", function()
    local order = {}
    local a = ssh.spawn(function() order[#order + 1] = "a1"; coroutine.yield(); order[#order + 1] = "a2" end)
    local b = ssh.spawn(function() order[#order + 1] = "b1" end)
    a:wait(); b:wait()
    assert.are.same({"a1", "b1", "a2"}, order)
  end)
end)

describe("task:cancel", function()
  it("stops a waiting task with a Cancelled error and runs its <close>", function()
    local closed = false
    local t = ssh.spawn(function()
      local guard <close> = setmetatable({}, {__close = function() closed = true end})
      ssh.sleep(10)
    end)
    ssh.sleep(0.01)
    local t0 = ssh.now()
    assert.is_true(t:cancel())
    local ok, e = pcall(t.wait, t)
    assert.is_false(ok)
    assert.equal("Cancelled", e.kind)
    assert.is_true(closed)
    assert.is_true(t:cancelled())
    assert.is_true(ssh.now() - t0 < 1)
    assert.is_false(t:cancel()) -- already finished
  end)

  it("cancels a task that has not started", function()
    local ran = false
    local t = ssh.spawn(function() ran = true end)
    t:cancel()
    assert.has_error(function() t:wait() end)
    assert.is_false(ran)
  end)

  it("is sticky: a task that swallows Cancelled stops at its next wait", function()
    local reached = false
    local t = ssh.spawn(function()
      pcall(ssh.sleep, 10)
      ssh.sleep(10)
      reached = true
    end)
    ssh.sleep(0.01)
    t:cancel()
    local ok, e = pcall(t.wait, t)
    assert.is_false(ok)
    assert.equal("Cancelled", e.kind)
    assert.is_false(reached)
  end)

  it("wakes every task waiting for the cancelled one", function()
    local target = ssh.spawn(function() ssh.sleep(10) end)
    local w1 = ssh.spawn(function() return pcall(target.wait, target) end)
    local w2 = ssh.spawn(function() return pcall(target.wait, target) end)
    ssh.sleep(0.01)
    target:cancel()
    assert.is_false((w1:wait()))
    assert.is_false((w2:wait()))
  end)
end)

describe("<close> variables", function()
  it("run when a task fails", function()
    local closed_with
    local t = ssh.spawn(function()
      local guard <close> = setmetatable({}, {__close = function(_, e) closed_with = e end})
      ssh.sleep(0)
      error("failure", 0)
    end)
    pcall(t.wait, t)
    assert.equal("failure", closed_with)
  end)
end)

describe("ssh.sleep and ssh.now", function()
  it("sleeps about as long as asked, and now() is monotonic", function()
    local t0 = ssh.now()
    ssh.sleep(0.05)
    local dt = ssh.now() - t0
    assert.is_true(dt >= 0.045, "slept " .. dt)
    assert.is_true(dt < 1, "slept " .. dt)
  end)

  it("sleep(0) lets other tasks run", function()
    local ran = false
    ssh.spawn(function() ran = true end)
    ssh.sleep(0)
    assert.is_true(ran)
  end)

  it("rejects a negative duration", function()
    assert.has_error(function() ssh.sleep(-1) end)
  end)

  it("runs many sleepers concurrently", function()
    local fns = {}
    for i = 1, 200 do fns[i] = function() ssh.sleep(0.05) return i end end
    local t0 = ssh.now()
    local r = ssh.gather(fns)
    assert.is_true(ssh.now() - t0 < 1)
    assert.equal(200, #r)
    assert.equal(137, r[137])
  end)
end)

describe("ssh.timeout", function()
  it("returns the function's results when it finishes in time", function()
    assert.are.same({1, 2, 3}, {ssh.timeout(1, function(a) ssh.sleep(0.01) return a, 2, 3 end, 1)})
  end)

  it("raises a Timeout error object and cancels what the function waited on", function()
    local closed = false
    local t0 = ssh.now()
    local ok, e = pcall(ssh.timeout, 0.05, function()
      local guard <close> = setmetatable({}, {__close = function() closed = true end})
      ssh.sleep(5)
    end)
    assert.is_false(ok)
    assert.equal("Timeout", e.kind)
    assert.is_true(ssh.Error.is(e, "Timeout"))
    assert.matches("timed out after 0.05 seconds", tostring(e))
    assert.is_true(closed)
    assert.is_true(ssh.now() - t0 < 1)
  end)

  it("also times out when the function swallows the first Timeout", function()
    local t0 = ssh.now()
    local ok, e = pcall(ssh.timeout, 0.05, function()
      pcall(ssh.sleep, 5)
      ssh.sleep(5)
    end)
    assert.is_false(ok)
    assert.equal("Timeout", e.kind)
    assert.is_true(ssh.now() - t0 < 1)
  end)

  it("propagates the function's own error", function()
    local ok, e = pcall(ssh.timeout, 1, function() error("mine", 0) end)
    assert.is_false(ok)
    assert.equal("mine", e)
  end)

  it("nests: the outer deadline wins when it is shorter", function()
    local ok, e = pcall(ssh.timeout, 0.05, function()
      return ssh.timeout(5, function() ssh.sleep(5) end)
    end)
    assert.is_false(ok)
    assert.equal("Timeout", e.kind)
    assert.equal(0.05, e.seconds)
  end)

  it("nests: the inner deadline fires first and can be caught", function()
    local r = ssh.timeout(5, function()
      local ok, e = pcall(ssh.timeout, 0.02, ssh.sleep, 5)
      assert.is_false(ok)
      ssh.sleep(0.01) -- the outer scope is still usable
      return e.kind
    end)
    assert.equal("Timeout", r)
  end)

  it("cancels a gather inside it", function()
    local closed = 0
    local fns = {}
    for i = 1, 5 do
      fns[i] = function()
        local g <close> = setmetatable({}, {__close = function() closed = closed + 1 end})
        ssh.sleep(5)
      end
    end
    local ok, e = pcall(ssh.timeout, 0.05, ssh.gather, fns)
    assert.is_false(ok)
    assert.equal("Timeout", e.kind)
    ssh.sleep(0.01)
    assert.equal(5, closed)
  end)
end)

describe("ssh.gather", function()
  it("returns results in order, whatever order they finish in", function()
    local r = ssh.gather {
      function() ssh.sleep(0.03) return "a" end,
      function() return "b" end,
      function() ssh.sleep(0.01) return "c" end,
    }
    assert.are.same({"a", "b", "c", n = 3}, r)
  end)

  it("accepts tasks and functions mixed", function()
    local t = ssh.spawn(function() return 1 end)
    assert.are.same({1, 2, n = 2}, ssh.gather {t, function() return 2 end})
  end)

  it("runs at most `limit` at once, starting them in order", function()
    local running, peak, started = 0, 0, {}
    local fns = {}
    for i = 1, 10 do
      fns[i] = function()
        started[#started + 1] = i
        running = running + 1
        peak = math.max(peak, running)
        ssh.sleep(0.01)
        running = running - 1
        return i
      end
    end
    local r = ssh.gather(fns, {limit = 3})
    assert.equal(3, peak)
    assert.are.same({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, started)
    for i = 1, 10 do assert.equal(i, r[i]) end
  end)

  it("collects errors in place with return_errors", function()
    local r = ssh.gather({
      function() return 1 end,
      function() error(ssh.Error.new("PermissionDenied", "no")) end,
      function() return 3 end,
    }, {return_errors = true})
    assert.equal(1, r[1])
    assert.equal("PermissionDenied", r[2].kind)
    assert.equal(3, r[3])
  end)

  it("raises the first error and cancels the rest without return_errors", function()
    local closed = 0
    local ok, e = pcall(ssh.gather, {
      function() ssh.sleep(0.01) error("first", 0) end,
      function()
        local g <close> = setmetatable({}, {__close = function() closed = closed + 1 end})
        ssh.sleep(5)
      end,
    })
    assert.is_false(ok)
    assert.equal("first", e)
    ssh.sleep(0)
    assert.equal(1, closed)
  end)

  it("handles an empty list", function()
    assert.are.same({n = 0}, ssh.gather {})
  end)
end)

describe("waiting where Lua cannot yield", function()
  it("raises a clear error inside table.sort's comparator", function()
    local ok, e = pcall(table.sort, {3, 2, 1}, function(a, b) ssh.sleep(0) return a < b end)
    assert.is_false(ok)
    assert.matches("cannot yield here", tostring(e))
  end)

  it("raises a clear error in a coroutine the script made itself", function()
    local co = coroutine.create(function() ssh.sleep(0.01) end)
    local ok, e = coroutine.resume(co)
    assert.is_false(ok)
    assert.matches("must run inside a luassh task", tostring(e))
  end)

  it("raises a clear error at require's top level", function()
    package.preload["spec_yield_in_require"] = function() ssh.sleep(0) end
    local ok, e = pcall(require, "spec_yield_in_require")
    assert.is_false(ok)
    assert.matches("cannot yield here", tostring(e))
  end)

  it("works inside a Lua-level metamethod, which Lua 5.4 can yield across", function()
    local t = setmetatable({}, {__index = function(_, k) ssh.sleep(0.001) return k .. "!" end})
    assert.equal("x!", t.x)
  end)

  it("sleeps forever on math.huge, until cancelled (regression)", function()
    local t = ssh.spawn(function() ssh.sleep(math.huge) end)
    ssh.sleep(0.05)
    assert.is_false(t:done())
    t:cancel()
    pcall(t.wait, t)
    assert.is_true(t:cancelled())
  end)
end)
