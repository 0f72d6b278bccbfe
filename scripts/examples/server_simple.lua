-- Simple server: password authentication, with hashed passwords, and a
-- message to each user who logs in.  The server prints a line when a
-- connection arrives and when it ends.
--
-- Run it in a directory holding ssh_host_key (a private key: the host
-- key; ssh-keygen -t ed25519 -N '' -f ssh_host_key makes one):
--   luassh server_simple.lua [port]
-- port: 8022 by default, 0 picks a free one (printed as "listening on
-- port N").  LUASSH_EXAMPLE_HOST: the address to listen on (default: all
-- of them); LUASSH_EXAMPLE_SECONDS: stop after that long (default: never).
local ssh = require "luassh"

local PORT = tonumber(arg[1]) or 8022
local HOST = os.getenv("LUASSH_EXAMPLE_HOST") or ""
io.stdout:setvbuf("line")

-- Passwords are kept as hashes (yescrypt, as /etc/shadow); "" means the
-- account needs no password at all.
local passwords = {
  guest = "",                                  -- guest account with no password
  user123 = ssh.hash_password("secretpw"),
}

local function handle_client(process)
  local username = process:get_extra_info("username")
  process.stdout:write(("Welcome to my SSH server, %s!\n"):format(username))
  process:exit(0)
end

-- The SSHServer callbacks, one table per connection.
local MySSHServer = {}
MySSHServer.__index = MySSHServer

function MySSHServer.new() return setmetatable({}, MySSHServer) end

function MySSHServer:connection_made(conn)
  local peername = conn:get_extra_info("peername")[1]
  print(("SSH connection received from %s."):format(peername))
end

function MySSHServer:connection_lost(exc)
  if exc then
    io.stderr:write("SSH connection error: " .. tostring(exc) .. "\n")
  else
    print("SSH connection closed.")
  end
end

function MySSHServer:begin_auth(username)
  -- If the user's password is the empty string, no auth is required
  return passwords[username] ~= ""
end

function MySSHServer:password_auth_supported()
  return true
end

function MySSHServer:validate_password(username, password)
  local pw = passwords[username]
  if pw == nil then return false end
  if password == "" and pw == "" then return true end
  return ssh.check_password(password, pw)
end

local function start_server()
  return ssh.create_server(MySSHServer.new, HOST, PORT, {
    server_host_keys = {"ssh_host_key"},
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
