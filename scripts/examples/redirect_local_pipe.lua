-- Piping the output of a local process into a remote one.
local ssh = require "luassh"

local function run_client()
  local conn <close> = ssh.connect("localhost")
  local local_proc = io.popen([[printf '1\n2\n3\n']], "r")
  local remote_result = conn:run("tac", {stdin = local_proc})
  local_proc:close()
  io.write(remote_result.stdout)
end

local ok, err = pcall(run_client)
if not ok then
  io.stderr:write("SSH connection failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
