-- Checking the exit status of a remote command.
local ssh = require "luassh"

local function run_client()
  local conn <close> = ssh.connect("localhost")
  local result = conn:run("ls abc")
  if result.exit_status == 0 then
    io.write(result.stdout)
  else
    io.stderr:write(result.stderr)
    io.stderr:write(("Program exited with status %s\n"):format(result.exit_status))
  end
end

local ok, err = pcall(run_client)
if not ok then
  io.stderr:write("SSH connection failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
