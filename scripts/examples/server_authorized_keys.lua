-- Public key server: each user's client keys (and certificate authority
-- keys, as cert-authority lines) are in a file named after the user in
-- the directory authorized_keys/.
--
-- Run it in a directory holding ssh_host_key (the host key) and
-- authorized_keys/<username> files:
--   luassh server_authorized_keys.lua [port]
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

local MySSHServer = {}
MySSHServer.__index = MySSHServer

function MySSHServer.new() return setmetatable({}, MySSHServer) end

function MySSHServer:connection_made(conn)
  self._conn = conn
end

function MySSHServer:begin_auth(username)
  -- A user without a file (an error reading it) has no keys, so cannot
  -- log in.
  pcall(self._conn.set_authorized_keys, self._conn,
        "authorized_keys/" .. username)
  return true
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
