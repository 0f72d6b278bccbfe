-- Starts OpenSSH's sshd for interop specs: its own config, host keys
-- generated into a temp dir, a random loopback port.
local util = require "spec.support.util"

local M = {}

local SSHD = "/usr/sbin/sshd"

M.ALL_KEX = "curve25519-sha256,curve25519-sha256@libssh.org," ..
  "ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521," ..
  "diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512," ..
  "diffie-hellman-group18-sha512,diffie-hellman-group14-sha256," ..
  "diffie-hellman-group14-sha1,diffie-hellman-group1-sha1," ..
  "diffie-hellman-group-exchange-sha1"
M.ALL_CIPHERS = "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com," ..
  "aes256-gcm@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-cbc," ..
  "aes192-cbc,aes256-cbc,3des-cbc"
M.ALL_MACS = "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com," ..
  "hmac-sha1-etm@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1"
M.ALL_HOSTKEY_ALGS = "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384," ..
  "ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256,ssh-rsa"

function M.available()
  local f = io.open(SSHD, "r")
  if f then f:close() return true end
  return false
end

local function sh(cmd)
  local ok = os.execute(cmd .. " >/dev/null 2>&1")
  return ok
end

--- gen_host_keys(dir) -> list of key file paths
function M.gen_host_keys(dir)
  local keys = {}
  for _, spec in ipairs {
    {"ed25519", "-t ed25519"}, {"ecdsa256", "-t ecdsa -b 256"},
    {"ecdsa384", "-t ecdsa -b 384"}, {"ecdsa521", "-t ecdsa -b 521"},
    {"rsa", "-t rsa -b 2048"},
  } do
    local path = dir .. "/ssh_host_" .. spec[1] .. "_key"
    assert(sh("ssh-keygen -q -N '' " .. spec[2] .. " -f " .. util.q(path)),
           "ssh-keygen failed")
    keys[#keys + 1] = path
  end
  return keys
end

--- start(opts) -> server {port=, dir=, log=, stop=function}
-- opts.extra: more sshd_config lines (after the defaults: use it for Match
-- blocks); opts.first: lines before the defaults (sshd keeps the first
-- value it reads, so these override them); opts.authorized_keys: the
-- content of the AuthorizedKeysFile; opts.log_level (default DEBUG1);
-- opts.host_keys: host key files to use instead of generated ones.
-- sshd logs to its log file (-E), not to stderr, so that its messages do
-- not leak into the sessions' stderr.
function M.start(opts)
  opts = opts or {}
  os.execute("mkdir -p /run/sshd 2>/dev/null")
  local dir = util.tmpdir()
  local keys = opts.host_keys or M.gen_host_keys(dir)
  for attempt = 1, 20 do
    -- Below the kernel's ephemeral range (32768-60999 by default), so
    -- that an outgoing connection of another test cannot hold the port.
    local port = math.random(20000, 32000)
    local cfg = {}
    for _, l in ipairs(opts.first or {}) do cfg[#cfg + 1] = l end
    for _, l in ipairs {
      "Port " .. port,
      "ListenAddress 127.0.0.1",
      "PidFile " .. dir .. "/sshd.pid",
      "AuthorizedKeysFile " .. dir .. "/authorized_keys",
      "StrictModes no",
      "UsePAM no",
      "LogLevel " .. (opts.log_level or "DEBUG1"),
      "KexAlgorithms " .. M.ALL_KEX,
      "Ciphers " .. M.ALL_CIPHERS,
      "MACs " .. M.ALL_MACS,
      "HostKeyAlgorithms " .. M.ALL_HOSTKEY_ALGS,
      "Compression yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "MaxStartups 200",
    } do cfg[#cfg + 1] = l end
    for _, k in ipairs(keys) do cfg[#cfg + 1] = "HostKey " .. k end
    for _, l in ipairs(opts.extra or {}) do cfg[#cfg + 1] = l end
    util.write(dir .. "/sshd_config", table.concat(cfg, "\n") .. "\n")
    local log = dir .. "/sshd.log"
    if opts.authorized_keys then
      util.write(dir .. "/authorized_keys", opts.authorized_keys)
    end
    -- A fresh log per attempt: a line left by an earlier attempt (its
    -- "Server listening" on another port) must not be taken for this one.
    os.remove(log)
    local p = io.popen(string.format("%s -D -E %s -f %s >> %s 2>&1 & echo $!",
                                     SSHD, util.q(log),
                                     util.q(dir .. "/sshd_config"), util.q(log)))
    local pid = p:read("l")
    p:close()
    -- Wait for "Server listening" on this port (or a failure).
    local listening = ("Server listening on 127.0.0.1 port %d"):format(port)
    for _ = 1, 100 do
      local f = io.open(log, "r")
      local text = f and f:read("a") or ""
      if f then f:close() end
      if text:find(listening, 1, true) then
        local srv = {port = port, dir = dir, log = log, host_keys = keys}
        function srv.stop()
          local pf = io.open(dir .. "/sshd.pid", "r")
          local pid = pf and pf:read("l")
          if pf then pf:close() end
          if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
          util.rmtree(dir)
        end
        return srv
      end
      if text:find("Bind to port", 1, true) or text:find("fatal", 1, true) then
        break
      end
      os.execute("sleep 0.05")
    end
    if pid then os.execute("kill " .. pid .. " 2>/dev/null") end
  end
  util.rmtree(dir)
  error("could not start sshd")
end

return M
