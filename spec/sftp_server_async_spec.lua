-- The sftp subsystem's file I/O runs on libuv's thread pool (issue 7:
-- "one slow disk does not stall other sessions"): a stalled filesystem
-- (spec/support/slowfs.py, a FUSE mount whose lookup of "slow" blocks
-- until we say so) holds one session's request on a worker while the
-- loop keeps serving sessions, other SFTP sessions and a ticker task on
-- time; a client that leaves mid-request ends its session without
-- waiting for the worker, and the server frees it when the worker
-- returns.  Needs root and /dev/fuse (pending otherwise).
local ssh = require "luassh"
local util = require "spec.support.util"

local q = util.q

local host_key = ssh.generate_private_key("ssh-ed25519")
local user_key = ssh.generate_private_key("ssh-ed25519")

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local d = f:read("a")
  f:close()
  return d
end

describe("the sftp subsystem on the thread pool", function()
  local dir, root, mnt, go, listener, have_fuse, why

  local function connect()
    return ssh.connect("127.0.0.1", listener:get_port(), {
      username = "u", client_keys = {user_key}, agent_path = false,
      known_hosts = ssh.import_known_hosts(ssh.format_known_hosts_entry(
        "127.0.0.1", listener:get_port(), host_key))})
  end

  setup(function()
    dir = util.tmpdir()
    root = dir .. "/root"
    mnt = root .. "/mnt"
    go = dir .. "/go"
    os.execute("mkdir -p " .. q(mnt))
    util.write(root .. "/small", "hello\n")
    local f = io.open("/dev/fuse", "r")
    if f then f:close() end
    if not f or util.run("id -u").stdout ~= "0\n" then
      why = "needs root and /dev/fuse"
    else
      os.execute(("python3 %s %s %s >%s 2>&1 & echo $! >%s"):format(
        q(util.root .. "/spec/support/slowfs.py"), q(mnt), q(go),
        q(dir .. "/fuse.log"), q(dir .. "/fuse.pid")))
      for _ = 1, 200 do
        local log = read(dir .. "/fuse.log") or ""
        if log:match("ready") then have_fuse = true break end
        if log:match("%S") then why = "slowfs: " .. log break end
        os.execute("sleep 0.05")
      end
      why = why or "slowfs did not start"
    end
    listener = ssh.listen("127.0.0.1", 0, {server_host_keys = {host_key},
      authorized_client_keys = {user_key}, sftp_factory = {chroot = root},
      process_factory = function(p)
        p.stdout:write("pong\n")
        p:exit(0)
      end})
  end)

  teardown(function()
    util.write(go, "")
    if have_fuse then
      os.execute("umount -l " .. q(mnt) .. " 2>/dev/null")
      os.execute("kill " .. (read(dir .. "/fuse.pid") or ""):gsub("%s", "")
                 .. " 2>/dev/null")
    end
    listener:close()
    util.rmtree(dir)
  end)

  it("keeps the loop and other sessions running while a worker waits on a stalled disk", function()
    if not have_fuse then return pending(why) end
    os.remove(go)
    local stop, maxgap, ticks = false, 0, 0
    local ticker = ssh.spawn(function()
      local last = ssh.now()
      while not stop do
        ssh.sleep(0.02)
        local t = ssh.now()
        if t - last > maxgap then maxgap = t - last end
        last, ticks = t, ticks + 1
      end
    end)
    local a <close> = connect()
    local sa <close> = a:start_sftp_client()
    local stalled = ssh.spawn(function()
      local t0 = ssh.now()
      local ok, err = pcall(sa.stat, sa, "mnt/slow")
      return ok, err, ssh.now() - t0
    end)
    ssh.sleep(0.3)
    assert.is_false(stalled:done())
    -- Meanwhile: a new connection, a session, and an SFTP session.
    local t0 = ssh.now()
    local b <close> = connect()
    assert.equal("pong\n", b:run("ping").stdout)
    local sb <close> = b:start_sftp_client()
    assert.equal(6, sb:stat("small").size)
    sb:get("small", dir .. "/small.copy")
    assert.equal("hello\n", read(dir .. "/small.copy"))
    local took = ssh.now() - t0
    assert.is_false(stalled:done())
    assert.is_true(took < 3, "the other sessions took " .. took .. " s")
    assert.is_true(maxgap < 0.5, "the ticker stalled for " .. maxgap .. " s")
    assert.is_true(ticks > 5)
    -- Unblocked: the stalled request gets its answer, the session goes on.
    util.write(go, "")
    local ok, err, waited = ssh.timeout(10, stalled.wait, stalled)
    assert.is_false(ok)
    assert.equal("SFTPNoSuchFile", err.kind)
    assert.is_true(waited >= 0.3)
    assert.equal(6, sa:stat("small").size)
    stop = true
    ticker:wait()
  end)

  it("ends a session whose client leaves mid-request and serves on", function()
    if not have_fuse then return pending(why) end
    os.remove(go)
    for _ = 1, 3 do
      local c = connect()
      local sc = c:start_sftp_client()
      local t = ssh.spawn(function() return pcall(sc.stat, sc, "mnt/slow") end)
      ssh.sleep(0.2)
      assert.is_false(t:done())
      c:abort()
      local ok = ssh.timeout(5, t.wait, t)
      assert.is_false(ok)
    end
    -- Three workers still wait on the stalled disk; the server serves on.
    local d <close> = connect()
    local sd <close> = d:start_sftp_client()
    assert.equal(6, sd:stat("small").size)
    sd:put(root .. "/small", "copied")
    assert.equal("hello\n", read(root .. "/copied"))
    -- The workers return into sessions that are gone: freed, not used.
    util.write(go, "")
    ssh.sleep(0.3)
    assert.equal(6, sd:stat("copied").size)
    assert.equal("pong\n", d:run("ping").stdout)
  end)

  it("still runs table overrides on the loop thread, in order", function()
    -- (The synchronous path: Lua methods cannot run on a worker.)
    local seen = {}
    local l <close> = ssh.listen("127.0.0.1", 0, {server_host_keys = {host_key},
      authorized_client_keys = {user_key},
      sftp_factory = {chroot = root, stat = function(_, path)
        seen[#seen + 1] = path
        if path == "/virtual" then
          return {type = ssh.FILEXFER_TYPE_REGULAR, permissions = 420, size = 42}
        end
      end}})
    local c <close> = ssh.connect("127.0.0.1", l:get_port(), {
      username = "u", client_keys = {user_key}, agent_path = false,
      known_hosts = ssh.import_known_hosts(ssh.format_known_hosts_entry(
        "127.0.0.1", l:get_port(), host_key))})
    local s <close> = c:start_sftp_client()
    assert.equal(42, s:stat("/virtual").size)
    assert.equal(6, s:stat("/small").size)
    assert.same({"/virtual", "/small"}, seen)
  end)
end)
