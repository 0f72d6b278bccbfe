-- Certificate server: one authorized_keys file, ssh_user_ca, for every
-- user.  It usually holds a "cert-authority" line with the key of the CA
-- that signs the users' keys; a certificate is then accepted when one of
-- its principals is the user name (and it is valid now).  No SSHServer
-- callbacks are needed, so ssh.listen does it all.
--
-- Run it in a directory holding ssh_host_key (the host key) and
-- ssh_user_ca (e.g. "cert-authority " followed by the CA's public key):
--   luassh server_user_ca.lua [port]
-- port: 8022 by default, 0 picks a free one (printed as "listening on
-- port N").  LUASSH_EXAMPLE_HOST: the address to listen on (default: all
-- of them); LUASSH_EXAMPLE_SECONDS: stop after that long (default: never).
local ssh = require "luassh"

local PORT = tonumber(arg[1]) or 8022
local HOST = os.getenv("LUASSH_EXAMPLE_HOST") or ""
io.stdout:setvbuf("line")

local function handle_client(process)
  local username = process:get_extra_info("username")
  process.stdout:write(("Welcome to my SSH server, %s!\n"):format(username))
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
