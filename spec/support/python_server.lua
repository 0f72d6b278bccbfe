-- Starts a Python SSH server script from spec/support (asyncssh_server.py,
-- paramiko_server.py) with Debian's python3: `python3 SCRIPT DIR`, which
-- writes DIR/host_key.pub, DIR/port and DIR/pid (announce.py), then serves
-- until killed.
local ssh = require "luassh"
local util = require "spec.support.util"

local M = {}

M.PYTHON = "/usr/bin/python3"

function M.has_module(name)
  return util.run(M.PYTHON .. " -c 'import " .. name .. "' 2>/dev/null").status == 0
end

--- start(script [, prepare]) -> server {port=, dir=, host_key_pub=,
--- known_hosts=, pid=, stop=, log=}.  prepare(dir) runs first (keys the
--- script reads); known_hosts trusts the host key in host_key_pub (nil
--- when the script writes none).
function M.start(script, prepare)
  local dir = util.tmpdir()
  local function log() return util.read_file(dir .. "/log") or "" end
  if prepare then prepare(dir) end
  os.execute(string.format("%s -W ignore %s %s > %s 2>&1 &", M.PYTHON,
                           util.q(util.root .. "/spec/support/" .. script),
                           util.q(dir), util.q(dir .. "/log")))
  for _ = 1, 200 do
    local port = tonumber(util.read_file(dir .. "/port") or "")
    if port then
      local srv = {port = port, dir = dir, host_key_pub = dir .. "/host_key.pub",
                   log = log}
      if util.read_file(srv.host_key_pub) then
        srv.known_hosts = ssh.import_known_hosts(ssh.format_known_hosts_entry(
          "127.0.0.1", port, ssh.read_public_key(srv.host_key_pub)))
      end
      function srv.pid() return (util.read_file(dir .. "/pid") or ""):match("%d+") end
      function srv.stop()
        util.kill_pidfile(dir .. "/pid")
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
