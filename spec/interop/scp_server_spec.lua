-- The server side of SCP (issue 8: allow_scp): OpenSSH's `scp -O` and our
-- own ssh.scp against a luassh server running as its own process, up and
-- down, recursive and preserving, with SHA-256 (here: byte) equality,
-- wildcards, errors, and paths that try to leave scp_root.
local ssh = require "luassh"
local util = require "spec.support.util"

local q = util.q

local server = require "spec.support.luassh_server"
local sh, read = server.sh, server.read

describe("scp against the luassh server (allow_scp)", function()
  local dir, root, port, scp

  setup(function()
    dir = util.tmpdir()
    root = dir .. "/root"
    sh(("mkdir -p %s %s/src/sub/deeper"):format(q(root), q(dir)))
    sh(("head -c 1048583 /dev/urandom > %s"):format(q(dir .. "/src/big")))
    util.write(dir .. "/src/empty", "")
    util.write(dir .. "/src/sub/a.txt", "alpha\n")
    util.write(dir .. "/src/sub/deeper/b.txt", "beta\n")
    sh(("chmod 640 %s && touch -d '2001-02-03 04:05:06' %s"):format(
      q(dir .. "/src/sub/a.txt"), q(dir .. "/src/sub/a.txt")))
    port = server.start(dir, ("allow_scp = true, scp_root = %q"):format(root))
    scp = "scp -O -q " .. server.ssh_opts(dir, port, "-P")
  end)

  teardown(function()
    server.stop(dir)
  end)

  it("takes a recursive, preserving upload from OpenSSH scp", function()
    sh(scp .. "-rp " .. q(dir .. "/src") .. " u@127.0.0.1:up")
    assert.equal(read(dir .. "/src/big"), read(root .. "/up/big"))
    assert.equal("", read(root .. "/up/empty"))
    assert.equal("beta\n", read(root .. "/up/sub/deeper/b.txt"))
    local r = sh("stat -c '%a %Y' " .. q(root .. "/up/sub/a.txt"))
    local want = sh("stat -c '%a %Y' " .. q(dir .. "/src/sub/a.txt"))
    assert.equal(want.stdout, r.stdout)
  end)

  it("serves a recursive, preserving download to OpenSSH scp", function()
    sh("mkdir -p " .. q(dir .. "/down"))
    sh(scp .. "-rp u@127.0.0.1:up " .. q(dir .. "/down/"))
    assert.equal(read(dir .. "/src/big"), read(dir .. "/down/up/big"))
    assert.equal("alpha\n", read(dir .. "/down/up/sub/a.txt"))
    local r = sh("stat -c '%a %Y' " .. q(dir .. "/down/up/sub/a.txt"))
    local want = sh("stat -c '%a %Y' " .. q(dir .. "/src/sub/a.txt"))
    assert.equal(want.stdout, r.stdout)
  end)

  it("expands wildcards on the server, and reports missing files", function()
    sh("mkdir -p " .. q(dir .. "/wild"))
    sh(scp .. "'u@127.0.0.1:up/sub/*.txt' " .. q(dir .. "/wild/"))
    assert.equal("alpha\n", read(dir .. "/wild/a.txt"))
    local r = util.run(scp .. "u@127.0.0.1:up/nonexistent " .. q(dir .. "/wild/"))
    assert.is_not.equal(0, r.status)
    assert.matches("No such file", r.stderr, 1, true)
  end)

  it("keeps paths inside scp_root", function()
    sh("mkdir -p " .. q(dir .. "/esc"))
    local r = util.run(scp .. "u@127.0.0.1:../../../../etc/hostname " .. q(dir .. "/esc/"))
    assert.is_not.equal(0, r.status)
    assert.is_nil(read(dir .. "/esc/hostname"))
    sh(scp .. q(dir .. "/src/sub/a.txt") .. " u@127.0.0.1:../../outside.txt")
    assert.is_nil(read(dir .. "/outside.txt"))
    assert.equal("alpha\n", read(root .. "/outside.txt"))
    -- a symlink planted inside scp_root that points out is not followed
    util.write(dir .. "/secret.txt", "secret\n")
    sh(("ln -s %s %s"):format(q(dir), q(root .. "/planted")))
    r = util.run(scp .. "u@127.0.0.1:planted/secret.txt " .. q(dir .. "/esc/"))
    assert.is_not.equal(0, r.status)
    assert.is_nil(read(dir .. "/esc/secret.txt"))
    r = util.run(scp .. q(dir .. "/src/sub/a.txt") .. " u@127.0.0.1:planted/written.txt")
    assert.is_not.equal(0, r.status)
    assert.is_nil(read(dir .. "/written.txt"))
  end)

  it("works with our own client (ssh.scp) both ways", function()
    local opts = {username = "u", client_keys = {dir .. "/ukey"},
                  known_hosts = false, agent_path = false}
    opts.port = port
    ssh.scp(dir .. "/src/big", {{"127.0.0.1", port}, "ours.bin"}, opts)
    assert.equal(read(dir .. "/src/big"), read(root .. "/ours.bin"))
    ssh.scp({{"127.0.0.1", port}, "up/sub"}, dir .. "/ours-down", {
      username = "u", client_keys = {dir .. "/ukey"}, known_hosts = false,
      agent_path = false, recurse = true, preserve = true})
    assert.equal("beta\n", read(dir .. "/ours-down/deeper/b.txt"))
  end)
end)
