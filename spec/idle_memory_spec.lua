-- Memory a busy-then-idle process gives back (issue 6, RSS per idle
-- connection; src/lua_bindings/sched.c "Memory"): a finished task drops
-- its Lua thread, and after a burst of tasks the scheduler collects
-- garbage and trims the heap once the loop has gone quiet.
local ssh = require "luassh"

describe("finished tasks", function()
  it("let go of their thread but keep their outcome", function()
    local weak = setmetatable({}, {__mode = "k"})
    local t = ssh.spawn(function()
      weak[coroutine.running()] = true
      ssh.sleep(0)
      return "done", 42
    end)
    assert.are.same({"done", 42}, {t:wait()})
    collectgarbage()
    collectgarbage()
    assert.is_nil(next(weak), "the finished task's thread is still alive")
    -- The task object and its results live on.
    assert.is_true(t:done())
    assert.are.same({"done", 42}, {t:wait()})
    assert.are.same({true, "done", 42}, {t:result()})
  end)

  it("let go of their thread after a failure too, keeping the error", function()
    local weak = setmetatable({}, {__mode = "k"})
    local t = ssh.spawn(function()
      weak[coroutine.running()] = true
      ssh.sleep(0)
      error("bad", 0)
    end)
    local ok, e = pcall(t.wait, t)
    assert.is_false(ok)
    assert.equal("bad", e)
    collectgarbage()
    collectgarbage()
    assert.is_nil(next(weak))
    assert.are.same({false, "bad"}, {t:result()})
  end)

  it("are no longer the current task of a coroutine they made", function()
    local inner
    local t = ssh.spawn(function()
      inner = coroutine.create(function() return ssh.current_task() end)
      return ssh.current_task()
    end)
    local me = t:wait()
    assert.equal(t, me)
    -- A plain coroutine is never taken for a task, before or after.
    assert.are.same({true, nil}, {coroutine.resume(inner)})
  end)
end)

describe("the idle trim", function()
  local saved

  before_each(function()
    -- A pause this long keeps Lua's own collector from running during
    -- the test, so only the scheduler's idle collection can run the
    -- finalizer below.
    saved = collectgarbage("incremental", 1000, 100)
    collectgarbage()
  end)

  after_each(function()
    if saved == "generational" then collectgarbage("generational") end
  end)

  it("collects garbage once the loop is quiet after a burst of tasks", function()
    local finalized = false
    setmetatable({}, {__gc = function() finalized = true end})
    local tasks = {}
    for i = 1, 100 do tasks[i] = ssh.spawn(function() return i end) end
    for i = 1, 100 do assert.equal(i, tasks[i]:wait()) end
    assert.is_false(finalized)
    local deadline = ssh.now() + 3
    while not finalized and ssh.now() < deadline do ssh.sleep(0.05) end
    assert.is_true(finalized, "no idle collection within 3 s of the burst")
    -- (3 s: a trim made less than 2 s earlier by another spec delays it.)
  end)

  it("does nothing after a handful of tasks", function()
    local finalized = false
    setmetatable({}, {__gc = function() finalized = true end})
    for _ = 1, 3 do ssh.spawn(function() end):wait() end
    ssh.sleep(0.6)
    assert.is_false(finalized)
  end)

  it("leaves garbage alone while the script has stopped the collector", function()
    collectgarbage("stop")
    local finalized = false
    setmetatable({}, {__gc = function() finalized = true end})
    local tasks = {}
    for i = 1, 100 do tasks[i] = ssh.spawn(function() return i end) end
    for i = 1, 100 do tasks[i]:wait() end
    -- Past the quiet period and the minimum gap between two trims.
    ssh.sleep(2.6)
    local was = finalized
    collectgarbage("restart")
    assert.is_false(was)
  end)
end)
