-- SFTP and SCP server: allow_scp beside sftp_factory also answers
-- OpenSSH's scp -O and ssh.scp, with the same file access as SFTP.
--
-- Run it in a directory holding ssh_host_key (the host key) and
-- ssh_user_ca (an authorized_keys file: keys, or a cert-authority line):
--   luassh server_scp.lua [port]
-- port: 8022 by default, 0 picks a free one (printed as "listening on
-- port N").  LUASSH_EXAMPLE_HOST: the address to listen on (default: all
-- of them); LUASSH_EXAMPLE_SECONDS: stop after that long (default: never).
local ssh = require "luassh"

local PORT = tonumber(arg[1]) or 8022
local HOST = os.getenv("LUASSH_EXAMPLE_HOST") or ""
io.stdout:setvbuf("line")

local function start_server()
  return ssh.listen(HOST, PORT, {
    server_host_keys = {"ssh_host_key"},
    authorized_client_keys = "ssh_user_ca",
    sftp_factory = true, allow_scp = true,
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
