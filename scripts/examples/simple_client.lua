-- Simple client: log into localhost as the current user, with the
-- default keys (~/.ssh/id_*) and known_hosts (~/.ssh/known_hosts), and
-- list the directory "abc".
local ssh = require "luassh"

local function run_client()
  local conn <close> = ssh.connect("localhost")
  local ok, result = pcall(conn.run, conn, "ls abc", {check = true})
  if ok then
    io.write(result.stdout)
  elseif ssh.is_error(result, "ProcessError") then
    io.write(result.stderr)
    io.stderr:write(("Process exited with status %s\n"):format(result.exit_status))
  else
    error(result, 0)
  end
end

local ok, err = pcall(run_client)
if not ok then
  io.stderr:write("SSH connection failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
