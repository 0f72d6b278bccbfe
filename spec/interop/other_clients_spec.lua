-- SSH clients that are neither OpenSSH nor Python against luassh's server
-- examples (scripts/examples/server_*.lua, run as programs on a random
-- loopback port): PuTTY's plink, psftp and pscp, Dropbear's dbclient, and
-- curl's sftp:// and scp:// (libssh2) (Debian's putty-tools, dropbear-bin
-- and curl, installed by tools/deps.sh).
-- Their key formats come from puttygen and dropbearconvert; host keys are
-- pinned (plink -hostkey) or accepted on first use (dbclient -y, whose
-- known_hosts goes to a throw-away HOME).
local util = require "spec.support.util"
local sx = require "spec.support.server_example"

local q = util.q
local dir

local function have(cmd)
  return os.execute("command -v " .. cmd .. " >/dev/null 2>&1")
end

local function sh(cmd)
  local r = util.run(cmd)
  assert(r.status == 0, cmd .. ": " .. r.stderr)
  return r.stdout
end

local function with_example(name, fn) sx.with(name, dir, 60, fn) end

local function same_file(a, b)
  return util.run("cmp -s " .. q(a) .. " " .. q(b)).status == 0
end

-- PuTTY -------------------------------------------------------------------

local putty_it = (have("plink") and have("puttygen")) and it or pending

