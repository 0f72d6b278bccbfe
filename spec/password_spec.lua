-- ssh.hash_password / ssh.check_password over the system's libxcrypt
-- (src/lua_bindings/l_crypt.c).
local ssh = require "luassh"

local function raises(kind, pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected a " .. kind)
  assert.is_table(err, tostring(err))
  assert.equal(kind, err.kind)
  if pattern then
    assert.truthy(tostring(err):find(pattern, 1, true), tostring(err))
  end
  return err
end

-- Low costs keep the spec fast; the defaults are tested once.
local METHODS = {
  {method = "yescrypt", rounds = 1, prefix = "$y$", pattern = "^%$y%$[./0-9A-Za-z]+%$[./0-9A-Za-z]+%$[./0-9A-Za-z]+$"},
  {method = "bcrypt", rounds = 4, prefix = "$2b$", pattern = "^%$2b%$%d%d%$[./0-9A-Za-z]+$"},
  {method = "sha512crypt", rounds = 1000, prefix = "$6$", pattern = "^%$6%$rounds=1000%$[./0-9A-Za-z]+%$[./0-9A-Za-z]+$"},
}

describe("ssh.hash_password and ssh.check_password", function()
  for _, m in ipairs(METHODS) do
    it("round-trips a password with " .. m.method, function()
      local h = ssh.hash_password("correct horse", {method = m.method, rounds = m.rounds})
      assert.equal(m.prefix, h:sub(1, #m.prefix))
      assert.truthy(h:match(m.pattern), h)
      assert.is_true(ssh.check_password("correct horse", h))
      assert.is_false(ssh.check_password("correct hors", h))
      assert.is_false(ssh.check_password("correct horse ", h))
      assert.is_false(ssh.check_password("Correct horse", h))
      assert.is_false(ssh.check_password("", h))
    end)

    it("salts " .. m.method .. " hashes afresh each time", function()
      local a = ssh.hash_password("same", {method = m.method, rounds = m.rounds})
      local b = ssh.hash_password("same", {method = m.method, rounds = m.rounds})
      assert.not_equal(a, b)
      assert.is_true(ssh.check_password("same", a))
      assert.is_true(ssh.check_password("same", b))
    end)
  end

  it("uses yescrypt by default, with the system's default cost", function()
    local h = ssh.hash_password("pw")
    assert.truthy(h:match("^%$y%$j9T%$"), h)
    assert.is_true(ssh.check_password("pw", h))
  end)

  it("defaults bcrypt to cost 10 and takes rounds", function()
    assert.truthy(ssh.hash_password("pw", {method = "bcrypt"}):match("^%$2b%$10%$"))
    local h = ssh.hash_password("pw", {method = "bcrypt", rounds = 4})
    assert.truthy(h:match("^%$2b%$04%$"), h)
    assert.is_true(ssh.check_password("pw", h))
    h = ssh.hash_password("pw", {method = "sha512crypt", rounds = 1000})
    assert.truthy(h:match("^%$6%$rounds=1000%$"), h)
    assert.is_true(ssh.check_password("pw", h))
    h = ssh.hash_password("pw", {method = "yescrypt", rounds = 1})
    assert.equal("$y$", h:sub(1, 3))
    assert.is_true(ssh.check_password("pw", h))
  end)

  it("hashes and checks the empty password", function()
    for _, m in ipairs(METHODS) do
      local h = ssh.hash_password("", {method = m.method, rounds = m.rounds})
      assert.is_true(ssh.check_password("", h))
      assert.is_false(ssh.check_password("a", h))
    end
  end)

  it("handles long and non-ASCII passwords", function()
    local long = ("pässwörd-"):rep(46)   -- 506 bytes: crypt takes up to 511
    local h = ssh.hash_password(long, {rounds = 1})
    assert.is_true(ssh.check_password(long, h))
    assert.is_false(ssh.check_password(long:sub(1, -2), h))
    local h2 = ssh.hash_password("\255\254\1binary", {method = "sha512crypt"})
    assert.is_true(ssh.check_password("\255\254\1binary", h2))
    local max = ("x"):rep(511)
    assert.is_true(ssh.check_password(max, ssh.hash_password(max, {method = "sha512crypt"})))
    raises("ValueError", "511 bytes", ssh.hash_password, max .. "x")
    assert.is_false(ssh.check_password(max .. "x", h))
  end)

  it("checks hashes made by other implementations (known answers)", function()
    -- The SHA-crypt specification's vector (also `openssl passwd -6`).
    local h6 = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"
    assert.is_true(ssh.check_password("Hello world!", h6))
    assert.is_false(ssh.check_password("Hello world", h6))
    -- Made by python3-bcrypt.
    local h2 = "$2b$04$abcdefghijklmnopqrstuuyeG8laUfZvsCmc.AE6qIDYSPGM2efmK"
    assert.is_true(ssh.check_password("Hello world!", h2))
    assert.is_false(ssh.check_password("Hello world?", h2))
    -- Older shadow formats the system's crypt still verifies (openssl passwd -5 / -1).
    assert.is_true(ssh.check_password("pw5", "$5$abcdefgh$Q3HL3fyO1X2phL4HcbLKrQIvNmLlASe4ayT3RIc4ZbD"))
    assert.is_true(ssh.check_password("pw1", "$1$abcdefgh$CSewKYDMd6dmHkTqkKYk60"))
    assert.is_false(ssh.check_password("pw", "$1$abcdefgh$CSewKYDMd6dmHkTqkKYk60"))
  end)

  it("answers false for garbage, failure tokens and unusable hashes", function()
    local h = ssh.hash_password("pw", {method = "sha512crypt", rounds = 1000})
    for _, bad in ipairs({
      "", "*", "*0", "*1", "!", "!" .. h, "*LK*", "x", "xx", "$", "$y$", "$6$",
      "$2b$", "$2b$99$abcdefghijklmnopqrstuv", "$6$abc", "$9$whatever$x",
      "$y$j9T$", h:sub(1, -2), h .. "x", h:sub(1, 20) .. "\0" .. h:sub(21),
      ("$6$" .. ("a"):rep(1000)), "plain text password", "pw",
    }) do
      assert.is_false(ssh.check_password("pw", bad), string.format("%q", bad))
    end
  end)

  it("answers false for a nil hash (no such user), after the same work", function()
    assert.is_false(ssh.check_password("pw", nil))
    assert.is_false(ssh.check_password("pw"))
  end)

  it("never matches a password with a NUL byte", function()
    local h = ssh.hash_password("abc", {rounds = 1})
    assert.is_false(ssh.check_password("abc\0def", h))
    raises("ValueError", "NUL", ssh.hash_password, "abc\0def")
  end)

  it("rejects bad options", function()
    raises("ValueError", "'md5'", ssh.hash_password, "pw", {method = "md5"})
    raises("ValueError", "rounds", ssh.hash_password, "pw", {method = "bcrypt", rounds = 99})
    raises("ValueError", "rounds", ssh.hash_password, "pw", {method = "bcrypt", rounds = 3})
    raises("ValueError", "rounds", ssh.hash_password, "pw", {method = "yescrypt", rounds = 99})
    raises("ValueError", "rounds", ssh.hash_password, "pw", {rounds = -1})
    assert.has_error(function() ssh.hash_password("pw", {rounds = 1.5}) end)
    assert.has_error(function() ssh.hash_password("pw", {method = 3}) end)
    assert.has_error(function() ssh.hash_password("pw", "bcrypt") end)
    assert.has_error(function() ssh.hash_password(nil) end)
    assert.has_error(function() ssh.check_password(nil, "x") end)
    assert.has_error(function() ssh.check_password("pw", {}) end)
  end)

  it("keeps the loop running while it hashes, and runs jobs side by side", function()
    local ticks, stop = 0, false
    local ticker = ssh.spawn(function()
      while not stop do ssh.sleep(0.005) ticks = ticks + 1 end
    end)
    local t0 = ssh.now()
    local fns = {}
    for i = 1, 6 do
      fns[i] = function()
        local h = ssh.hash_password("pw" .. i, {method = "bcrypt", rounds = 9})
        return {ssh.check_password("pw" .. i, h), ssh.check_password("pw", h)}
      end
    end
    local r = ssh.gather(fns)
    local elapsed = ssh.now() - t0
    stop = true
    ticker:wait()
    for i = 1, 6 do assert.are.same({true, false}, r[i]) end
    assert.is_true(ticks >= 3, ticks .. " ticks in " .. elapsed .. " s")
  end)

  it("abandons a job whose task is cancelled or times out", function()
    local ok, err = pcall(ssh.timeout, 0.001, ssh.hash_password, "pw",
                          {method = "bcrypt", rounds = 13})
    assert.is_false(ok)
    assert.equal("Timeout", err.kind)
    local t = ssh.spawn(ssh.check_password, "pw",
                        ssh.hash_password("pw", {method = "bcrypt", rounds = 10}))
    ssh.sleep(0)
    t:cancel()
    assert.is_false((pcall(t.wait, t)))
    assert.is_true(t:cancelled())
    assert.is_true(ssh.check_password("pw", ssh.hash_password("pw", {method = "bcrypt", rounds = 4})))
  end)

  it("runs inline where it cannot yield", function()
    local h
    local co = coroutine.wrap(function() h = ssh.hash_password("pw", {method = "sha512crypt"}) end)
    co()
    assert.is_true(ssh.check_password("pw", h))
    local mt = {__index = function(_, k) return ssh.check_password(k, h) end}
    assert.is_true(setmetatable({}, mt).pw)
    assert.is_false(setmetatable({}, mt).nope)
  end)
end)
