-- Reverse-direction server (AsyncSSH's "Reverse Direction Example"): it
-- accepts TCP connections and then acts as the SSH *client* on each
-- (ssh.listen_reverse), running a series of commands on the reverse
-- client that called in, and printing each result as it completes.
--
-- Run it in a directory holding
--   server_key                the key this side logs in with (an optional
--                             server_key-cert.pub is used with it)
--   trusted_client_host_keys  the host keys of the reverse clients, in
--                             known_hosts format; a caller is looked up
--                             by its address (e.g. "127.0.0.1 ssh-ed25519
--                             AAAA..." or "* ssh-ed25519 AAAA...")
--   luassh reverse_server.lua [port]
-- port: 8022 by default, 0 picks a free one (printed as "listening on
-- port N").  LUASSH_EXAMPLE_HOST: the address to listen on (default: all
-- of them); LUASSH_EXAMPLE_SECONDS: stop after that long (default: never);
-- LUASSH_REVERSE_COMMANDS: the commands to run, one per line, instead of
-- the example's (which take 30 seconds).
local ssh = require "luassh"

local PORT = tonumber(arg[1]) or 8022
local HOST = os.getenv("LUASSH_EXAMPLE_HOST") or ""
io.stdout:setvbuf("line")

local commands = {"ls", "sleep 30 && date", "sleep 5 && cat /proc/cpuinfo"}
local custom = os.getenv("LUASSH_REVERSE_COMMANDS")
if custom and custom ~= "" then
  commands = {}
  for line in custom:gmatch("[^\n]+") do commands[#commands + 1] = line end
end

-- Runs the commands at once on the client that connected to us, and
-- prints each result as it completes (asyncio.as_completed).
local function run_commands(conn)
  local conn_ <close> = conn
  local tasks = {}
  for i, cmd in ipairs(commands) do
    tasks[i] = ssh.spawn(function()
      local result = conn:run(cmd)
      print("Command: " .. result.command)
      print("Return code: " .. tostring(result.returncode))
      print("Stdout:")
      io.write(result.stdout)
      print("Stderr:")
      io.write(result.stderr)
      print(("-"):rep(75))
    end)
  end
  for _, t in ipairs(tasks) do t:wait() end
end

-- Accepts inbound connections and then becomes an SSH client on them.
local function start_reverse_server()
  return ssh.listen_reverse(HOST, PORT, {
    client_keys = {"server_key"},
    known_hosts = "trusted_client_host_keys",
    acceptor = run_commands,
    error_handler = function(_, err)
      io.stderr:write("Reverse connection failed: " .. tostring(err) .. "\n")
    end,
  })
end

local ok, server = pcall(start_reverse_server)
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
