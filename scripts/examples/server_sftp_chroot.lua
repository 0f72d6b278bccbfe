-- SFTP server that gives each user only their own directory,
-- /tmp/sftp/<username> (made on first use), seen by the client as "/".
-- The chroot is enforced by the kernel (openat2 RESOLVE_IN_ROOT).
-- LUASSH_EXAMPLE_SFTP_ROOT: another parent directory than /tmp/sftp.
--
-- Run it in a directory holding ssh_host_key (the host key) and
-- ssh_user_ca (an authorized_keys file: keys, or a cert-authority line):
--   luassh server_sftp_chroot.lua [port]
-- port: 8022 by default, 0 picks a free one (printed as "listening on
-- port N").  LUASSH_EXAMPLE_HOST: the address to listen on (default: all
-- of them); LUASSH_EXAMPLE_SECONDS: stop after that long (default: never).
local ssh = require "luassh"

local PORT = tonumber(arg[1]) or 8022
local HOST = os.getenv("LUASSH_EXAMPLE_HOST") or ""
io.stdout:setvbuf("line")

local ROOT = os.getenv("LUASSH_EXAMPLE_SFTP_ROOT") or "/tmp/sftp"

-- Called for each SFTP session with its channel: returns the session's
-- SFTP server table (AsyncSSH's SFTPServer subclass).
-- A user name becomes a directory name: only plain names are taken (any
-- user name may log in with a key from ssh_user_ca, and "../x" must not
-- pick another directory).
local function my_sftp_server(chan)
  local username = chan:get_extra_info("username")
  assert(username:match("^[%w_][%w._-]*$"), "unsuitable user name")
  local root = ROOT .. "/" .. username
  assert(os.execute("mkdir -p '" .. root .. "'"), "cannot create " .. root)
  return {chroot = root}
end

local function start_server()
  return ssh.listen(HOST, PORT, {
    server_host_keys = {"ssh_host_key"},
    authorized_client_keys = "ssh_user_ca",
    sftp_factory = my_sftp_server,
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
