-- make demo: an embedded luassh SSH server on a loopback port, and a
-- fan-out of 50 concurrent SSH connections to it, each running a command.
--
-- Everything is made here, in a temporary directory: a fresh ed25519 host
-- key, a user key, the authorized_keys the server trusts, and the
-- known_hosts the clients check the host key against.  No OpenSSH server
-- is needed.
local ssh = require "luassh"

local CONNECTIONS = tonumber(os.getenv("DEMO_CONNECTIONS")) or 50

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -m 700 " .. dir))
local function cleanup() os.execute("rm -rf " .. dir) end

-- Keys and trust files.
local host_key = ssh.generate_private_key("ssh-ed25519", "demo host key")
local user_key = ssh.generate_private_key("ssh-ed25519", "demo user key")
host_key:write_private_key(dir .. "/ssh_host_ed25519_key")
user_key:write_private_key(dir .. "/id_ed25519")
user_key:write_public_key(dir .. "/authorized_keys")

-- The server: each command gets an answer computed in Lua.
local served = 0
local function handle(process)
  served = served + 1
  local user = process:get_extra_info("username")
  local cmd = process.command or ""
  if cmd == "uptime" then
    process.stdout:write(("up %d connections, user %s\n"):format(served, user))
    process:exit(0)
  elseif cmd:match("^echo ") then
    process.stdout:write(cmd:sub(6) .. "\n")
    process:exit(0)
  else
    process.stderr:write(("demo server: %s: command not found\n"):format(cmd))
    process:exit(127)
  end
end

local server = ssh.listen("127.0.0.1", 0, {
  server_host_keys = {dir .. "/ssh_host_ed25519_key"},
  authorized_client_keys = dir .. "/authorized_keys",
  process_factory = handle,
})
local port = server:get_port()
local kh = io.open(dir .. "/known_hosts", "w")
kh:write(ssh.format_known_hosts_entry("127.0.0.1", port, host_key))
kh:close()
print(("luassh server listening on 127.0.0.1 port %d, host key %s")
  :format(port, host_key:get_fingerprint()))

-- The fan-out: every connection at once, each one running a command.
local function job(i)
  local t0 = ssh.now()
  local conn <close> = ssh.connect("127.0.0.1", port, {
    username = "demo",
    client_keys = {dir .. "/id_ed25519"},
    known_hosts = dir .. "/known_hosts",
  })
  local cmd = i % 10 == 0 and "no-such-command" or ("echo hello from connection %d"):format(i)
  local r = conn:run(cmd)
  return {i = i, status = r.exit_status, out = r.stdout .. r.stderr,
          ms = (ssh.now() - t0) * 1000}
end

local fns = {}
for i = 1, CONNECTIONS do fns[i] = function() return job(i) end end
local t0 = ssh.now()
local results = ssh.gather(fns, {return_errors = true})
local elapsed = ssh.now() - t0

local ok, failed = 0, 0
for i, r in ipairs(results) do
  if ssh.is_error(r) then
    failed = failed + 1
    print(("conn %02d  ERROR   %s"):format(i, tostring(r)))
  else
    if r.status == 0 then ok = ok + 1 else failed = failed + 1 end
    print(("conn %02d  exit %-3d %6.1f ms  %s"):format(i, r.status, r.ms,
                                                    (r.out:gsub("\n$", ""))))
  end
end
server:close()
cleanup()
print(("\n%d connections: %d ok, %d failed (non-zero exit) in %.2f s")
  :format(CONNECTIONS, ok, failed, elapsed))
