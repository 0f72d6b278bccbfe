-- SCP client: upload the directory example_dir recursively, keeping
-- modification times and permissions.
-- "localhost" is reached as the current user with the default keys
-- (~/.ssh/id_*), known_hosts and ~/.ssh/config, as the seed's example does.
local ssh = require "luassh"

local ok, err = pcall(function()
  ssh.scp("example_dir", "localhost:", {preserve = true, recurse = true})
end)
if not ok then
  io.stderr:write("SFTP operation failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
