-- Starts spec/support/asyncssh_server.py (an AsyncSSH server with scripted
-- users, see there) on a random loopback port.
local util = require "spec.support.util"

local M = {}

local PYTHON = "/usr/bin/python3"

function M.available()
  local r = util.run(PYTHON .. " -c 'import asyncssh' 2>/dev/null")
  return r.status == 0
end

--- start() -> server {port=, dir=, host_key_pub=, stop=function}
function M.start()
  local dir = util.tmpdir()
  local script = util.root .. "/spec/support/asyncssh_server.py"
  os.execute(string.format("%s -W ignore %s %s > %s 2>&1 &", PYTHON,
                           util.q(script), util.q(dir),
                           util.q(dir .. "/log")))
  for _ = 1, 200 do
    local f = io.open(dir .. "/port", "r")
    if f then
      local port = tonumber(f:read("l"))
      f:close()
      local srv = {port = port, dir = dir,
                   host_key_pub = dir .. "/host_key.pub"}
      function srv.pid()
        local pf = io.open(dir .. "/pid", "r")
        local pid = pf and pf:read("l")
        if pf then pf:close() end
        return pid
      end
      function srv.stop()
        local pf = io.open(dir .. "/pid", "r")
        local pid = pf and pf:read("l")
        if pf then pf:close() end
        if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
        util.rmtree(dir)
      end
      function srv.log()
        local lf = io.open(dir .. "/log", "r")
        local text = lf and lf:read("a") or ""
        if lf then lf:close() end
        return text
      end
      return srv
    end
    os.execute("sleep 0.05")
  end
  local lf = io.open(dir .. "/log", "r")
  local log = lf and lf:read("a") or ""
  if lf then lf:close() end
  util.rmtree(dir)
  error("could not start the asyncssh server:\n" .. log)
end

return M
