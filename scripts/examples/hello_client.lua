-- The first example of AsyncSSH's documentation: run one command on
-- localhost and print what it wrote.
local ssh = require "luassh"

local function run_client()
  local conn <close> = ssh.connect("localhost")
  local result = conn:run('echo "Hello!"', {check = true})
  io.write(result.stdout)
end

local ok, err = pcall(run_client)
if not ok then
  io.stderr:write("SSH connection failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
