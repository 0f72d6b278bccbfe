-- ssh.scp (lua/luassh/scp.lua, src/lua_bindings/l_scp.c) against
-- OpenSSH's sshd and its `scp -t` / `scp -f` (issue 8): uploads and
-- downloads of single files and trees, with -p times and modes; remote to
-- remote between two sshd instances; local and remote wildcards; errors
-- naming their paths; and a malicious `scp -f` (an sshd whose ForceCommand
-- replays hostile SCP streams) that must not get a byte written outside
-- the destination.  Every copy is checked by SHA-256.
local ssh = require "luassh"
local util = require "spec.support.util"
local sshd = require "spec.support.sshd"
local cenv = require "spec.support.client_env"
local scpmod = require "luassh.scp"

local q = util.q
local timed = cenv.timed

local function sh(cmd, input)
  return util.run("{ " .. cmd .. "\n}", input)
end

local function must(cmd)
  local r = sh(cmd)
  assert(r.status == 0, cmd .. "\n" .. r.stdout .. r.stderr)
  return r.stdout
end

local function sha(path)
  return must("sha256sum " .. q(path)):match("^(%x+)")
end

-- "path type [mode mtime]" of every entry under dir, then the SHA-256 of
-- every file (SCP carries whole seconds: the fraction is dropped).
local function manifest(dir, with_meta)
  local fmt = with_meta and "%P %y %m %T@\\n" or "%P %y\\n"
  local out = must(string.format(
    "cd %s && find . -printf '%s' | sed 's/[.][0-9]*$//' | sort", q(dir), fmt))
  local sums = must(string.format(
    "cd %s && find . -type f -print0 | sort -z | xargs -0 -r sha256sum",
    q(dir)))
  return out .. sums
end

describe("the path rules of ssh.scp", function()
  local P = scpmod._parse_path

  it("splits host:path, user@host:path and [v6]:path like OpenSSH", function()
    assert.same({remote = true, host = "h", path = "/x"}, P("h:/x"))
    assert.same({remote = true, user = "u", host = "h", path = "a:b"},
                P("u@h:a:b"))
    assert.same({remote = true, user = "a@b", host = "h", path = ""},
                P("a@b@h:"))
    assert.same({remote = true, host = "::1", path = "x"}, P("[::1]:x"))
    assert.same({remote = true, user = "u", host = "::1", path = "/y"},
                P("u@[::1]:/y"))
    -- A '/' before the ':' or a leading ':' makes it local.
    assert.same({remote = false, path = "./a:b"}, P("./a:b"))
    assert.same({remote = false, path = "/tmp/a:b"}, P("/tmp/a:b"))
    assert.same({remote = false, path = ":x"}, P(":x"))
    assert.same({remote = false, path = "plain"}, P("plain"))
  end)

  it("takes {host, path} and {{host, port}, path} tables", function()
    assert.same({remote = true, host = "h", path = "p"}, P({"h", "p"}))
    assert.same({remote = true, user = "u", host = "h", port = 2222,
                 path = "p"}, P({{"u@h", 2222}, "p"}))
    assert.same({remote = true, host = "h", path = "."}, P({"h"}))
    assert.has_error(function() P({{"h", "x"}, "p"}) end)
    assert.has_error(function() P(42) end)
  end)

  it("tells one (host, path) source from a list of sources", function()
    local S = scpmod._source_list
    assert.same({"a"}, S("a"))
    assert.same({"a", "b"}, S({"a", "b"}))
    assert.same({{{"h", 22}, "p"}}, S({{"h", 22}, "p"}))
    assert.same({{"h", "p"}, "x"}, S({{"h", "p"}, "x"}))
  end)

  it("quotes remote paths, leaving ~ and source wildcards to the shell",
     function()
    local Q = scpmod._quote_remote
    assert.equal("'/tmp/a b'", Q("/tmp/a b"))
    assert.equal("'it'\\''s'", Q("it's"))
    assert.equal("'$(touch x)'", Q("$(touch x)"))
    assert.equal("~'/x y'", Q("~/x y"))
    assert.equal("~bob", Q("~bob"))
    assert.equal("'dir/'*'.txt'", Q("dir/*.txt", true))
    assert.equal("'dir/*.txt'", Q("dir/*.txt", false))
    assert.equal("'.'", Q(""))
  end)

  it("derives the names a remote source may send", function()
    local N = scpmod._name_pattern
    assert.equal("file.txt", N("/a/b/file.txt"))
    assert.equal("dir", N("/a/dir/"))
    assert.equal("*.bin", N("x/*.bin"))
    assert.equal("\\[a\\]", N("[a]"))
    assert.is_nil(N("~"))
    assert.is_nil(N("/a/.."))
  end)

  it("refuses a local-to-local copy", function()
    local ok, err = pcall(ssh.scp, "/tmp/a", "/tmp/b")
    assert.is_false(ok)
    assert.equal("ValueError", err.kind)
  end)
end)

