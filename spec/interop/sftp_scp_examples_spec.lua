-- The SFTP and SCP examples of AsyncSSH's documentation, written in Lua in
-- scripts/examples/ (issues 7 and 8): the three servers (server_sftp.lua,
-- server_sftp_chroot.lua, server_scp.lua) run as programs on a random
-- loopback port; the client examples (sftp_*.lua, scp_*.lua) run as
-- programs against them with every default, as the seed's do: HOME holds
-- ~/.ssh/id_ed25519 (alice's key, which ssh_user_ca lists), known_hosts
-- and a config naming the port and user.  OpenSSH's sftp and scp -O drive
-- the same servers.
local ssh = require "luassh"
local util = require "spec.support.util"
local sx = require "spec.support.server_example"

local q = util.q
local dir, home

local function abspath(p)
  if p:sub(1, 1) == "/" then return p end
  return (os.getenv("PWD") or io.popen("pwd"):read("l")) .. "/" .. p
end
local BIN = abspath(util.bin)

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local d = f:read("a")
  f:close()
  return d
end

local function sh(cmd)
  local r = util.run(cmd)
  assert(r.status == 0, cmd .. ": " .. r.stderr)
  return r.stdout
end

-- mode (octal) and mtime of a path, from stat(1)
local function stat(path)
  local out = util.run("stat -c '%a %Y' " .. q(path)).stdout
  local mode, mtime = out:match("(%d+) (%d+)")
  return mode, tonumber(mtime)
end

-- Points ~/.ssh at the example's port (known_hosts for "localhost").
local function client_home(ex, user)
  local key = ssh.read_public_key(dir .. "/ssh_host_key.pub")
  util.write(home .. "/.ssh/known_hosts",
             ssh.format_known_hosts_entry("localhost", ex.port, key))
  util.write(home .. "/.ssh/config", ("Host localhost\n  Port %d\n  User %s\n")
             :format(ex.port, user or "alice"))
end

-- Runs a client example in a fresh working directory (or cwd).
local function run_example(name, cwd, args)
  cwd = cwd or util.tmpdir()
  local r = util.run(("cd %s && HOME=%s %s %s %s"):format(q(cwd), q(home), q(BIN),
    q(sx.EXAMPLES .. name .. ".lua"), args or ""))
  r.cwd = cwd
  return r
end

local function with_example(name, fn, env) sx.with(name, dir, 60, fn, env) end

setup(function()
  dir = util.tmpdir()
  sx.keys(dir)
  home = util.tmpdir()
  sh(("mkdir -p %s && cp %s %s"):format(q(home .. "/.ssh"), q(dir .. "/alice"),
                                       q(home .. "/.ssh/id_ed25519")))
  -- What the servers serve (their working directory is dir).
  util.write(dir .. "/example.txt", "the server's example\n")
  util.write(dir .. "/a.txt", "a\n")
  util.write(dir .. "/b.txt", "b\n")
  sh(("mkdir -p %s/example_dir/sub && printf one > %s/example_dir/one && "
      .. "printf two > %s/example_dir/sub/two && chmod 640 %s/example_dir/one && "
      .. "touch -d '2001-02-03 04:05:06' %s/example_dir/one %s/example_dir/sub/two")
     :format(q(dir), q(dir), q(dir), q(dir), q(dir), q(dir)))
end)

teardown(function()
  if dir then util.rmtree(dir) end
  if home then util.rmtree(home) end
end)

describe("server_sftp.lua", function()
  it("serves the seed's SFTP client examples and OpenSSH's sftp", function()
    with_example("server_sftp", function(ex)
      client_home(ex)
      local r = run_example("sftp_client")
      assert.equal(0, r.status, r.stderr)
      assert.equal("the server's example\n", read(r.cwd .. "/example.txt"))

      r = run_example("sftp_get_recursive")
      assert.equal(0, r.status, r.stderr)
      assert.equal("one", read(r.cwd .. "/example_dir/one"))
      assert.equal("two", read(r.cwd .. "/example_dir/sub/two"))
      local mode, mtime = stat(r.cwd .. "/example_dir/one")
      assert.equal("640", mode)
      assert.equal(select(2, stat(dir .. "/example_dir/one")), mtime)

      r = run_example("sftp_mget")
      assert.equal(0, r.status, r.stderr)
      assert.equal("a\n", read(r.cwd .. "/a.txt"))
      assert.equal("b\n", read(r.cwd .. "/b.txt"))
      assert.equal("the server's example\n", read(r.cwd .. "/example.txt"))

      -- OpenSSH's sftp in batch mode
      local cwd = util.tmpdir()
      util.write(cwd .. "/batch", "get example.txt got.txt\nls example_dir\n")
      r = util.run(("cd %s && sftp -b batch -P %d -F /dev/null -o BatchMode=yes "
                    .. "-o IdentitiesOnly=yes -i %s -o UserKnownHostsFile=%s "
                    .. "alice@127.0.0.1"):format(q(cwd), ex.port, q(dir .. "/alice"),
                                                 q(ex.known_hosts)))
      assert.equal(0, r.status, r.stderr)
      assert.equal("the server's example\n", read(cwd .. "/got.txt"))
      assert.matches("example_dir/sub", r.stdout, 1, true)

      -- a failure reaches the example's user as the seed's message
      local empty = util.tmpdir()
      sh("mv " .. q(dir .. "/example.txt") .. " " .. q(dir .. "/example.moved"))
      r = run_example("sftp_client", empty)
      sh("mv " .. q(dir .. "/example.moved") .. " " .. q(dir .. "/example.txt"))
      assert.equal(1, r.status)
      assert.matches("^SFTP operation failed: SFTPNoSuchFile", r.stderr)
    end)
  end)
end)

describe("server_sftp_chroot.lua", function()
  it("gives each user their own directory as /", function()
    local root = dir .. "/sftproot"
    sh("mkdir -p " .. q(root .. "/alice"))
    util.write(root .. "/alice/example.txt", "alice's own\n")
    with_example("server_sftp_chroot", function(ex)
      client_home(ex)
      local r = run_example("sftp_client")
      assert.equal(0, r.status, r.stderr)
      assert.equal("alice's own\n", read(r.cwd .. "/example.txt"))

      -- nothing outside the user's directory can be reached
      local conn <close> = ssh.connect("127.0.0.1", ex.port, {
        username = "bob", client_keys = {dir .. "/bob"}, agent_path = false,
        known_hosts = ex.known_hosts})
      local sftp <close> = conn:start_sftp_client()
      local names = {}
      for _, n in ipairs(sftp:listdir("/")) do
        if n ~= "." and n ~= ".." then names[#names + 1] = n end
      end
      assert.same({}, names)
      assert.is_false(sftp:exists("../alice/example.txt"))
      assert.is_false(sftp:exists("/../../example.txt"))
      sftp:put(dir .. "/a.txt", "mine.txt")
      assert.equal("a\n", read(root .. "/bob/mine.txt"))

      -- a user name that is not a plain directory name gets no SFTP
      local conn2 <close> = ssh.connect("127.0.0.1", ex.port, {
        username = "../alice", client_keys = {dir .. "/bob"}, agent_path = false,
        known_hosts = ex.known_hosts})
      assert.has_error(function() conn2:start_sftp_client() end)
      assert.is_nil(read(root .. "/alice/mine.txt"))
    end, "LUASSH_EXAMPLE_SFTP_ROOT=" .. q(root))
  end)
end)

describe("server_scp.lua", function()
  it("serves the seed's SCP client examples and OpenSSH's scp -O", function()
    with_example("server_scp", function(ex)
      client_home(ex)
      -- downloads: host:path, {{host, port}, path}, {conn, path}
      for _, name in ipairs {"scp_client", "scp_port", "scp_conn"} do
        local r = run_example(name, nil, name == "scp_port" and tostring(ex.port))
        assert.equal(0, r.status, name .. ": " .. r.stderr)
        assert.equal("the server's example\n", read(r.cwd .. "/example.txt"), name)
      end

      -- uploads, from a client directory with its own files
      local cwd = util.tmpdir()
      util.write(cwd .. "/example.txt", "the client's example\n")
      util.write(cwd .. "/c1.txt", "c1\n")
      sh(("mkdir -p %s/example_dir/up && printf up > %s/example_dir/up/f && "
          .. "chmod 600 %s/example_dir/up/f && touch -d '2002-03-04 05:06:07' %s/example_dir/up/f")
         :format(q(cwd), q(cwd), q(cwd), q(cwd)))
      local r = run_example("scp_upload_rename", cwd)
      assert.equal(0, r.status, r.stderr)
      assert.equal("the client's example\n", read(dir .. "/example2.txt"))
      r = run_example("scp_upload_wildcard", cwd)
      assert.equal(0, r.status, r.stderr)
      assert.equal("c1\n", read(dir .. "/c1.txt"))
      r = run_example("scp_recursive", cwd)
      assert.equal(0, r.status, r.stderr)
      assert.equal("up", read(dir .. "/example_dir/up/f"))
      local mode, mtime = stat(dir .. "/example_dir/up/f")
      assert.equal("600", mode)
      assert.equal(select(2, stat(cwd .. "/example_dir/up/f")), mtime)
      r = run_example("scp_upload", cwd)
      assert.equal(0, r.status, r.stderr)
      assert.equal("the client's example\n", read(dir .. "/example.txt"))

      -- OpenSSH's scp (the SCP protocol: -O)
      local args = ("-O -P %d -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes "
                    .. "-i %s -o UserKnownHostsFile=%s"):format(ex.port,
                    q(dir .. "/alice"), q(ex.known_hosts))
      local got = util.tmpdir()
      r = util.run(("scp %s alice@127.0.0.1:c1.txt %s"):format(args, q(got .. "/c1")))
      assert.equal(0, r.status, r.stderr)
      assert.equal("c1\n", read(got .. "/c1"))

      -- a missing file reaches the example's user as the seed's message
      r = run_example("scp_client", nil)
      assert.equal(0, r.status, r.stderr)
      sh("rm " .. q(dir .. "/example.txt"))
      r = run_example("scp_client", nil)
      assert.equal(1, r.status)
      assert.matches("^SFTP operation failed: ", r.stderr)
      util.write(dir .. "/example.txt", "the server's example\n")
    end)
  end)
end)

describe("allow_scp with an sftp_factory function", function()
  it("roots SCP where the factory roots SFTP for the session", function()
    local host_key = ssh.generate_private_key("ssh-ed25519")
    local user_key = ssh.generate_private_key("ssh-ed25519")
    local root = util.tmpdir()
    sh("mkdir -p " .. q(root .. "/carl"))
    util.write(root .. "/carl/in.txt", "carl's\n")
    util.write(root .. "/top.txt", "not for carl\n")
    local l <close> = ssh.listen("127.0.0.1", 0, {
      server_host_keys = {host_key}, authorized_client_keys = {user_key},
      allow_scp = true,
      sftp_factory = function(chan)
        return {chroot = root .. "/" .. chan:get_extra_info("username")}
      end})
    local conn <close> = ssh.connect("127.0.0.1", l:get_port(), {
      username = "carl", client_keys = {user_key}, agent_path = false,
      known_hosts = ssh.import_known_hosts(ssh.format_known_hosts_entry(
        "127.0.0.1", l:get_port(), host_key))})
    local out = util.tmpdir()
    ssh.scp({conn, "in.txt"}, out .. "/in.txt")
    assert.equal("carl's\n", read(out .. "/in.txt"))
    ssh.scp({conn, "/in.txt"}, out .. "/abs.txt")
    assert.equal("carl's\n", read(out .. "/abs.txt"))
    assert.has_error(function() ssh.scp({conn, "../top.txt"}, out .. "/top.txt") end)
    assert.is_nil(read(out .. "/top.txt"))
    ssh.scp(out .. "/in.txt", {conn, "back.txt"})
    assert.equal("carl's\n", read(root .. "/carl/back.txt"))
    util.rmtree(out)
    util.rmtree(root)
  end)
end)
