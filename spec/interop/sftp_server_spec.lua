-- OpenSSH's sftp client against `luassh --sftp-server` (issue 7): every
-- command of sftp(1) in batch mode, results checked on disk, and the
-- transfer integrity sizes of reliability-plan X-1 compared by SHA-256.
-- sftp -D runs our server directly on a pipe, confined to a throw-away
-- root.
local util = require "spec.support.util"

local q = util.q

local function have(cmd)
  return os.execute("command -v " .. cmd .. " >/dev/null 2>&1")
end

local function sha256(path)
  local p = assert(io.popen("sha256sum " .. q(path)))
  local out = p:read("a")
  p:close()
  return out:match("^(%x+)")
end

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

-- stat -c format of a path on disk (no symlink following).
local function lstat(fmt, path)
  return (sh("stat -c " .. q(fmt) .. " " .. q(path)):gsub("%s+$", ""))
end

-- Runs the batch (a list of lines) with sftp -b; returns the result.
local function sftp(root, lines, extra)
  local batch = os.tmpname()
  util.write(batch, table.concat(lines, "\n") .. "\n")
  local cmd = string.format("sftp %s -b %s -D %s", extra or "", q(batch),
                            q(util.bin .. " --sftp-server " .. root))
  local r = util.run(cmd)
  os.remove(batch)
  return r
end

local run_it = have("sftp") and it or pending