describe("the SCP machines as Lua objects (luassh.scpcore)", function()
  local scpcore = require "luassh.scpcore"
  local W

  setup(function() W = util.tmpdir() end)
  teardown(function() if W then util.rmtree(W) end end)

  local function drain(m, input)
    local out, state, nev = m:pump(input)
    return out, state, nev
  end

  it("receives a file as a sink, with progress events", function()
    local d = W .. "/sink1"
    must("mkdir " .. q(d))
    local m <close> = scpcore.new("sink", {target = d, progress = true,
                                           single = true,
                                           patterns = {"f.txt"}})
    local out, state, nev = drain(m, "C0640 5 f.txt\nhel")
    assert.equal("\0\0", out)          -- greeting, then OK for the line
    assert.equal("input", state)
    assert.equal(1, nev)
    assert.same({{type = "progress", path = "f.txt", done = 3, size = 5}},
                m:events())
    -- Progress of one file is merged until taken.
    out, state, nev = drain(m, "l")
    out, state, nev = drain(m, "o\0")
    assert.equal("\0", out)             -- the file is complete
    assert.equal("input", state)
    assert.equal(1, nev)
    assert.same({{type = "progress", path = "f.txt", done = 5, size = 5}},
                m:events())
    m:eof()
    out, state, nev = drain(m)
    assert.same({"", "done", 0}, {out, state, nev})
    assert.same({true, nil, nil, 0}, {m:result()})
    assert.equal("hello", must("cat " .. q(d .. "/f.txt")))
  end)

  it("refuses a traversal name before writing anything", function()
    local d = W .. "/sink2"
    must("mkdir " .. q(d))
    local m <close> = scpcore.new("sink", {target = d})
    local out, state, nev = drain(m, "C0644 5 ../evil\nhello\0C0644 1 x\n")
    assert.equal("\0\2scp: unexpected filename: ../evil\n", out)
    assert.equal("done", state)
    assert.equal(1, nev)
    local ev = m:events()[1]
    assert.equal("error", ev.type)
    assert.is_true(ev.fatal)
    assert.is_false(ev.remote)
    local ok, name, detail, count = m:result()
    assert.is_false(ok)
    assert.equal("REFUSED", name)
    assert.equal("unexpected filename: ../evil", detail)
    assert.equal(1, count)
    assert.equal("", must("ls -A " .. q(d)))
    assert.equal(1, sh("test -e " .. q(W .. "/evil")).status)
  end)

  it("sends files as a source, in chunks, waiting for each reply",
     function()
    local f = W .. "/src.bin"
    must("head -c 300000 /dev/urandom > " .. q(f) .. " && chmod 0604 " ..
         q(f))
    local m <close> = scpcore.new("source", {paths = {f}, block_size = 65536,
                                             chunk = 100000})
    local out, state = drain(m)
    assert.same({"", "input"}, {out, state})  -- waits for the greeting
    out, state = drain(m, "\0")
    assert.equal("C0604 300000 src.bin\n", out)
    assert.equal("input", state)
    local data = {}
    out, state = drain(m, "\0")
    while state == "output" do
      data[#data + 1] = out
      assert.is_true(#out >= 100000)
      out, state = drain(m)
    end
    data[#data + 1] = out
    assert.equal("input", state)
    local all = table.concat(data)
    assert.equal("\0", all:sub(-1))        -- the data's status byte
    local f2 = io.open(f, "rb")
    assert.equal(f2:read("a"), all:sub(1, -2))
    f2:close()
    out, state = drain(m, "\0")
    assert.same({"", "done"}, {out, state})
    assert.is_true((m:result()))
  end)

  it("keeps input it could not take for the next pump", function()
    local f = W .. "/one"
    util.write(f, "1")
    local m <close> = scpcore.new("source", {paths = {f, f}})
    -- The greeting and the reply to the C line, at once: the reply is
    -- kept while the source sends the data.
    local out, state = drain(m, "\0\0")
    assert.equal("C0644 1 one\n1\0", out:gsub("C06%d%d", "C0644"))
    assert.equal("input", state)
    out, state = drain(m, "\0")
    assert.matches("^C0%d+ 1 one\n$", out)
    out, state = drain(m, "\0\0")
    assert.equal("1\0", out)
    assert.equal("done", state)
  end)

  it("reports a remote error line as a non-fatal remote event", function()
    local m <close> = scpcore.new("sink", {target = W})
    local out, state, nev = drain(m,
      "\1scp: /x: No such file or directory\n")
    assert.equal("\0", out)
    assert.equal("input", state)
    assert.equal(1, nev)
    local ev = m:events()[1]
    assert.is_true(ev.remote)
    assert.is_false(ev.fatal)
    assert.equal("scp: /x: No such file or directory", ev.message)
    m:eof()
    assert.equal("done", select(2, drain(m)))
    local ok, name, detail = m:result()
    assert.same({false, "IO", "scp: /x: No such file or directory"},
                {ok, name, detail})
  end)

  it("checks its options and refuses use after close", function()
    assert.has_error(function() scpcore.new("sink", {}) end)
    assert.has_error(function() scpcore.new("both", {}) end)
    assert.has_error(function()
      scpcore.new("source", {paths = {"x"}, block_size = 0})
    end)
    assert.has_error(function()
      scpcore.new("source", {paths = {"x"}, block_size = 2 * 1024 * 1024})
    end)
    assert.has_error(function() scpcore.new("source", {paths = {1, {}}}) end)
    local m = scpcore.new("source", {paths = {"x"}})
    m:close()
    m:close()
    assert.has_error(function() m:pump() end,
                     "attempt to use a closed SCP machine")
  end)

  it("globs, checks names, matches and quotes", function()
    local d = W .. "/g"
    must("mkdir " .. q(d) .. " && touch " .. q(d .. "/b.txt") .. " " ..
         q(d .. "/a.txt") .. " " .. q(d .. "/.h.txt") .. " " ..
         q(d .. "/c.bin"))
    assert.same({d .. "/a.txt", d .. "/b.txt"}, scpcore.glob(d .. "/*.txt"))
    assert.same({d .. "/*.none"}, scpcore.glob(d .. "/*.none"))
    assert.is_true(scpcore.isdir(d))
    assert.is_false(scpcore.isdir(d .. "/a.txt"))
    assert.is_true(scpcore.check_name("a b.txt"))
    for _, bad in ipairs {"", ".", "..", "a/b", "x\n", "\0"} do
      assert.is_false(scpcore.check_name(bad), bad)
    end
    assert.is_true(scpcore.fnmatch("*.txt", "a.txt"))
    assert.is_false(scpcore.fnmatch("*.txt", ".h.txt"))
    assert.is_false(scpcore.fnmatch("\\[a\\]", "a"))
    assert.is_true(scpcore.fnmatch("\\[a\\]", "[a]"))
    assert.equal("'a'\\''b'", scpcore.quote("a'b"))
    assert.has_error(function() scpcore.quote("a\0b") end)
  end)
end)

describe("ssh.scp against OpenSSH sshd", function()
  local envA, envB, envM, W, SRC, common

  setup(function()
    if not sshd.available() or sh("command -v scp").status ~= 0 then
      pending("OpenSSH sshd or scp not installed")
      return
    end
    envA = cenv.start_sshd()
    -- A second server for remote-to-remote copies (same host keys: quick).
    envB = cenv.start_sshd {host_keys = envA.srv.host_keys}
    W = util.tmpdir()
    -- The malicious server: every command runs a script that replays
    -- the file "payload" next to the path asked for, whatever it is;
    -- without a payload, it runs the command where there is no scp.
    util.write(W .. "/evil.sh", table.concat({
      "#!/bin/sh",
      "eval \"set -- $SSH_ORIGINAL_COMMAND\"",
      "for last; do :; done",
      "p=\"$(dirname \"$last\")/payload\"",
      "if [ ! -f \"$p\" ]; then",
      "  PATH=/nonexistent; export PATH",
      "  eval \"$SSH_ORIGINAL_COMMAND\"; exit",
      "fi",
      "cat \"$p\"",
      "cat > /dev/null",
      ""}, "\n"))
    must("chmod +x " .. q(W .. "/evil.sh"))
    envM = cenv.start_sshd {host_keys = envA.srv.host_keys,
                            extra = {"ForceCommand " .. W .. "/evil.sh"}}
    -- One set of options reaches all three servers.
    util.write(W .. "/known_hosts",
               envA.known_hosts .. envB.known_hosts .. envM.known_hosts)
    common = {username = "root", client_keys = {envA.key, envB.key, envM.key},
              known_hosts = W .. "/known_hosts"}
    SRC = W .. "/src"
    must(string.format(table.concat({
      "mkdir -p %s/sub/deeper %s/'with space' %s/emptydir",
      ": > %s/empty.bin",
      "printf x > %s/one.bin",
      "head -c 1048583 /dev/urandom > %s/big.bin",
      "head -c 70000 /dev/urandom > %s/sub/mid.bin",
      "printf hello > %s/'with space'/'file name.txt'",
      ": > %s/sub/deeper/empty",
      "printf x > %s/sub/deeper/.hidden",
      "chmod 0640 %s/big.bin", "chmod 0700 %s/sub/deeper",
      "chmod 0604 %s/sub/mid.bin", "chmod 0751 %s/emptydir",
      "touch -d '2001-02-03 04:05:06' %s/big.bin %s/sub %s/emptydir",
      "touch -d '1999-12-31 23:59:59' %s/sub/deeper/empty %s/one.bin %s",
    }, " && "), q(SRC), q(SRC), q(SRC), q(SRC), q(SRC), q(SRC), q(SRC),
      q(SRC), q(SRC), q(SRC), q(SRC), q(SRC), q(SRC), q(SRC), q(SRC),
      q(SRC), q(SRC), q(SRC), q(SRC), q(SRC)))
  end)

  teardown(function()
    if envA then envA.stop() end
    if envB then envB.stop() end
    if envM then envM.stop() end
    if W then util.rmtree(W) end
  end)

  local n = 0
  local function fresh(name)
    n = n + 1
    local d = W .. "/" .. name .. n
    must("mkdir -p " .. q(d))
    return d
  end

  local function opts(extra)
    local o = {}
    for k, v in pairs(common) do o[k] = v end
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end
  -- "root@127.0.0.1:path", with A's port in the options.
  local function A(path) return "root@127.0.0.1:" .. path end
  local function optsA(extra)
    local o = opts(extra)
    o.port = envA.port
    return o
  end
  local function At(path) return {{"127.0.0.1", envA.port}, path} end
  local function Bt(path) return {{"127.0.0.1", envB.port}, path} end

  local function scp(src, dst, o)
    return timed(60, ssh.scp, src, dst, o or optsA())
  end

  local function ls(dir) return must("ls -A " .. q(dir)) end

  it("uploads and downloads files of 0, 1 and 1 MiB + 7 bytes", function()
    local up, down = fresh("up"), fresh("down")
    for _, name in ipairs {"empty.bin", "one.bin", "big.bin"} do
      scp(SRC .. "/" .. name, A(up .. "/" .. name))
      assert.equal(sha(SRC .. "/" .. name), sha(up .. "/" .. name))
      scp(A(up .. "/" .. name), down)
      assert.equal(sha(SRC .. "/" .. name), sha(down .. "/" .. name))
    end
    -- A new name on either side; small and large blocks.
    scp(SRC .. "/big.bin", A(up .. "/renamed"), optsA{block_size = 1000})
    scp(A(up .. "/renamed"), down .. "/again",
        optsA{block_size = 1024 * 1024})
    assert.equal(sha(SRC .. "/big.bin"), sha(up .. "/renamed"))
    assert.equal(sha(SRC .. "/big.bin"), sha(down .. "/again"))
    -- Names the remote shell must not interpret.
    local odd = "it's $(touch pwned) `x` ;&|"
    scp(SRC .. "/one.bin", At(up .. "/" .. odd), opts())
    scp(At(up .. "/" .. odd), down .. "/odd", opts())
    assert.equal(sha(SRC .. "/one.bin"), sha(down .. "/odd"))
    assert.truthy(ls(up):find(odd, 1, true))
    assert.equal(1, sh("test -e /root/pwned || test -e pwned").status)
  end)

  it("copies trees recursively, keeping times and modes with preserve",
     function()
    local up, down = fresh("tree_up"), fresh("tree_down")
    scp(SRC, A(up), optsA{recurse = true, preserve = true})
    assert.equal(manifest(SRC, true), manifest(up .. "/src", true))
    scp(A(up .. "/src"), down, optsA{recurse = true, preserve = true})
    assert.equal(manifest(SRC, true), manifest(down .. "/src", true))
    -- Into a new name, without preserve: the same contents.
    local plain = fresh("tree_plain")
    scp(A(SRC .. "/"), plain .. "/copy", optsA{recurse = true})
    assert.equal(manifest(SRC, false), manifest(plain .. "/copy", false))
    scp(SRC .. "/", A(plain .. "/copy2"), optsA{recurse = true})
    assert.equal(manifest(SRC, false), manifest(plain .. "/copy2", false))
  end)

  it("copies several sources into a directory", function()
    local up, down = fresh("many_up"), fresh("many_down")
    scp({SRC .. "/one.bin", SRC .. "/big.bin"}, A(up))
    assert.equal(sha(SRC .. "/big.bin"), sha(up .. "/big.bin"))
    assert.equal(sha(SRC .. "/one.bin"), sha(up .. "/one.bin"))
    scp({A(up .. "/one.bin"), At(up .. "/big.bin")}, down)
    assert.equal(sha(SRC .. "/big.bin"), sha(down .. "/big.bin"))
    assert.equal(sha(SRC .. "/one.bin"), sha(down .. "/one.bin"))
    -- Several sources need a directory (-d) on the far side.
    local ok, err = pcall(scp, {SRC .. "/one.bin", SRC .. "/big.bin"},
                          A(up .. "/nodir"))
    assert.is_false(ok)
    assert.equal("SFTPError", err.base)
    assert.matches(up .. "/nodir", err.reason, 1, true)
    ok, err = pcall(scp, {A(up .. "/one.bin"), A(up .. "/big.bin")},
                    down .. "/nodir")
    assert.is_false(ok)
    assert.equal("SFTPError", err.base)
    assert.matches(down .. "/nodir", err.reason, 1, true)
    assert.equal("big.bin\none.bin\n", ls(down))
  end)

  it("expands local wildcards here and remote ones on the server",
     function()
    local up, down = fresh("glob_up"), fresh("glob_down")
    scp(SRC .. "/*.bin", A(up))
    assert.equal("big.bin\nempty.bin\none.bin\n", ls(up))
    must("printf z > " .. q(up .. "/[x].bin"))
    scp(A(up .. "/*.bin"), down)
    assert.equal("[x].bin\nbig.bin\nempty.bin\none.bin\n", ls(down))
    for _, name in ipairs {"big.bin", "empty.bin", "one.bin"} do
      assert.equal(sha(SRC .. "/" .. name), sha(down .. "/" .. name))
    end
    -- '[' is literal on both sides.
    local d2 = fresh("glob_literal")
    scp(A(up .. "/[x].bin"), d2)
    assert.equal("[x].bin\n", ls(d2))
    -- A wildcard that matches several files needs a directory.
    local ok, err = pcall(scp, A(up .. "/*.bin"), d2 .. "/onefile")
    assert.is_false(ok)
    assert.equal("SFTPBadMessage", err.kind)
    assert.matches("unexpected extra entry", err.reason, 1, true)
    -- A local pattern that matches nothing is reported as missing.
    ok, err = pcall(scp, SRC .. "/*.none", A(up))
    assert.is_false(ok)
    assert.equal("SFTPNoSuchFile", err.kind)
    assert.matches("*.none", err.reason, 1, true)
  end)

  it("names the path in errors and lets error_handler go on", function()
    local d = fresh("errors")
    -- A missing remote file.
    local ok, err = pcall(scp, A(d .. "/missing"), d)
    assert.is_false(ok)
    assert.equal("SFTPError", err.base)
    assert.equal("SFTPNoSuchFile", err.kind)
    assert.equal(2, err.code)
    assert.is_true(err.remote)
    assert.matches(d .. "/missing: No such file or directory", err.reason,
                   1, true)
    assert.equal("SFTPError", err.base)
    assert.matches("^SFTPNoSuchFile: ", tostring(err))
    -- A missing local file.
    ok, err = pcall(scp, d .. "/nolocal", A(d))
    assert.is_false(ok)
    assert.equal("SFTPNoSuchFile", err.kind)
    assert.matches(d .. "/nolocal", err.reason, 1, true)
    assert.equal(d .. "/nolocal", err.path)
    assert.is_false(err.remote)
    -- A directory without recurse, either way.
    ok, err = pcall(scp, SRC .. "/sub", A(d))
    assert.is_false(ok)
    assert.matches("sub: not a regular file", err.reason, 1, true)
    ok, err = pcall(scp, A(SRC .. "/sub"), d)
    assert.is_false(ok)
    assert.matches("sub: not a regular file", err.reason, 1, true)
    -- An unwritable destination.
    ok, err = pcall(scp, SRC .. "/one.bin", A("/proc/nope/x"))
    assert.is_false(ok)
    assert.matches("/proc/nope/x", err.reason, 1, true)
    -- With an error_handler every error is reported and the rest copied.
    local seen = {}
    scp({d .. "/nolocal", SRC .. "/one.bin", A(d .. "/missing")}, A(d),
        optsA{error_handler = function(e) seen[#seen + 1] = e end})
    assert.equal(2, #seen)
    assert.matches("nolocal", seen[1].reason, 1, true)
    assert.matches("missing", seen[2].reason, 1, true)
    assert.equal(sha(SRC .. "/one.bin"), sha(d .. "/one.bin"))
    -- An error_handler that raises stops the copy.
    ok, err = pcall(scp, {d .. "/nolocal", SRC .. "/big.bin"}, A(d .. "/x"),
      optsA{error_handler = function(e) error("stop: " .. e.reason, 0) end})
    assert.is_false(ok)
    assert.matches("^stop: ", err)
    -- No scp on the far side: the reason says what the server said.
    local o = opts()
    o.port = envM.port
    for _, pair in ipairs {{SRC .. "/one.bin", "root@127.0.0.1:" .. d},
                           {"root@127.0.0.1:" .. d .. "/x", d}} do
      ok, err = pcall(scp, pair[1], pair[2], o)
      assert.is_false(ok)
      assert.equal("SFTPError", err.base)
      assert.is_true(err.fatal)
      assert.matches("scp: not found", err.reason, 1, true)
      assert.matches("status 127", err.reason, 1, true)
    end
  end)

  it("reports progress per file, 0 of 0 for empty files", function()
    local up = fresh("progress")
    local calls, last = 0, {}
    scp(SRC, A(up), optsA{recurse = true, block_size = 65536,
      progress_handler = function(src, dst, done, total)
        calls = calls + 1
        assert.is_true(done <= total)
        last[dst] = {src, done, total}
      end})
    assert.is_true(calls >= 7)
    assert.same({SRC .. "/big.bin", 1048583, 1048583}, last["src/big.bin"])
    assert.same({SRC .. "/sub/deeper/empty", 0, 0},
                last["src/sub/deeper/empty"])
    local down = fresh("progress_down")
    local got = {}
    scp(A(SRC .. "/big.bin"), down, optsA{progress_handler =
      function(src, dst, done, total) got = {src, dst, done, total} end})
    assert.same({"big.bin", down .. "/big.bin", 1048583, 1048583}, got)
  end)

  it("uses an open connection and closes only those it opened", function()
    local d = fresh("conns")
    timed(60, function()
      local conn <close> = envA.connect()
      ssh.scp(SRC .. "/one.bin", {conn, d .. "/c1"})
      ssh.scp({conn, d .. "/c1"}, d .. "/c2")
      assert.is_false(conn:is_closed())
      assert.equal("ok\n", conn:run("echo ok").stdout)
    end)
    assert.equal(sha(SRC .. "/one.bin"), sha(d .. "/c2"))
    local lost = 0
    local client = {connection_lost = function() lost = lost + 1 end}
    scp({A(SRC .. "/one.bin"), A(SRC .. "/big.bin")}, d,
        optsA{client = client})
    timed(10, function()
      while lost < 1 do ssh.sleep(0.01) end
      ssh.sleep(0.05)
    end)
    assert.equal(1, lost) -- one connection, reused for both sources
  end)

  it("copies remote to remote between two servers", function()
    local dA, dB = fresh("r2r_a"), fresh("r2r_b")
    scp(At(SRC .. "/big.bin"), Bt(dB .. "/big.bin"), opts())
    assert.equal(sha(SRC .. "/big.bin"), sha(dB .. "/big.bin"))
    scp(At(SRC), Bt(dB), opts{recurse = true, preserve = true})
    assert.equal(manifest(SRC, true), manifest(dB .. "/src", true))
    -- Back, with a wildcard and an open connection on one side.
    timed(60, function()
      local conn <close> = envB.connect()
      local seen = {}
      ssh.scp({conn, dB .. "/src/*.bin"}, At(dA), opts{
        progress_handler = function(s, _, done, total)
          seen[s] = {done, total}
        end})
      assert.same({1048583, 1048583}, seen["big.bin"])
      assert.same({0, 0}, seen["empty.bin"])
    end)
    assert.equal("big.bin\nempty.bin\none.bin\n", ls(dA))
    for _, name in ipairs {"big.bin", "one.bin", "empty.bin"} do
      assert.equal(sha(SRC .. "/" .. name), sha(dA .. "/" .. name))
    end
    -- Errors name their path; error_handler goes on.
    local ok, err = pcall(scp, At(SRC .. "/nope"), Bt(dB), opts())
    assert.is_false(ok)
    assert.equal("SFTPNoSuchFile", err.kind)
    assert.matches(SRC .. "/nope", err.reason, 1, true)
    local seen = {}
    scp({At(SRC .. "/nope"), At(SRC .. "/one.bin")}, Bt(dB),
        opts{error_handler = function(e) seen[#seen + 1] = e end})
    assert.equal(1, #seen)
    assert.equal(sha(SRC .. "/one.bin"), sha(dB .. "/one.bin"))
  end)

  describe("with a malicious scp -f", function()
    -- What the evil server sends when asked for <case>/file.txt.
    local scripts = {
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
    }

    -- A destination dir/dst with a symlink to its parent planted in it.
    local function box(name)
      local b = fresh(name)
      must("mkdir " .. q(b .. "/dst") .. " && ln -s " .. q(b) .. " " ..
           q(b .. "/dst/link") .. " && printf secret > " ..
           q(b .. "/victim"))
      return b, b .. "/dst"
    end

    local function payload(i, script)
      local c = W .. "/case" .. i
      must("mkdir -p " .. q(c))
      util.write(c .. "/payload", script)
      return c .. "/file.txt"
    end

    -- One connection per server for all the cases (connecting is the
    -- slow part); every case runs a new remote command.
    local function with_conns(fn)
      return timed(120, function()
        local m <close> = envM.connect()
        local a <close> = envA.connect()
        return fn(m, a)
      end)
    end

    -- Every name under dir (cheaper than a manifest, run once a case).
    local function listing(dir)
      return must("cd " .. q(dir) .. " && find . | sort")
    end

    it("refuses names, sizes and lines it did not ask for", function()
      local b, d = box("box")
      local before = listing(b)
      with_conns(function(m)
        for i, script in ipairs(scripts) do
          local path = payload(i, script)
          for _, flags in ipairs {{}, {recurse = true, preserve = true}} do
            local ok, err = pcall(ssh.scp, {m, path}, d, flags)
            assert.is_false(ok, script)
            assert.equal("SFTPError", err.base, script)
            assert.equal(i == #scripts and "SFTPFailure" or "SFTPBadMessage",
                         err.kind, script)
            assert.is_true(err.fatal)
            assert.is_nil(err.reason:find("\27", 1, true))
          end
          -- Only the one name asked for may have appeared, in dst.
          must("rm -rf " .. q(d .. "/file.txt"))
          assert.equal(before, listing(b), script)
        end
      end)
      assert.equal("secret", must("cat " .. q(b .. "/victim")))
    end)

    it("does not follow a symlink in the destination", function()
      local b, d = box("symbox")
      must("ln -s " .. q(b .. "/victim") .. " " .. q(d .. "/file.txt"))
      local path = payload("sym", "C0644 5 file.txt\nhello\0")
      local o = opts()
      o.port = envM.port
      local ok, err = pcall(timed, 30, ssh.scp, "root@127.0.0.1:" .. path,
                            d, o)
      assert.is_false(ok)
      assert.equal("SFTPError", err.base)
      assert.matches("file.txt", err.reason, 1, true)
      assert.equal("secret", must("cat " .. q(b .. "/victim")))
    end)

    it("refuses them when relaying to another server too", function()
      local b, d = box("relaybox")
      local before = listing(b)
      with_conns(function(m, a)
        for i, script in ipairs(scripts) do
          local path = payload(i, script)
          local ok, err = pcall(ssh.scp, {m, path}, {a, d},
                                {recurse = true})
          assert.is_false(ok, script)
          assert.equal("SFTPError", err.base, script)
          must("rm -rf " .. q(d .. "/file.txt"))
          assert.equal(before, listing(b), script)
        end
      end)
      assert.equal("secret", must("cat " .. q(b .. "/victim")))
    end)
  end)
end)
