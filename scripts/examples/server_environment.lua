-- Environment variables: shows those the client sent (sorted by name),
-- or fails with exit status 1 when there are none.  Clients send few by
-- default: OpenSSH's ssh sends those named by SendEnv / SetEnv.
--
-- Run it in a directory holding ssh_host_key (the host key) and
-- ssh_user_ca (the authorized_keys of every user):
--   luassh server_environment.lua [port]
-- port: 8022 by default, 0 picks a free one (printed as "listening on
-- port N").  LUASSH_EXAMPLE_HOST: the address to listen on (default: all
-- of them); LUASSH_EXAMPLE_SECONDS: stop after that long (default: never).
local ssh = require "luassh"

local PORT = tonumber(arg[1]) or 8022
local HOST = os.getenv("LUASSH_EXAMPLE_HOST") or ""
io.stdout:setvbuf("line")

local function handle_client(process)
  local names = {}
  for key in pairs(process.env) do names[#names + 1] = key end
  if #names > 0 then
    table.sort(names)
    local keywidth = 0
    for _, key in ipairs(names) do keywidth = math.max(keywidth, #key + 1) end
    process.stdout:write("Environment:\n")
    for _, key in ipairs(names) do
      process.stdout:write(("  %-" .. keywidth .. "s %s\n")
                           :format(key .. ":", process.env[key]))
    end
    process:exit(0)
  else
    process.stderr:write("No environment sent.\n")
    process:exit(1)
  end
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
