-- SCP client: a source given as {{host, port}, path} to reach a server on
-- a non-default port (8022, or the port given as the first argument).
-- The user, keys and known_hosts are the defaults, as in the seed.
local ssh = require "luassh"

local PORT = tonumber(arg[1]) or 8022

local ok, err = pcall(function()
  ssh.scp({{"localhost", PORT}, "example.txt"}, ".")
end)
if not ok then
  io.stderr:write("SFTP operation failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
