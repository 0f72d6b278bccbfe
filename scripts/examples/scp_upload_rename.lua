-- SCP client: upload example.txt under another name, example2.txt.
-- "localhost" is reached as the current user with the default keys
-- (~/.ssh/id_*), known_hosts and ~/.ssh/config, as the seed's example does.
local ssh = require "luassh"

local ok, err = pcall(function()
  ssh.scp("example.txt", "localhost:example2.txt")
end)
if not ok then
  io.stderr:write("SFTP operation failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
