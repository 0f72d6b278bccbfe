-- SCP protocol machines (src/ssh/scp) against OpenSSH's scp (issue 8).
-- spec/interop/scp_driver.c runs our source or sink over stdin/stdout
-- with the POSIX backend, i.e. like a remote `scp -f` / `scp -t`:
--  * OpenSSH's `scp -O -S wrapper` talks to it as if it were the remote
--    scp (the wrapper ignores the host and execs the driver);
--  * the driver's -x option talks to OpenSSH's own `scp -t` / `scp -f`
--    run locally, so our source feeds their sink and their source ours.
-- Every case compares the SHA-256 of every file and, with -p, the mode
-- and mtime of every file and directory.
local util = require "spec.support.util"
local q = util.q

-- util.run() appends "< input" to the command line: group it, so that
-- the redirection does not bind to the last command of a pipeline.
local function sh(cmd, input)
  return util.run("{ " .. cmd .. "\n}", input)
end

local function must(cmd)
  local r = sh(cmd)
  assert(r.status == 0, cmd .. "\n" .. r.stdout .. r.stderr)
  return r.stdout
end

-- "path sha256 mode mtime" for every file and directory under dir.
local function manifest(dir, with_meta)
  local fmt = with_meta and "%P %y %m %T@\\n" or "%P %y\\n"
  -- SCP carries whole seconds: drop the fraction.
  local out = must(string.format(
    "cd %s && find . -printf '%s' | sed 's/[.][0-9]*$//' | sort", q(dir), fmt))
  local sums = must(string.format(
    "cd %s && find . -type f -print0 | sort -z | xargs -0 -r sha256sum",
    q(dir)))
  assert(#out > 0 and #sums > 0, "empty manifest of " .. dir)
  return out .. sums
end

describe("SCP protocol against OpenSSH scp -O", function()
  local W, DRV, WRAP, SRC

  setup(function()
    if sh("command -v scp").status ~= 0 then
      pending("OpenSSH scp not installed")
      return
    end
    W = util.tmpdir()
    DRV = W .. "/scp_driver"
    local root = util.root
    must(string.format(
      "%s -std=c11 -D_GNU_SOURCE -O1 -I%s %s %s/src/ssh/scp/*.c " ..
      "%s/src/common/*.c -o %s",
      os.getenv("CC") or "cc", q(root .. "/src"),
      q(root .. "/spec/interop/scp_driver.c"), q(root), q(root), q(DRV)))
    WRAP = W .. "/fake_ssh"
    -- scp -S calls: fake_ssh [options] host "scp -t -- path"; run the
    -- remote command with our driver in place of scp.
    util.write(WRAP, "#!/bin/sh\nfor last; do :; done\n" ..
      "eval \"set -- $last\"\nshift\nexec " .. q(DRV) .. " \"$@\"\n")
    must("chmod +x " .. q(WRAP))
    SRC = W .. "/src"
    must(string.format(table.concat({
      "mkdir -p %s/sub/deeper %s/'with space' %s/emptydir",
      "head -c 1048579 /dev/urandom > %s/big.bin",
      "head -c 70000 /dev/urandom > %s/sub/mid.bin",
      "printf hello > %s/'with space'/'file name.txt'",
      ": > %s/sub/deeper/empty",
      "printf x > %s/sub/deeper/.hidden",
      "chmod 0640 %s/big.bin", "chmod 0700 %s/sub/deeper",
      "chmod 0604 %s/sub/mid.bin",
      "touch -d '2001-02-03 04:05:06' %s/big.bin %s/sub %s/emptydir",
      "touch -d '1999-12-31 23:59:59' %s/sub/deeper/empty %s",
    }, " && "), q(SRC), q(SRC), q(SRC), q(SRC), q(SRC), q(SRC), q(SRC),
      q(SRC), q(SRC), q(SRC), q(SRC), q(SRC), q(SRC), q(SRC), q(SRC), q(SRC)))
  end)

  teardown(function()
    if W then util.rmtree(W) end
  end)

  local function fresh(name)
    local d = W .. "/" .. name
    util.rmtree(d)
    must("mkdir -p " .. q(d))
    return d
  end

  local function scp(args)
    return sh("cd " .. q(W) .. " && scp -O -q -S " .. q(WRAP) .. " " .. args)
  end

  it("OpenSSH scp -r -p uploads a tree into our sink", function()
    local d = fresh("up")
    local r = scp("-r -p " .. q(SRC) .. " localhost:" .. q(d))
    assert.equal(0, r.status, r.stderr)
    assert.equal(manifest(SRC, true), manifest(d .. "/src", true))
  end)

  it("OpenSSH scp -r -p downloads a tree from our source", function()
    local d = fresh("down")
    local r = scp("-r -p localhost:" .. q(SRC) .. " " .. q(d))
    assert.equal(0, r.status, r.stderr)
    assert.equal(manifest(SRC, true), manifest(d .. "/src", true))
  end)

  it("copies single files both ways, renaming and into directories",
     function()
    local d = fresh("single")
    assert.equal(0, scp(q(SRC .. "/big.bin") .. " localhost:" ..
      q(d .. "/renamed.bin")).status)
    assert.equal(0, scp("localhost:" .. q(SRC .. "/sub/mid.bin") .. " " ..
      q(d)).status)
    assert.equal(0, scp(q(SRC .. "/big.bin") .. " " ..
      q(SRC .. "/sub/mid.bin") .. " localhost:" .. q(d .. "/")).status)
    must(string.format("cmp %s %s && cmp %s %s && cmp %s %s",
      q(SRC .. "/big.bin"), q(d .. "/renamed.bin"),
      q(SRC .. "/sub/mid.bin"), q(d .. "/mid.bin"),
      q(SRC .. "/big.bin"), q(d .. "/big.bin")))
  end)

  it("our source feeds OpenSSH's scp -t, and its scp -f our sink",
     function()
    local d1, d2 = fresh("ours_to_theirs"), fresh("theirs_to_ours")
    local r = sh(string.format("%s -r -p -f %s -x %s", q(DRV), q(SRC),
      q("scp -r -p -t " .. q(d1))))
    assert.equal(0, r.status, r.stderr)
    assert.equal(manifest(SRC, true), manifest(d1 .. "/src", true))
    r = sh(string.format("%s -r -p -t %s -x %s", q(DRV), q(d2),
      q("scp -r -p -f " .. q(SRC))))
    assert.equal(0, r.status, r.stderr)
    assert.equal(manifest(SRC, true), manifest(d2 .. "/src", true))
  end)

  it("streams with large blocks and without -p", function()
    local d = fresh("blocks")
    local r = sh(string.format("%s -r -b 262144 -f %s -x %s", q(DRV),
      q(SRC), q("scp -r -t " .. q(d))))
    assert.equal(0, r.status, r.stderr)
    assert.equal(manifest(SRC, false), manifest(d .. "/src", false))
  end)

  it("reports unreadable files as scp does and goes on", function()
    local d = fresh("errors")
    -- Our source, a missing path then a good one, into OpenSSH's sink.
    local r = sh(string.format("%s -f %s %s -x %s", q(DRV), q(SRC .. "/missing"),
      q(SRC .. "/big.bin"), q("scp -t " .. q(d))))
    assert.equal(1, r.status)
    assert.matches("missing: No such file or directory", r.stderr, 1, true)
    must(string.format("cmp %s %s", q(SRC .. "/big.bin"),
      q(d .. "/big.bin")))
    r = scp("localhost:" .. q(SRC .. "/missing") .. " " .. q(d))
    assert.equal(1, r.status)
    assert.matches("No such file or directory", r.stderr, 1, true)
    -- A directory without -r.
    r = scp("localhost:" .. q(SRC) .. " " .. q(d))
    assert.equal(1, r.status)
    assert.matches("not a regular file", r.stderr, 1, true)
  end)

  it("a malicious source writes nothing outside the target", function()
    local box = fresh("box")
    local d = box .. "/dst"
    must("mkdir " .. q(d) .. " && ln -s " .. q(box) .. " " ..
      q(d .. "/link") .. " && printf secret > " .. q(box .. "/victim") ..
      " && ln -s " .. q(box .. "/victim") .. " " .. q(d .. "/file.txt"))
    local before = manifest(box, false)
    local scripts = {
      "C0644 5 ../x\nhello\0",
      "C0644 5 a/b\nhello\0",
      "C0644 5 ..\nhello\0",
      "D0755 0 .\nE\n",
      "C0644 5 .bashrc\nhello\0",
      "C0644 5 file.txt\nhello\0C0644 5 file.txt\nhello\0",
      "D0755 0 link\nC0644 5 x\nhello\0E\n",
      "C0644 5 x\27[2J\nhello\0",
      "C0644 99999999999999999999 file.txt\n",
      "T99999999999999 0 1 0\nC0644 5 file.txt\nhello\0",
      "E\n",
    }
    for _, flags in ipairs({"", "-r ", "-r -p "}) do
      for _, script in ipairs(scripts) do
        -- the client asked for host:dir/file.txt (-1: a single entry)
        local r = sh(string.format("%s %s-P file.txt -1 -t %s",
          q(DRV), flags, q(d)), script)
        assert.are_not.equal(0, r.status, script)
      end
    end
    assert.equal(before, manifest(box, false))
    assert.equal("secret", must("cat " .. q(box .. "/victim")))
  end)
end)
