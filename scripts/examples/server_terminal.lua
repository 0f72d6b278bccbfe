-- Terminal information: shows the client's terminal type and window
-- size, then a line for every window size change until the input ends.
-- A read raises TerminalSizeChanged at the place in the input where the
-- client's window-change request came.
--
-- Run it in a directory holding ssh_host_key (the host key) and
-- ssh_user_ca (the authorized_keys of every user):
--   luassh server_terminal.lua [port]
-- and log in with a terminal (ssh -t).  port: 8022 by default, 0 picks a
-- free one (printed as "listening on port N").  LUASSH_EXAMPLE_HOST: the
-- address to listen on (default: all of them); LUASSH_EXAMPLE_SECONDS:
-- stop after that long (default: never).
local ssh = require "luassh"

local PORT = tonumber(arg[1]) or 8022
local HOST = os.getenv("LUASSH_EXAMPLE_HOST") or ""
io.stdout:setvbuf("line")

local function handle_client(process)
  local width, height, pixwidth, pixheight = table.unpack(process.term_size)
  process.stdout:write(("Terminal type: %s, size: %dx%d")
                       :format(process.term_type, width, height))
  if pixwidth ~= 0 and pixheight ~= 0 then
    process.stdout:write((" (%dx%d pixels)"):format(pixwidth, pixheight))
  end
  process.stdout:write("\nTry resizing your window!\n")

  while not process.stdin:at_eof() do
    local ok, exc = pcall(process.stdin.read, process.stdin)
    if not ok then
      if not ssh.is_error(exc, "TerminalSizeChanged") then error(exc, 0) end
      process.stdout:write(("New window size: %dx%d"):format(exc.width, exc.height))
      if exc.pixwidth ~= 0 and exc.pixheight ~= 0 then
        process.stdout:write((" (%dx%d pixels)"):format(exc.pixwidth, exc.pixheight))
      end
      process.stdout:write("\n")
    end
  end
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
