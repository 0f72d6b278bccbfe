-- Direct TCP connection with the streams API: open_connection returns a
-- reader and a writer over a connection the server makes to port 80 of
-- www.google.com (or HOST PORT given as arguments); an HTTP HEAD request
-- goes out and the whole response is printed.
--   luassh direct_client_streams.lua [host [port]]
local ssh = require "luassh"

local HOST, PORT = arg[1] or "www.google.com", tonumber(arg[2]) or 80

local function run_client()
  local conn <close> = ssh.connect("localhost")
  local reader, writer = conn:open_connection(HOST, PORT)
  -- TCP connections send and receive bytes.
  writer:write("HEAD / HTTP/1.0\r\n\r\n")
  writer:write_eof()
  local response = reader:read()
  io.write(response)
end

local ok, err = pcall(run_client)
if not ok then
  io.stderr:write("SSH connection failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
