-- The number-summing server written with callbacks: an SSHServer whose
-- session_requested returns an SSHServerSession, a table of callbacks
-- (data_received, eof_received, ...) called as the session's events come.
-- (Passing session_factory = MySSHServerSession.new to ssh.listen does
-- the same without an SSHServer.)
--
-- Run it in a directory holding ssh_host_key (the host key) and
-- ssh_user_ca (the authorized_keys of every user):
--   luassh server_sum_callback.lua [port]
-- port: 8022 by default, 0 picks a free one (printed as "listening on
-- port N").  LUASSH_EXAMPLE_HOST: the address to listen on (default: all
-- of them); LUASSH_EXAMPLE_SECONDS: stop after that long (default: never).
local ssh = require "luassh"

local PORT = tonumber(arg[1]) or 8022
local HOST = os.getenv("LUASSH_EXAMPLE_HOST") or ""
io.stdout:setvbuf("line")

-- The integer a line holds (spaces around it allowed), or nil.
local function to_integer(s)
  local digits = s:match("^%s*([-+]?%d+)%s*$")
  return digits and math.tointeger(tonumber(digits))
end

local MySSHServerSession = {}
MySSHServerSession.__index = MySSHServerSession

function MySSHServerSession.new()
  return setmetatable({_input = "", _total = 0}, MySSHServerSession)
end

function MySSHServerSession:connection_made(chan)
  self._chan = chan
end

function MySSHServerSession:shell_requested()
  return true
end

function MySSHServerSession:session_started()
  self._chan:write("Enter numbers one per line, or EOF when done:\n")
end

function MySSHServerSession:data_received(data, datatype)
  self._input = self._input .. data
  -- Every complete line; the last, unfinished piece waits for more.
  local last = 1
  for line, next_pos in self._input:gmatch("([^\n]*)\n()") do
    if line ~= "" then
      local n = to_integer(line)
      if n then
        self._total = self._total + n
      else
        self._chan:write_stderr(("Invalid number: %s\n"):format(line))
      end
    end
    last = next_pos
  end
  self._input = self._input:sub(last)
end

function MySSHServerSession:eof_received()
  self._chan:write(("Total = %d\n"):format(self._total))
  self._chan:exit(0)
  return false
end

function MySSHServerSession:break_received(msec)
  return self:eof_received()
end

function MySSHServerSession:soft_eof_received()
  self:eof_received()
end

local MySSHServer = {}

function MySSHServer:session_requested()
  return MySSHServerSession.new()
end

local function start_server()
  return ssh.create_server(function() return MySSHServer end, HOST, PORT, {
    server_host_keys = {"ssh_host_key"},
    authorized_client_keys = "ssh_user_ca",
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
