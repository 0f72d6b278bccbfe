-- Interactive input: drive the calculator bc line by line.
local ssh = require "luassh"

local function run_client()
  local conn <close> = ssh.connect("localhost")
  local process <close> = conn:create_process("bc")
  for _, op in ipairs {"2+2", "1*2*3*4", "2^32"} do
    process.stdin:write(op .. "\n")
    local result = process.stdout:readline()
    io.write(op, " = ", result)
  end
end

local ok, err = pcall(run_client)
if not ok then
  io.stderr:write("SSH connection failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
