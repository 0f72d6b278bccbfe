-- SCP client: upload example.txt into the remote home directory.
-- "localhost" is reached as the current user with the default keys
-- (~/.ssh/id_*), known_hosts and ~/.ssh/config, as the seed's example does.
local ssh = require "luassh"

local ok, err = pcall(function()
  ssh.scp("example.txt", "localhost:")
end)
if not ok then
  io.stderr:write("SFTP operation failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
