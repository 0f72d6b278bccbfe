-- Line editing: a session with a pseudo-terminal gets luassh's line
-- editor, which echoes what the user types, handles editing keys
-- (backspace, Ctrl-U, arrows, history) and delivers input a line at a
-- time.  The channel's set_echo(false) hides the input (for a secret);
-- set_line_mode(false) passes each key through as it is typed.
--
-- Run it in a directory holding ssh_host_key (the host key) and
-- ssh_user_ca (the authorized_keys of every user):
--   luassh server_line_editing.lua [port]
-- and log in with a terminal (ssh -t).  port: 8022 by default, 0 picks a
-- free one (printed as "listening on port N").  LUASSH_EXAMPLE_HOST: the
-- address to listen on (default: all of them); LUASSH_EXAMPLE_SECONDS:
-- stop after that long (default: never).
local ssh = require "luassh"

local PORT = tonumber(arg[1]) or 8022
local HOST = os.getenv("LUASSH_EXAMPLE_HOST") or ""
io.stdout:setvbuf("line")

local function handle_client(process)
  local channel = process.channel
  local username = process:get_extra_info("username")
  process.stdout:write(("Welcome to my SSH server, %s!\n\n"):format(username))

  channel:set_echo(false)
  process.stdout:write("Tell me a secret: ")
  local secret = process.stdin:readline()

  channel:set_line_mode(false)
  process.stdout:write("\nYour secret is safe with me! Press any key to exit...")
  process.stdin:read(1)

  process.stdout:write("\n")
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
