-- The "sftp" subsystem of the luassh server (issue 7: sftp_factory):
-- OpenSSH's sftp in batch mode, paramiko's and asyncssh's SFTP clients
-- against a luassh server (its own process) with a chroot, the transfer
-- size matrix up and down, recursive trees, and escapes that must fail.
local ssh = require "luassh"
local util = require "spec.support.util"

local q = util.q

local server = require "spec.support.luassh_server"
local sh, read = server.sh, server.read

local SIZES = {0, 1, 32767, 32768, 32769, 262143, 262144, 262145, 1048583}

describe("the luassh server's sftp subsystem", function()
  local dir, root, port, sftp

  setup(function()
    dir = util.tmpdir()
    root = dir .. "/root"
    sh(("mkdir -p %s %s/src %s/tree/a/b"):format(q(root), q(dir), q(dir)))
    for _, n in ipairs(SIZES) do
      sh(("head -c %d /dev/urandom > %s"):format(n, q(dir .. "/src/f" .. n)))
    end
    for i = 1, 50 do
      util.write(("%s/tree/a/b/file%02d"):format(dir, i), ("content %d\n"):format(i))
    end
    util.write(dir .. "/outside-secret", "secret\n")
    port = server.start(dir, ("sftp_factory = {chroot = %q}"):format(root))
    sftp = "sftp -q " .. server.ssh_opts(dir, port, "-P") .. "-b - u@127.0.0.1"
  end)

  teardown(function()
    server.stop(dir)
  end)

  local function batch(cmds)
    return util.run(sftp, table.concat(cmds, "\n") .. "\n")
  end

  it("moves every size of the matrix up and down intact (OpenSSH sftp)", function()
    local cmds = {"mkdir up"}
    for _, n in ipairs(SIZES) do
      cmds[#cmds + 1] = ("put %s up/f%d"):format(dir .. "/src/f" .. n, n)
    end
    sh("mkdir -p " .. q(dir .. "/down"))
    for _, n in ipairs(SIZES) do
      cmds[#cmds + 1] = ("get up/f%d %s"):format(n, dir .. "/down/f" .. n)
    end
    local r = batch(cmds)
    assert.equal(0, r.status, r.stdout .. r.stderr)
    for _, n in ipairs(SIZES) do
      local want = read(dir .. "/src/f" .. n)
      assert.equal(want, read(root .. "/up/f" .. n), "up " .. n)
      assert.equal(want, read(dir .. "/down/f" .. n), "down " .. n)
    end
  end)

  it("runs sftp's other commands: put -R, get -R, rename, chmod, ln -s, df, rm, rmdir", function()
    sh("mkdir -p " .. q(dir .. "/treeback"))
    local r = batch {
      "put -R " .. dir .. "/tree tree",
      "rename tree/a/b/file01 tree/a/renamed",
      "chmod 600 tree/a/renamed",
      "ln -s renamed tree/a/link",
      "df",
      "get -R tree " .. dir .. "/treeback",
      "rm tree/a/b/file02",
      "mkdir gone",
      "rmdir gone",
      "ls -l tree/a",
    }
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.equal("content 1\n", read(root .. "/tree/a/renamed"))
    assert.equal("600", sh("stat -c %a " .. q(root .. "/tree/a/renamed")).stdout:match("%d+"))
    assert.equal("renamed", sh("readlink " .. q(root .. "/tree/a/link")).stdout:match("%S+"))
    assert.is_nil(read(root .. "/tree/a/b/file02"))
    assert.equal("content 50\n", read(dir .. "/treeback/tree/a/b/file50")
                 or read(dir .. "/treeback/a/b/file50"))
    assert.matches("Avail", r.stdout, 1, true)
  end)

  it("keeps the client inside the chroot", function()
    local r = batch {"-get ../outside-secret " .. dir .. "/esc1",
                     "-get /../../outside-secret " .. dir .. "/esc2",
                     "ln -s ../../.. up/escape",
                     "-get up/escape/outside-secret " .. dir .. "/esc3"}
    assert.is_nil(read(dir .. "/esc1"))
    assert.is_nil(read(dir .. "/esc2"))
    assert.is_nil(read(dir .. "/esc3"))
    -- a symlink planted outside the session pointing out is no way out
    sh(("ln -s %s %s"):format(q(dir), q(root .. "/planted")))
    r = batch {"-get planted/outside-secret " .. dir .. "/esc4"}
    assert.is_nil(read(dir .. "/esc4"))
  end)

  it("serves paramiko's and asyncssh's SFTP clients", function()
    local py = ([[
import warnings; warnings.filterwarnings("ignore")
import paramiko, asyncio, asyncssh
c = paramiko.SSHClient(); c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
c.connect("127.0.0.1", port=%d, username="u", key_filename=%q, look_for_keys=False, allow_agent=False)
s = c.open_sftp()
s.put(%q, "pm.bin")
print("paramiko", s.stat("pm.bin").st_size, sorted(s.listdir("."))[:3])
s.symlink("pm.bin", "pm.link")
s.close(); c.close()
async def main():
    async with asyncssh.connect("127.0.0.1", %d, username="u", client_keys=[%q], known_hosts=None) as conn:
        async with conn.start_sftp_client() as sftp:
            await sftp.get("pm.bin", %q)
            print("asyncssh", (await sftp.stat("pm.bin")).size)
            await sftp.symlink("pm.bin", "as.link")
asyncio.run(main())
]]):format(port, dir .. "/ukey", dir .. "/src/f262145", port, dir .. "/ukey",
           dir .. "/as.bin")
    util.write(dir .. "/c.py", py)
    local r = util.run("/usr/bin/python3 " .. q(dir .. "/c.py"))
    assert.equal(0, r.status, r.stdout .. r.stderr)
    assert.matches("paramiko 262145", r.stdout, 1, true)
    assert.matches("asyncssh 262145", r.stdout, 1, true)
    assert.equal(read(dir .. "/src/f262145"), read(dir .. "/as.bin"))
    -- Each client's SYMLINK in its own order: paramiko's OpenSSH order,
    -- AsyncSSH's the draft's (it sends that to a server whose version
    -- names neither OpenSSH nor paramiko).
    assert.equal("pm.bin\n", util.capture("readlink " .. q(root .. "/pm.link")))
    assert.equal("pm.bin\n", util.capture("readlink " .. q(root .. "/as.link")))
  end)

  it("serves our own SFTP client: the size matrix, a tree, and errors", function()
    local conn <close> = ssh.connect("127.0.0.1", port, {username = "u",
      client_keys = {dir .. "/ukey"}, known_hosts = false, agent_path = false})
    local sftp <close> = conn:start_sftp_client()
    sftp:mkdir("ours")
    for _, n in ipairs(SIZES) do
      sftp:put(dir .. "/src/f" .. n, "ours/f" .. n)
      sftp:get("ours/f" .. n, dir .. "/ours-f" .. n)
      local want = read(dir .. "/src/f" .. n)
      assert.equal(want, read(root .. "/ours/f" .. n), "up " .. n)
      assert.equal(want, read(dir .. "/ours-f" .. n), "down " .. n)
      assert.equal(n, sftp:getsize("ours/f" .. n))
    end
    sftp:put(dir .. "/tree", "ourtree", {recurse = true, preserve = true})
    assert.equal("content 7\n", read(root .. "/ourtree/a/b/file07"))
    assert.equal(50, #sftp:glob("ourtree/a/b/file*"))
    local ok, err = pcall(sftp.stat, sftp, "no/such/file")
    assert.is_false(ok)
    assert.equal("SFTPNoSuchFile", err.kind)
    assert.is_true(ssh.is_error(err, "SFTPError"))
    -- the chroot: "/" is the root, ".." cannot climb out
    assert.equal("/", sftp:realpath("/.."))
    assert.is_false(sftp:exists("/../outside-secret"))
  end)
end)
