-- Starts spec/support/asyncssh_server.py (an AsyncSSH server with scripted
-- users, see there) on a random loopback port.
local pyserver = require "spec.support.python_server"

local M = {}

function M.available()
  return pyserver.has_module("asyncssh")
end

--- start() -> server {port=, dir=, host_key_pub=, pid=, stop=, log=}
function M.start()
  return pyserver.start("asyncssh_server.py")
end

return M
