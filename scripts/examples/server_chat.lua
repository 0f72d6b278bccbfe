-- Serving multiple clients: a chat service.  Each client gives a name,
-- then every line it sends goes to all the others.
--
-- Run it in a directory holding ssh_host_key (the host key) and
-- ssh_user_ca (the authorized_keys of every user):
--   luassh server_chat.lua [port]
-- port: 8022 by default, 0 picks a free one (printed as "listening on
-- port N").  LUASSH_EXAMPLE_HOST: the address to listen on (default: all
-- of them); LUASSH_EXAMPLE_SECONDS: stop after that long (default: never).
local ssh = require "luassh"

local PORT = tonumber(arg[1]) or 8022
local HOST = os.getenv("LUASSH_EXAMPLE_HOST") or ""
io.stdout:setvbuf("line")

local ChatClient = {}
ChatClient.__index = ChatClient

-- The clients in the chat, in the order they entered.
ChatClient._clients = {}

function ChatClient.new(process)
  return setmetatable({_process = process}, ChatClient)
end

function ChatClient.handle_client(process)
  ChatClient.new(process):run()
end

function ChatClient:readline()
  return self._process.stdin:readline()
end

function ChatClient:write(msg)
  self._process.stdout:write(msg)
end

function ChatClient:broadcast(msg)
  for _, client in ipairs(self._clients) do
    if client ~= self then
      -- A client whose connection has just gone is skipped.
      pcall(client.write, client, msg)
    end
  end
end

function ChatClient:run()
  self:write("Welcome to chat!\n\n")
  self:write("Enter your name: ")
  local name = self:readline():gsub("\n$", "")
  self:write(("\n%d other users are connected.\n\n"):format(#self._clients))
  table.insert(self._clients, self)
  self:broadcast(("*** %s has entered chat ***\n"):format(name))

  local ok, err = pcall(function()
    for line in self._process.stdin:lines("L") do
      self:broadcast(("%s: %s"):format(name, line))
    end
  end)

  self:broadcast(("*** %s has left chat ***\n"):format(name))
  for i, client in ipairs(self._clients) do
    if client == self then table.remove(self._clients, i) break end
  end
  -- A break leaves the chat as EOF does; other errors are reported.
  if not ok and not ssh.is_error(err, "BreakReceived") then error(err, 0) end
end

local function start_server()
  return ssh.listen(HOST, PORT, {
    server_host_keys = {"ssh_host_key"},
    authorized_client_keys = "ssh_user_ca",
    process_factory = ChatClient.handle_client,
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
