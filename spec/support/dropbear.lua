-- Starts Dropbear's SSH server (Debian's dropbear-bin) on a random loopback
-- port for the client specs.  Dropbear reads a user's authorized_keys from
-- the home directory in the password database and has no option to point
-- it elsewhere, so it runs in a private mount namespace (unshare -m) where
-- a temp directory is bind-mounted over root's home: root logs in with a
-- key made here, and the real /root is never touched.  Needs root and
-- unshare; available() says whether this machine can.
local ssh = require "luassh"
local util = require "spec.support.util"

local M = {}

local q = util.q

local function ok(cmd)
  return util.run(cmd).status == 0
end

local available
function M.available()
  if available == nil then
    -- The trick start() plays, tried once (a container may refuse the
    -- namespace or the mount): a file only the temp dir has shows in
    -- /root inside the namespace.
    local d = util.tmpdir()
    util.write(d .. "/probe", "")
    local inner = ("mount --bind %s /root && test -e /root/probe"):format(q(d))
    available = ok("command -v dropbear && command -v dropbearkey")
      and util.capture("id -u") == "0\n"
      and ok("unshare -m sh -c " .. q(inner) .. " 2>/dev/null")
    util.rmtree(d)
  end
  return available
end

--- start() -> server {port=, dir=, key=, known_hosts=, home=, log=, stop=}
-- key: the user key (root's), known_hosts: trust data for the host key;
-- home: the directory the server sees as /root.
function M.start()
  local dir = util.tmpdir()
  local home = dir .. "/home"
  util.sh(("mkdir -p %s/.ssh && chmod 700 %s %s/.ssh"):format(q(home), q(home), q(home)))
  util.sh(("ssh-keygen -q -t ed25519 -N '' -C dropbear-spec -f %s"):format(q(dir .. "/id")))
  util.sh(("cp %s %s/.ssh/authorized_keys && chmod 600 %s/.ssh/authorized_keys")
          :format(q(dir .. "/id.pub"), q(home), q(home)))
  util.sh(("dropbearkey -t ed25519 -f %s >/dev/null 2>&1"):format(q(dir .. "/hostkey")))
  local pub = util.capture(("dropbearkey -y -f %s"):format(q(dir .. "/hostkey")))
    :match("(ssh%-ed25519 %S+)")
  local srv = {dir = dir, home = home, key = ssh.read_private_key(dir .. "/id")}
  function srv.log() return util.read_file(dir .. "/log") or "" end
  function srv.stop()
    util.kill_pidfile(dir .. "/pid")
    util.rmtree(dir)
  end
  for _ = 1, 5 do
    local port = 20000 + math.random(0, 39999)
    os.execute(("unshare -m sh -c %s > %s 2>&1 &"):format(
      q(("mount --bind %s /root && exec dropbear -F -E -m -p 127.0.0.1:%d -r %s -P %s")
        :format(q(home), port, q(dir .. "/hostkey"), q(dir .. "/pid"))),
      q(dir .. "/log")))
    for _ = 1, 100 do
      if pcall(ssh.get_server_host_key, "127.0.0.1", port) then
        srv.port = port
        srv.known_hosts = ssh.import_known_hosts(ssh.format_known_hosts_entry(
          "127.0.0.1", port, ssh.import_public_key(pub)))
        return srv
      end
      if srv.log():find("Failed listening", 1, true) then break end
      ssh.sleep(0.05)
    end
    util.kill_pidfile(dir .. "/pid")
  end
  local log = srv.log()
  util.rmtree(dir)
  error("could not start dropbear:\n" .. log)
end

return M
