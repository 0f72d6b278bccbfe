-- A malicious SCP server written on luassh's own server API (issue 8):
-- its process_factory answers `scp -f` with hostile protocol streams
-- (traversal names, names not asked for, bad sizes and modes, extra
-- entries).  ssh.scp downloading from it writes nothing outside the
-- destination, whatever it sends; and remote-to-remote copies between
-- sshd and our server (allow_scp) arrive intact.
local ssh = require "luassh"
local util = require "spec.support.util"
local sshd = require "spec.support.sshd"

local q = util.q

local function listing(dir)
  local p = io.popen("cd " .. q(dir) .. " && find . | sort")
  local s = p:read("a")
  p:close()
  return s
end

local EVIL = {
  "C0644 5 ../x\nhello\0",
  "C0644 5 a/b\nhello\0",
  "C0644 5 ..\nhello\0",
  "D0755 0 .\nE\n",
  "C0644 5 .bashrc\nhello\0",
  "C0644 5 other.txt\nhello\0",
  "C0644 5 file.txt\nhello\0C0644 5 file.txt\nhello\0",
  "D0755 0 file.txt\nC0644 5 x\nhello\0E\nD0755 0 link\nE\n",
  "C0644 5 x\27[2J\nhello\0",
  "C0644 99999999999999999999 file.txt\n",
  "C07777777 5 file.txt\nhello\0",
  "T99999999999999 0 1 0\nC0644 5 file.txt\nhello\0",
  "E\n",
  "C0644 5 file.txt\n" .. string.rep("x", 9000) .. "\n",
  "\2scp: evil error\n",
  "C0644 5 /etc/passwd\nhello\0",
}

describe("ssh.scp against a malicious server on luassh's server API", function()
  it("writes nothing outside the destination", function()
    local user_key = ssh.generate_private_key("ssh-ed25519")
    local served = 0
    local l <close> = ssh.listen("127.0.0.1", 0, {
      authorized_client_keys = {user_key}, log_host_key = false,
      process_factory = function(p)
        -- the case number travels in the requested path: case<N>/file.txt
        local n = tonumber((p.command or ""):match("case(%d+)"))
        served = served + 1
        p.stdin:read(1) -- the sink's first \0
        p.stdout:write(EVIL[n] or "\2scp: no case\n")
        p.stdout:drain()
        ssh.sleep(0.02)
        p:exit(1)
      end})
    local dir = util.tmpdir()
    os.execute(("mkdir -p %s/dst && ln -s %s %s/dst/link && printf secret > %s/victim")
      :format(q(dir), q(dir), q(dir), q(dir)))
    local before = listing(dir)
    local conn <close> = ssh.connect("127.0.0.1", l:get_port(), {username = "u",
      client_keys = {user_key}, known_hosts = false, agent_path = false})
    for i = 1, #EVIL do
      for _, flags in ipairs {{}, {recurse = true, preserve = true}} do
        local opts = {error_handler = function() end}
        for k, v in pairs(flags) do opts[k] = v end
        pcall(ssh.scp, {conn, ("case%d/file.txt"):format(i)}, dir .. "/dst", opts)
      end
    end
    assert.equal(2 * #EVIL, served)
    -- Only names under dst/ that the client asked for may appear.
    local after = listing(dir)
    for line in after:gmatch("[^\n]+") do
      if not before:find(line .. "\n", 1, true) then
        assert.matches("^%./dst/file%.txt", line, nil, false, "unexpected " .. line)
      end
    end
    local f = io.open(dir .. "/victim")
    assert.equal("secret", f:read("a"))
    f:close()
    assert.is_nil(io.open(dir .. "/x"))
    util.rmtree(dir)
  end)
end)

describe("remote-to-remote between sshd and the luassh server", function()
  it("copies both ways through this process", function()
    local user_key = ssh.generate_private_key("ssh-ed25519")
    local dir = util.tmpdir()
    local root = dir .. "/ours"
    os.execute(("mkdir -p %s %s/theirs && head -c 300007 /dev/urandom > %s/theirs/blob")
      :format(q(root), q(dir), q(dir)))
    local l <close> = ssh.listen("127.0.0.1", 0, {
      authorized_client_keys = {user_key}, log_host_key = false,
      allow_scp = true, scp_root = root})
    local srv = sshd.start{authorized_keys = user_key:export_public_key()}
    local ok, err = pcall(function()
      local opts = {client_keys = {user_key}, known_hosts = false, agent_path = false}
      local c1 <close> = ssh.connect("127.0.0.1", srv.port, {username = os.getenv("USER") or "root",
        client_keys = {user_key}, known_hosts = false, agent_path = false})
      local c2 <close> = ssh.connect("127.0.0.1", l:get_port(), {username = "u",
        client_keys = {user_key}, known_hosts = false, agent_path = false})
      ssh.scp({c1, dir .. "/theirs/blob"}, {c2, "blob"}, opts)
      ssh.scp({c2, "blob"}, {c1, dir .. "/theirs/blob.back"}, opts)
    end)
    srv:stop()
    assert.is_true(ok, tostring(err))
    local function read(p) local f = assert(io.open(p, "rb")) local d = f:read("a") f:close() return d end
    assert.equal(read(dir .. "/theirs/blob"), read(root .. "/blob"))
    assert.equal(read(dir .. "/theirs/blob"), read(dir .. "/theirs/blob.back"))
    util.rmtree(dir)
  end)
end)
