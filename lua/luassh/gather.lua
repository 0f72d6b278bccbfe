-- ssh.gather: run many functions (or wait for many tasks) at once.
local core = require "luassh.core"

local spawn = core.spawn

local is_task = core.is_task

--- gather(items [, opts]) -> results
-- items: a list of functions or tasks.  Functions run as their own tasks;
-- with opts.limit = n at most n of them run at once, started in order.
-- Returns a list whose i-th entry is the first result of item i.  When an
-- item fails: with opts.return_errors, its error object takes its place in
-- the list; otherwise the remaining items are cancelled and the first
-- error (in completion order) is raised.
local function gather(items, opts)
  assert(type(items) == "table", "gather: expected a list of functions or tasks")
  opts = opts or {}
  local n = #items
  local limit = opts.limit or n
  assert(type(limit) == "number" and limit >= 1 or n == 0,
         "gather: limit must be a positive number")
  local return_errors = opts.return_errors
  local results, tasks = {}, {}
  local next_index, first_err, stopping = 0, nil, false

  local function fail(err)
    if first_err == nil then first_err = err end
    stopping = true
    for j = 1, n do
      local t = tasks[j]
      if t and not t:done() then t:cancel() end
    end
  end

  local function worker()
    while not stopping do
      next_index = next_index + 1
      local i = next_index
      if i > n then return end
      local item = items[i]
      local t = is_task(item) and item or spawn(item)
      tasks[i] = t
      local ok, value = pcall(t.wait, t)
      if ok then
        results[i] = value
      elseif return_errors then
        results[i] = value
      elseif not stopping then
        fail(value)
      end
    end
  end

  local nworkers = math.min(n, math.max(limit, 1))
  local workers = {}
  for w = 1, nworkers do workers[w] = spawn(worker) end
  local ok, err = pcall(function()
    for w = 1, nworkers do workers[w]:wait() end
  end)
  if not ok then
    -- The gathering task itself was interrupted: stop everything.
    stopping = true
    for w = 1, nworkers do workers[w]:cancel() end
    for j = 1, n do
      local t = tasks[j]
      if t and not t:done() then t:cancel() end
    end
    error(err, 0)
  end
  if first_err ~= nil then error(first_err, 0) end
  results.n = n
  return results
end

return gather
