-- Setting environment variables for the remote session (the server must
-- accept them: AcceptEnv in OpenSSH's sshd_config).
local ssh = require "luassh"

local function run_client()
  local conn <close> = ssh.connect("localhost")
  local result = conn:run("env", {env = {LANG = "en_GB", LC_COLLATE = "C"}})
  io.write(result.stdout)
end

local ok, err = pcall(run_client)
if not ok then
  io.stderr:write("SSH connection failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
