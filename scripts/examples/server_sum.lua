-- Simple server with input: adds up a column of numbers, one per line,
-- and prints the total at EOF (or on a break).  Bad lines are reported
-- on stderr.
--
-- Run it in a directory holding ssh_host_key (the host key) and
-- ssh_user_ca (the authorized_keys of every user):
--   luassh server_sum.lua [port]
-- port: 8022 by default, 0 picks a free one (printed as "listening on
-- port N").  LUASSH_EXAMPLE_HOST: the address to listen on (default: all
-- of them); LUASSH_EXAMPLE_SECONDS: stop after that long (default: never).
local ssh = require "luassh"

local PORT = tonumber(arg[1]) or 8022
local HOST = os.getenv("LUASSH_EXAMPLE_HOST") or ""
io.stdout:setvbuf("line")

-- The integer a line holds (spaces around it allowed), or nil.
local function to_integer(s)
  local digits = s:match("^%s*([-+]?%d+)%s*$")
  return digits and math.tointeger(tonumber(digits))
end

local function handle_client(process)
  process.stdout:write("Enter numbers one per line, or EOF when done:\n")
  local total = 0
  local ok, err = pcall(function()
    for line in process.stdin:lines() do
      if line ~= "" then
        local n = to_integer(line)
        if n then
          total = total + n
        else
          process.stderr:write(("Invalid number: %s\n"):format(line))
        end
      end
    end
  end)
  -- A break ends the input too.
  if not ok and not ssh.is_error(err, "BreakReceived") then error(err, 0) end
  process.stdout:write(("Total = %d\n"):format(total))
  process:exit(0)
end

local function start_server()
  return ssh.listen(HOST, PORT, {
    server_host_keys = {"ssh_host_key"},
    authorized_client_keys = "ssh_user_ca",
    process_factory = handle_client,
  })
end

local ok, server = pcall(start_server)
if not ok then
  io.stderr:write("Error starting server: " .. tostring(server) .. "\n")
  os.exit(1)
end
print("listening on port " .. server:get_port())
-- Serve until killed (or for LUASSH_EXAMPLE_SECONDS seconds): the tasks
-- left running when a script ends are cancelled, so wait here.
local seconds = tonumber(os.getenv("LUASSH_EXAMPLE_SECONDS"))
if seconds then
  ssh.spawn(function() ssh.sleep(seconds) server:close() end)
end
server:wait_closed()