describe("OpenSSH sftp against luassh --sftp-server", function()
  local top, root, loc

  before_each(function()
    top = util.tmpdir()
    root = top .. "/root"
    loc = top .. "/local"
    sh("mkdir -p " .. q(root) .. " " .. q(loc))
  end)

  after_each(function() util.rmtree(top) end)

  run_it("runs without a root and answers pwd from the current directory", function()
    local r = util.run(string.format("cd %s && sftp -b - -D %s", q(root),
                                     q(util.bin .. " --sftp-server")), "pwd\n")
    assert.equal(0, r.status, r.stderr)
    assert.truthy(r.stdout:find("Remote working directory: " .. root, 1, true))
  end)

  run_it("transfers every X-1 size up and down with equal SHA-256", function()
    local sizes = {0, 1, 32767, 32768, 32769, 262143, 262144, 262145,
                   1048576 + 7}
    local lines = {"lcd " .. loc}
    for _, n in ipairs(sizes) do
      sh(string.format("head -c %d /dev/urandom > %s/up%d", n, q(loc), n))
      lines[#lines + 1] = string.format("put up%d f%d", n, n)
      lines[#lines + 1] = string.format("get f%d down%d", n, n)
    end
    local r = sftp(root, lines)
    assert.equal(0, r.status, r.stderr)
    for _, n in ipairs(sizes) do
      local want = sha256(loc .. "/up" .. n)
      assert.equal(want, sha256(root .. "/f" .. n), "put size " .. n)
      assert.equal(want, sha256(loc .. "/down" .. n), "get size " .. n)
    end
    -- Many requests in flight and small buffers: still equal.
    r = sftp(root, {"lcd " .. loc, "get f1048583 small", "put up262145 g"},
             "-B 1000 -R 256")
    assert.equal(0, r.status, r.stderr)
    assert.equal(sha256(loc .. "/up1048583"), sha256(loc .. "/small"))
    assert.equal(sha256(loc .. "/up262145"), sha256(root .. "/g"))
  end)

  run_it("runs every command of sftp(1) and leaves the expected tree", function()
    sh("mkdir -p " .. q(loc .. "/tree/sub/deeper"))
    util.write(loc .. "/tree/a.txt", "alpha\n")
    util.write(loc .. "/tree/sub/b.txt", "beta\n")
    util.write(loc .. "/tree/sub/deeper/c.txt", "gamma\n")
    util.write(loc .. "/one.txt", "one\n")
    util.write(loc .. "/half.txt", "on")
    util.write(loc .. "/partial", "on")
    local uid = sh("id -u"):gsub("%s", "")
    local gid = sh("id -g"):gsub("%s", "")
    local r = sftp(root, {
      "version",
      "pwd",
      "lpwd",
      "lcd " .. loc,
      "lls",
      "lmkdir lnew",
      "lumask 022",
      "progress",
      "mkdir d",
      "cd d",
      "pwd",
      "put one.txt",
      "put -R tree",
      "cd /",
      "ls",
      "ls -l",
      "ls -la d",
      "ls -1 d/tree",
      "ls -n d",
      "ls -lS d/tree/sub",
      "ls -lt d",
      "ls -lr d",
      "ls -lh d",
      "rename d/one.txt d/uno.txt",
      "ln -s uno.txt d/sym",
      "symlink /d/uno.txt d/abs",
      "ln d/uno.txt d/hard",
      "chmod 600 d/uno.txt",
      "chown " .. uid .. " d/uno.txt",
      "chgrp " .. gid .. " d/uno.txt",
      "chmod -h 640 d/tree/a.txt",
      "chown -h " .. uid .. " d/sym",
      "copy d/uno.txt d/copied",
      "cp d/uno.txt d/copied2",
      "df",
      "df -h",
      "df -i /d",
      "mkdir gone",
      "rmdir gone",
      "put one.txt victim",
      "rm victim",
      "get -R d/tree back",
      "get d/sym viasym",
      "reget d/uno.txt partial",
      "put half.txt d/reput.txt",
      "reput one.txt d/reput.txt",
      "get -p d/uno.txt preserved",
      "put -p one.txt d/kept.txt",
      "!true",
      "-rm does-not-exist",
      "-cd /../../..",
      "pwd",
      "bye",
    })
    assert.equal(0, r.status, r.stderr .. r.stdout)
    local out = r.stdout
    assert.truthy(out:find("SFTP protocol version 3", 1, true))
    assert.truthy(out:find("Remote working directory: /d", 1, true))
    -- cd /../../.. lands on / (realpath clamps at the root).
    assert.truthy(out:find("sftp> pwd\nRemote working directory: /\n", 1, true))
    assert.truthy(out:find("a.txt", 1, true))
    -- df printed a statvfs line.
    assert.truthy(out:find("%%Capacity"))

    -- The tree on disk.
    assert.equal("alpha\n", read(root .. "/d/tree/a.txt"))
    assert.equal("gamma\n", read(root .. "/d/tree/sub/deeper/c.txt"))
    assert.is_nil(read(root .. "/d/one.txt"))
    assert.equal("one\n", read(root .. "/d/uno.txt"))
    assert.equal("600", lstat("%a", root .. "/d/uno.txt"))
    assert.equal("640", lstat("%a", root .. "/d/tree/a.txt"))
    assert.equal(uid .. ":" .. gid, lstat("%u:%g", root .. "/d/uno.txt"))
    assert.equal("uno.txt", sh("readlink " .. q(root .. "/d/sym")):gsub("%s+$", ""))
    -- An absolute target is stored relative, inside the root.
    assert.equal("uno.txt", sh("readlink " .. q(root .. "/d/abs")):gsub("%s+$", ""))
    assert.equal(lstat("%i", root .. "/d/uno.txt"), lstat("%i", root .. "/d/hard"))
    assert.equal("one\n", read(root .. "/d/copied"))
    assert.equal("one\n", read(root .. "/d/copied2"))
    assert.is_nil(read(root .. "/gone"))
    assert.is_nil(read(root .. "/victim"))
    assert.equal("beta\n", read(loc .. "/back/sub/b.txt"))
    assert.equal("gamma\n", read(loc .. "/back/sub/deeper/c.txt"))
    assert.equal("one\n", read(loc .. "/viasym"))
    assert.equal("one\n", read(loc .. "/partial"))
    assert.equal("one\n", read(root .. "/d/reput.txt"))
    assert.equal("600", lstat("%a", loc .. "/preserved"))
    assert.equal(lstat("%Y", loc .. "/one.txt"), lstat("%Y", root .. "/d/kept.txt"))
    assert.equal("directory", lstat("%F", loc .. "/lnew"))
  end)

  run_it("keeps sftp inside the root", function()
    sh("mkdir -p " .. q(top .. "/outside"))
    util.write(top .. "/outside/secret", "SECRET")
    sh("ln -s " .. q(top .. "/outside/secret") .. " " .. q(root .. "/abs"))
    sh("ln -s ../outside/secret " .. q(root .. "/rel"))
    sh("ln -s " .. q(top .. "/outside") .. " " .. q(root .. "/dir"))
    local r = sftp(root, {
      "lcd " .. loc,
      "-get ../outside/secret s1",
      "-get /../outside/secret s2",
      "-get abs s3",
      "-get rel s4",
      "-get dir/secret s5",
      "-get " .. top .. "/outside/secret s6",
      "-put /etc/hostname ../outside/planted",
      "-put /etc/hostname dir/planted",
      "-rm dir/secret",
      "-rename rel ../outside/moved",
      "-chmod 777 abs",
      "-ln -s /etc/passwd pw",
      "-ls -l dir/",
    })
    assert.equal(0, r.status, r.stderr)
    for i = 1, 6 do
      local d = read(loc .. "/s" .. i)
      assert.is_true(d == nil or d ~= "SECRET", "s" .. i)
    end
    assert.equal("SECRET", read(top .. "/outside/secret"))
    assert.equal("secret\n", sh("ls -A " .. q(top .. "/outside")))
    assert.equal("etc/passwd", sh("readlink " .. q(root .. "/pw")):gsub("%s+$", ""))
    assert.is_not.equal("777", lstat("%a", top .. "/outside/secret"))
  end)
end)