-- Options every PuTTY tool takes: batch mode, the port, the pinned host
-- key (its SHA256 fingerprint), and alice's key unless a password is used.
local function putty_args(ex, opts)
  opts = opts or {}
  local fp = sh("ssh-keygen -lf " .. q(dir .. "/ssh_host_key.pub")):match("(SHA256:%S+)")
  local a = {"-batch", "-P", tostring(ex.port), "-hostkey", q(fp)}
  if opts.password then
    a[#a + 1] = "-pw " .. q(opts.password)
  else
    a[#a + 1] = "-i " .. q(dir .. "/alice.ppk")
  end
  return table.concat(a, " ")
end

local function plink(ex, user, command, input, opts)
  return util.run(("timeout 60 plink -ssh %s %s %s"):format(putty_args(ex, opts),
    q(user .. "@127.0.0.1"), q(command)), input)
end

describe("PuTTY against luassh", function()
  setup(function()
    dir = util.tmpdir()
    sx.keys(dir)
    if have("puttygen") then
      sh(("puttygen %s -O private -o %s"):format(q(dir .. "/alice"), q(dir .. "/alice.ppk")))
    end
  end)
  teardown(function() if dir then util.rmtree(dir) end end)

  putty_it("plink logs in with a password (keyboard-interactive) and runs a command", function()
    with_example("server_simple", function(ex)
      local r = plink(ex, "user123", "ls", "", {password = "secretpw"})
      assert.equal(0, r.status, r.stderr)
      assert.equal("Welcome to my SSH server, user123!\n", r.stdout)
      r = plink(ex, "user123", "ls", "", {password = "wrong"})
      assert.is_not.equal(0, r.status)
      assert.is_not.equal(124, r.status) -- refused, not timed out
      assert.equal("", r.stdout)
    end)
  end)

  putty_it("plink logs in with an ed25519 key and streams stdin and stdout", function()
    with_example("server_redirect_bc", function(ex)
      local r = plink(ex, "alice", "bc", "2+3\n6*7\n")
      assert.equal(0, r.status, r.stderr)
      assert.equal("5\n42\n", r.stdout)
    end)
  end)

  putty_it("psftp runs a batch of file operations", function()
    with_example("server_scp", function(ex)
      local loc, rem = dir .. "/psftp_local", dir .. "/psftp_remote"
      sh(("mkdir -p %s %s/tree/sub && head -c 1048583 /dev/urandom > %s/big"
          .. " && echo leaf > %s/tree/sub/leaf && echo top > %s/tree/top")
         :format(q(rem), q(loc), q(loc), q(loc), q(loc)))
      local batch = dir .. "/psftp.batch"
      util.write(batch, table.concat({
        "cd " .. rem, "lcd " .. loc,
        "put big big.up", "get big.up big.down",
        "mkdir d", "rename big.up d/big.moved", "chmod 600 d/big.moved",
        "ls d", "put -r tree tree.up", "get -r tree.up tree.down",
        "del d/big.moved", "rmdir d", "quit"}, "\n") .. "\n")
      local r = util.run(("timeout 60 psftp %s -b %s %s"):format(putty_args(ex),
        q(batch), q("alice@127.0.0.1")))
      assert.equal(0, r.status, r.stdout .. r.stderr)
      assert.is_true(same_file(loc .. "/big", loc .. "/big.down"))
      assert.truthy(r.stdout:find("-rw-------", 1, true)) -- ls after chmod
      assert.equal("leaf\n", sx.read_file(rem .. "/tree.up/sub/leaf"))
      assert.equal("top\n", sx.read_file(loc .. "/tree.down/top"))
      assert.equal("leaf\n", sx.read_file(loc .. "/tree.down/sub/leaf"))
      assert.is_nil(io.open(rem .. "/d", "r")) -- removed again
    end)
  end)

  putty_it("pscp copies both ways over SFTP and over SCP", function()
    with_example("server_scp", function(ex)
      local src = dir .. "/pscp_src"
      sh(("head -c 262145 /dev/urandom > %s"):format(q(src)))
      for _, mode in ipairs {"-sftp", "-scp"} do
        local up, down = dir .. "/pscp_up" .. mode, dir .. "/pscp_down" .. mode
        local r = util.run(("timeout 60 pscp -q %s %s %s %s"):format(mode,
          putty_args(ex), q(src), q("alice@127.0.0.1:" .. up)))
        assert.equal(0, r.status, mode .. ": " .. r.stderr)
        r = util.run(("timeout 60 pscp -q %s %s %s %s"):format(mode,
          putty_args(ex), q("alice@127.0.0.1:" .. up), q(down)))
        assert.equal(0, r.status, mode .. ": " .. r.stderr)
        assert.is_true(same_file(src, up), mode)
        assert.is_true(same_file(src, down), mode)
      end
      -- A missing remote file is an error, not a hang or an empty copy.
      local r = util.run(("timeout 60 pscp -q -scp %s %s %s"):format(putty_args(ex),
        q("alice@127.0.0.1:" .. dir .. "/no-such-file"), q(dir .. "/never")))
      assert.is_not.equal(0, r.status)
      assert.is_not.equal(124, r.status)
      assert.is_nil(io.open(dir .. "/never", "r"))
    end)
  end)
end)

-- Dropbear ----------------------------------------------------------------

local dropbear_it = (have("dbclient") and have("dropbearconvert")) and it or pending

describe("Dropbear's dbclient against luassh", function()
  local home

  setup(function()
    dir = util.tmpdir()
    sx.keys(dir)
    home = dir .. "/home"
    sh("mkdir -p " .. q(home))
    if have("dropbearconvert") then
      sh(("dropbearconvert openssh dropbear %s %s"):format(q(dir .. "/alice"),
                                                           q(dir .. "/alice.db")))
    end
  end)
  teardown(function() if dir then util.rmtree(dir) end end)

  local function dbclient(ex, args, input)
    return util.run(("HOME=%s timeout 60 dbclient -y -i %s -p %d %s %s"):format(
      q(home), q(dir .. "/alice.db"), ex.port, args or "", "alice@127.0.0.1 bc"), input)
  end

  dropbear_it("logs in with an ed25519 key and streams stdin and stdout", function()
    with_example("server_redirect_bc", function(ex)
      local r = dbclient(ex, "", "2+3\n6*7\n")
      assert.equal(0, r.status, r.stderr)
      assert.equal("5\n42\n", r.stdout)
      -- Every cipher dbclient offers that we offer too.
      for _, c in ipairs {"chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr"} do
        r = dbclient(ex, "-c " .. c, "1+1\n")
        assert.equal(0, r.status, c .. ": " .. r.stderr)
        assert.equal("2\n", r.stdout, c)
      end
    end)
  end)

  dropbear_it("is refused cleanly with a key the server does not know", function()
    with_example("server_redirect_bc", function(ex)
      local other = dir .. "/stranger"
      sh(("ssh-keygen -q -t ed25519 -N '' -f %s && dropbearconvert openssh dropbear %s %s")
         :format(q(other), q(other), q(other .. ".db")))
      local r = util.run(("HOME=%s timeout 60 dbclient -y -i %s -p %d %s"):format(
        q(home), q(other .. ".db"), ex.port, "alice@127.0.0.1 bc"), "1+1\n")
      assert.is_not.equal(0, r.status)
      assert.is_not.equal(124, r.status)
      assert.equal("", r.stdout)
    end)
  end)
end)

-- curl (libssh2) ------------------------------------------------------------

local function curl_has(proto)
  local p = io.popen("curl -V 2>/dev/null")
  local v = p and p:read("a") or ""
  if p then p:close() end
  return v:match("\nProtocols:[^\n]*%f[%w]" .. proto .. "%f[%W]") ~= nil
end

local curl_it = (have("curl") and curl_has("sftp") and curl_has("scp")) and it or pending

describe("curl's sftp:// and scp:// (libssh2) against luassh", function()
  setup(function()
    dir = util.tmpdir()
    sx.keys(dir)
  end)
  teardown(function() if dir then util.rmtree(dir) end end)

  local function curl(ex, args, path)
    return util.run(("timeout 60 curl -sS --insecure -u alice: --key %s --pubkey %s %s %s")
      :format(q(dir .. "/alice"), q(dir .. "/alice.pub"), args,
              q(("%s://127.0.0.1:%d%s"):format(path:match("^(%a+):"), ex.port,
                                                path:match("^%a+:(.*)")))))
  end

  curl_it("uploads, downloads, lists and runs quote commands over SFTP", function()
    with_example("server_scp", function(ex)
      local src, d = dir .. "/curl_src", dir .. "/curl"
      sh(("head -c 1048583 /dev/urandom > %s && mkdir -p %s"):format(q(src), q(d)))
      local r = curl(ex, "-T " .. q(src), "sftp:" .. d .. "/up")
      assert.equal(0, r.status, r.stderr)
      assert.is_true(same_file(src, d .. "/up"))
      r = curl(ex, "-o " .. q(d .. "/../curl_down"), "sftp:" .. d .. "/up")
      assert.equal(0, r.status, r.stderr)
      assert.is_true(same_file(src, dir .. "/curl_down"))
      r = curl(ex, "", "sftp:" .. d .. "/")
      assert.equal(0, r.status, r.stderr)
      assert.truthy(r.stdout:find("1048583 [%a]+ +%d+ [%d:]+ up\n"), r.stdout)
      r = curl(ex, table.concat({"-Q " .. q("mkdir " .. d .. "/qd"),
        "-Q " .. q("rename " .. d .. "/up " .. d .. "/qd/moved"),
        "-Q " .. q("chmod 600 " .. d .. "/qd/moved"),
        "-Q " .. q("symlink " .. d .. "/qd/moved " .. d .. "/qd/link")}, " "),
        "sftp:" .. d .. "/qd/")
      assert.equal(0, r.status, r.stderr)
      assert.truthy(r.stdout:find("-rw-------", 1, true), r.stdout)
      assert.equal(d .. "/qd/moved\n", util.capture("readlink " .. q(d .. "/qd/link")))
      r = curl(ex, table.concat({"-o /dev/null", "-Q " .. q("rm " .. d .. "/qd/link"),
        "-Q " .. q("rm " .. d .. "/qd/moved"), "-Q " .. q("rmdir " .. d .. "/qd")}, " "),
        "sftp:" .. d .. "/")
      assert.equal(0, r.status, r.stderr)
      assert.is_nil(io.open(d .. "/qd", "r"))
      -- A missing file: curl's "remote file not found" (78), no hang.
      r = curl(ex, "-o " .. q(dir .. "/never"), "sftp:" .. d .. "/no-such-file")
      assert.equal(78, r.status, r.stderr)
    end)
  end)

  curl_it("copies both ways over SCP", function()
    with_example("server_scp", function(ex)
      local src = dir .. "/curl_scp_src"
      sh(("head -c 262145 /dev/urandom > %s"):format(q(src)))
      local r = curl(ex, "-T " .. q(src), "scp:" .. dir .. "/curl_scp_up")
      assert.equal(0, r.status, r.stderr)
      r = curl(ex, "-o " .. q(dir .. "/curl_scp_down"), "scp:" .. dir .. "/curl_scp_up")
      assert.equal(0, r.status, r.stderr)
      assert.is_true(same_file(src, dir .. "/curl_scp_up"))
      assert.is_true(same_file(src, dir .. "/curl_scp_down"))
    end)
  end)
end)
