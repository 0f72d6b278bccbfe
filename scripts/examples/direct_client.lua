-- Direct TCP connection, callback style: the server connects to port 80
-- of www.google.com (or HOST PORT given as arguments) and an HTTP HEAD
-- request for the document root goes through it; the session table
-- prints what comes back.  TCP connections carry bytes.
--   luassh direct_client.lua [host [port]]
local ssh = require "luassh"

local HOST, PORT = arg[1] or "www.google.com", tonumber(arg[2]) or 80

local MySSHTCPSession = {}

function MySSHTCPSession:data_received(data, datatype)
  io.write(data)
end

function MySSHTCPSession:connection_lost(exc)
  if exc then io.stderr:write("Direct connection error: " .. tostring(exc) .. "\n") end
end

local function run_client()
  local conn <close> = ssh.connect("localhost")
  local chan, session = conn:create_connection(MySSHTCPSession, HOST, PORT)
  chan:write("HEAD / HTTP/1.0\r\n\r\n")
  chan:write_eof()
  chan:wait_closed()
end

local ok, err = pcall(run_client)
if not ok then
  io.stderr:write("SSH connection failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
