-- Starts a Python SSH server script from spec/support (asyncssh_server.py,
-- paramiko_server.py) with Debian's python3: `python3 SCRIPT DIR`, which
-- writes DIR/host_key.pub, DIR/port and DIR/pid, then serves until killed.
local util = require "spec.support.util"

local M = {}

M.PYTHON = "/usr/bin/python3"

function M.has_module(name)
  return util.run(M.PYTHON .. " -c 'import " .. name .. "' 2>/dev/null").status == 0
end

--- start(script [, prepare]) -> server {port=, dir=, host_key_pub=, pid=,
--- stop=, log=}.  prepare(dir) runs first (keys the script reads).
function M.start(script, prepare)
  local dir = util.tmpdir()
  local function log()
    local f = io.open(dir .. "/log", "r")
    local text = f and f:read("a") or ""
    if f then f:close() end
    return text
  end
  if prepare then prepare(dir) end
  os.execute(string.format("%s -W ignore %s %s > %s 2>&1 &", M.PYTHON,
                           util.q(util.root .. "/spec/support/" .. script),
                           util.q(dir), util.q(dir .. "/log")))
  for _ = 1, 200 do
    local f = io.open(dir .. "/port", "r")
    if f then
      local port = tonumber(f:read("l"))
      f:close()
      local srv = {port = port, dir = dir, host_key_pub = dir .. "/host_key.pub",
                   log = log}
      function srv.pid()
        local pf = io.open(dir .. "/pid", "r")
        local pid = pf and pf:read("l")
        if pf then pf:close() end
        return pid
      end
      function srv.stop()
        local pid = srv.pid()
        if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
        util.rmtree(dir)
      end
      return srv
    end
    os.execute("sleep 0.05")
  end
  local text = log()
  util.rmtree(dir)
  error("could not start " .. script .. ":\n" .. text)
end

return M
