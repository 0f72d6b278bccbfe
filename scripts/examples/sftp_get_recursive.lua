-- SFTP client: download the directory example_dir recursively, keeping
-- access and modification times and permissions.
-- Connects to "localhost" as the current user with the default keys
-- (~/.ssh/id_*), known_hosts (~/.ssh/known_hosts) and ~/.ssh/config, as
-- the seed's example does.
local ssh = require "luassh"

local function run_client()
  local conn <close> = ssh.connect("localhost")
  local sftp <close> = conn:start_sftp_client()
  sftp:get("example_dir", {preserve = true, recurse = true})
end

local ok, err = pcall(run_client)
if not ok then
  io.stderr:write("SFTP operation failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
