-- make demo: a fan-out over 50 "hosts", run as concurrent luassh tasks.
--
-- Until the SSH server lands, each "host" is a local task that waits a
-- simulated network latency and computes a result; the shape of the
-- script is the one a real fan-out has: gather over hosts with a limit,
-- per-host results or errors, and a summary.
local ssh = require "luassh"

local HOSTS, LIMIT = 50, 20
local hosts = {}
for i = 1, HOSTS do hosts[i] = string.format("host%02d.example", i) end

local function job(host, i)
  local latency = 0.05 + (i * 37 % 100) / 1000   -- 50..150 ms
  ssh.sleep(latency)
  if i % 17 == 0 then
    error(ssh.Error.new("PermissionDenied", "simulated login failure on " .. host))
  end
  return {host = host, latency = latency, output = ("uptime of %s: %d days"):format(host, i * 3)}
end

local fns = {}
for i, host in ipairs(hosts) do fns[i] = function() return job(host, i) end end

local t0 = ssh.now()
local results = ssh.gather(fns, {limit = LIMIT, return_errors = true})
local elapsed = ssh.now() - t0

local ok, failed, serial = 0, 0, 0
for i, r in ipairs(results) do
  if ssh.is_error(r) then
    failed = failed + 1
    print(("%-16s FAILED  %s"):format(hosts[i], tostring(r)))
  else
    ok = ok + 1
    serial = serial + r.latency
    print(("%-16s ok      %s"):format(r.host, r.output))
  end
end
print(("\n%d hosts: %d ok, %d failed in %.2f s (%.2f s if run one by one, limit %d)")
  :format(HOSTS, ok, failed, elapsed, serial, LIMIT))
