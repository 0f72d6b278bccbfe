-- Runs a luassh server script as its own process (so that blocking
-- clients such as OpenSSH's scp/sftp can be driven with util.run), with
-- a fresh ed25519 user key in a temp dir.  Used by the interop specs of
-- the server's subsystems.
local util = require "spec.support.util"

local M = {}

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local d = f:read("a")
  f:close()
  return d
end
M.read = read

function M.sh(cmd)
  local r = util.run(cmd)
  assert(r.status == 0, cmd .. "\n" .. r.stdout .. r.stderr)
  return r
end

--- start(dir, listen_opts_source) -> port
--- dir gets ukey/ukey.pub; listen_opts_source is Lua source for the
--- ssh.listen options after authorized_client_keys (e.g. "allow_scp = true").
function M.start(dir, listen_opts_source)
  local q = util.q
  M.sh(("ssh-keygen -q -t ed25519 -N '' -f %s"):format(q(dir .. "/ukey")))
  util.write(dir .. "/srv.lua", ([[
local ssh = require "luassh"
local l = ssh.listen("127.0.0.1", 0, {authorized_client_keys = %q,
  log_host_key = false, %s})
local f = io.open(%q, "w") f:write(l:get_port()) f:close()
ssh.sleep(300)
]]):format(dir .. "/ukey.pub", listen_opts_source, dir .. "/port.tmp"))
  os.execute(("%s %s >%s 2>&1 & echo $! > %s"):format(q(util.bin),
    q(dir .. "/srv.lua"), q(dir .. "/srv.log"), q(dir .. "/srv.pid")))
  for _ = 1, 200 do
    local p = read(dir .. "/port.tmp")
    if p and p ~= "" then return tonumber(p) end
    os.execute("sleep 0.05")
  end
  error("the server did not start: " .. tostring(read(dir .. "/srv.log")))
end

--- stop(dir): kills the server started in dir and removes dir.
function M.stop(dir)
  os.execute("kill " .. (read(dir .. "/srv.pid") or ""):gsub("%s", "") .. " 2>/dev/null")
  util.rmtree(dir)
end

--- OpenSSH client options for the server's port and the user key.
function M.ssh_opts(dir, port, port_flag)
  return ("-i %s -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "
          .. "-o BatchMode=yes %s %d "):format(util.q(dir .. "/ukey"), port_flag or "-p", port)
end

return M
