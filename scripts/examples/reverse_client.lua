-- Reverse-direction client (AsyncSSH's "Reverse Direction Example"): it
-- dials out over TCP and then acts as the SSH *server* on that socket
-- (ssh.connect_reverse), running the shell commands the other end, the
-- reverse server, sends it.  Useful for "call home" setups (RFC 8071),
-- where the managed machine makes the connection.
--
-- Run it in a directory holding
--   client_host_key      the SSH host key this side shows (an optional
--                        client_host_key-cert.pub is used with it)
--   trusted_server_keys  the keys (authorized_keys format, cert-authority
--                        lines allowed) the reverse server may log in with
--   luassh reverse_client.lua [port]
-- port: 8022 by default.  LUASSH_EXAMPLE_HOST: the host to dial (default
-- localhost).
local ssh = require "luassh"

local PORT = tonumber(arg[1]) or 8022
local HOST = os.getenv("LUASSH_EXAMPLE_HOST") or "localhost"
io.stdout:setvbuf("line")

-- Runs a command on this machine, piping its I/O over the SSH session.
local function handle_request(process)
  assert(process.command ~= nil, "a command is needed")
  local local_proc = ssh.create_subprocess(process.command, {
    stdin = ssh.PIPE, stdout = ssh.PIPE, stderr = ssh.PIPE})
  process:redirect{stdin = local_proc.stdin, stdout = local_proc.stdout,
                   stderr = local_proc.stderr}
  process:exit(local_proc:wait())
  process:wait_closed()
end

-- Makes an outbound connection and then becomes an SSH server on it.
local function run_reverse_client()
  local conn = ssh.connect_reverse(HOST, PORT, {
    server_host_keys = {"client_host_key"},
    authorized_client_keys = "trusted_server_keys",
    process_factory = handle_request,
    encoding = nil,
  })
  conn:wait_closed()
end

local ok, err = pcall(run_reverse_client)
if not ok then
  io.stderr:write("Reverse SSH connection failed: " .. tostring(err) .. "\n")
  os.exit(1)
end
