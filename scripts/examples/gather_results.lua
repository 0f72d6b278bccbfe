-- Running multiple clients in parallel and reporting each result.
local ssh = require "luassh"

local function run_client(host, command)
  local conn <close> = ssh.connect(host)
  return conn:run(command)
end

-- Put your lists of hosts here
local hosts = {}
for i = 1, 5 do hosts[i] = "localhost" end

local tasks = {}
for i, host in ipairs(hosts) do
  tasks[i] = function() return run_client(host, "ls abc") end
end

local results = ssh.gather(tasks, {return_errors = true})

for i, result in ipairs(results) do
  if ssh.is_error(result) then
    print(("Task %d failed: %s"):format(i, tostring(result)))
  elseif result.exit_status ~= 0 then
    print(("Task %d exited with status %s:"):format(i, result.exit_status))
    io.write(result.stderr)
  else
    print(("Task %d succeeded:"):format(i))
    io.write(result.stdout)
  end
  print(("-"):rep(75))
end
