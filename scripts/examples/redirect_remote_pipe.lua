-- Piping one remote process into another; the two could as well run on
-- connections to different servers.
local ssh = require "luassh"

local function run_client()
  local conn <close> = ssh.connect("localhost")
  local proc1 = conn:create_process([[printf '1\n2\n3\n']])
  local proc2_result = conn:run("tac", {stdin = proc1.stdout})
  io.write(proc2_result.stdout)
end

local ok, err = pcall(run_client)
if not ok then
  io.stderr:write("SSH connection failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
