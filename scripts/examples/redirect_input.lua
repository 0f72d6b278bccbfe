-- I/O redirection: fixed input, output into the local file /tmp/stdout.
-- (AsyncSSH's example runs BSD "tail -r"; GNU systems call it "tac".)
local ssh = require "luassh"

local function run_client()
  local conn <close> = ssh.connect("localhost")
  conn:run("tac", {input = "1\n2\n3\n", stdout = "/tmp/stdout"})
end

local ok, err = pcall(run_client)
if not ok then
  io.stderr:write("SSH connection failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
