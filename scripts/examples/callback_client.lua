-- Callback example: a client table and a session table receive the
-- events of the connection and of the session.
local ssh = require "luassh"

local MySSHClientSession = {}

function MySSHClientSession:data_received(data, datatype)
  io.write(data)
end

function MySSHClientSession:connection_lost(exc)
  if exc then io.stderr:write("SSH session error: " .. tostring(exc) .. "\n") end
end

local MySSHClient = {}

function MySSHClient:connection_made(conn)
  print(("Connection made to %s."):format(conn:get_extra_info("peername")[1]))
end

function MySSHClient:auth_completed()
  print("Authentication successful.")
end

local function run_client()
  local conn <close>, client = ssh.create_connection(MySSHClient, "localhost")
  local chan, session = conn:create_session(MySSHClientSession, "ls abc")
  chan:wait_closed()
end

local ok, err = pcall(run_client)
if not ok then
  io.stderr:write("SSH connection failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
