-- Callback example without client callbacks: only the session's.
local ssh = require "luassh"

local MySSHClientSession = {}

function MySSHClientSession:data_received(data, datatype)
  io.write(data)
end

function MySSHClientSession:connection_lost(exc)
  if exc then io.stderr:write("SSH session error: " .. tostring(exc) .. "\n") end
end

local function run_client()
  local conn <close> = ssh.connect("localhost")
  local chan, session = conn:create_session(MySSHClientSession, "ls abc")
  chan:wait_closed()
end

local ok, err = pcall(run_client)
if not ok then
  io.stderr:write("SSH connection failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
