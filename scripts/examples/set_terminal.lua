-- Setting the terminal type and size: this requests a pseudo-terminal,
-- so the remote stderr is mixed into stdout.
local ssh = require "luassh"

local function run_client()
  local conn <close> = ssh.connect("localhost")
  local result = conn:run("echo $TERM; stty size",
                          {term_type = "xterm-color", term_size = {80, 24}})
  io.write(result.stdout)
end

local ok, err = pcall(run_client)
if not ok then
  io.stderr:write("SSH connection failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
