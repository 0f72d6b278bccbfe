-- SCP client: an already open connection can stand for the host.
local ssh = require "luassh"

local ok, err = pcall(function()
  local conn <close> = ssh.connect("localhost")
  ssh.scp({conn, "example.txt"}, ".")
end)
if not ok then
  io.stderr:write("SFTP operation failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
