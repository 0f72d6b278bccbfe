-- The Lua API for key material (issue 4): keys, key files, certificates,
-- known_hosts, authorized_keys, SSHSIG and allowed_signers, checked
-- against OpenSSH's ssh-keygen where it has an opinion.
local ssh = require "luassh"
local keys = require "luassh.keys"
local util = require "spec.support.util"

local q = util.q

-- Runs a shell command; returns stdout, and fails the test on a non-zero
-- exit unless `may_fail`.
local function sh(cmd, may_fail, input)
  local r = util.run(cmd, input)
  if not may_fail then
    assert(r.status == 0, cmd .. " exited " .. r.status .. ": " .. r.stderr)
  end
  return r.stdout, r.status, r.stderr
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local d = f:read("a")
  f:close()
  return d
end

-- The fingerprint ssh-keygen -l prints for a file.
local function keygen_fp(path, hash)
  local out = sh("ssh-keygen -l -E " .. (hash or "sha256") .. " -f " .. q(path))
  return (out:match("^%d+ (%S+)"))
end

local function raises(kind, pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, "expected a " .. kind)
  assert.is_true(ssh.is_error(err, kind),
                 "expected a " .. kind .. ", got " .. tostring(err))
  if pattern then
    assert.matches(pattern, err.reason, 1, true)
  end
  return err
end

local TYPES = {
  {alg = "ssh-ed25519", bits = 256, keygen = "ed25519", pkcs1 = false},
  {alg = "ssh-ed448", bits = 456, keygen = nil, pkcs1 = false},
  {alg = "ecdsa-sha2-nistp256", bits = 256, keygen = "ecdsa -b 256", pkcs1 = true},
  {alg = "ecdsa-sha2-nistp384", bits = 384, keygen = "ecdsa -b 384", pkcs1 = true},
  {alg = "ecdsa-sha2-nistp521", bits = 521, keygen = "ecdsa -b 521", pkcs1 = true},
  {alg = "ssh-rsa", bits = 2048, keygen = "rsa -b 2048", pkcs1 = true},
}

local PRIV_FORMATS = {"openssh", "pkcs1-pem", "pkcs1-der", "pkcs8-pem", "pkcs8-der"}
local PUB_FORMATS = {"openssh", "rfc4716", "pkcs1-pem", "pkcs1-der", "pkcs8-pem",
                     "pkcs8-der"}

-- One key of each type, generated once (RSA at 2048 bits to save time).
local gen = {}
local function key_of(t)
  if not gen[t.alg] then
    gen[t.alg] = ssh.generate_private_key(t.alg, {comment = "gen " .. t.alg,
                                                  key_size = t.bits})
  end
  return gen[t.alg]
end

local dir
setup(function() dir = util.tmpdir() end)
teardown(function() util.rmtree(dir) end)

describe("ssh.generate_private_key", function()
  for _, t in ipairs(TYPES) do
    it("makes " .. t.alg .. " keys", function()
      local k = key_of(t)
      assert.equal(t.alg, k:get_algorithm())
      assert.equal("gen " .. t.alg, k:get_comment())
      assert.is_true(k:has_private())
      assert.equal(t.bits, k:get_key_size())
      assert.matches("^SSHKey " .. t.alg:gsub("%-", "%%-") .. " SHA256:", tostring(k))
      assert.is_true(k:verify("msg", k:sign("msg")))
    end)
  end

  it("makes 3072-bit RSA keys by default", function()
    local k = ssh.generate_private_key("ssh-rsa")
    assert.equal(3072, k:get_key_size())
    assert.is_nil(k:get_comment())
  end)

  it("takes the comment as a second string argument too", function()
    local k = ssh.generate_private_key("ssh-ed25519", "positional")
    assert.equal("positional", k:get_comment())
  end)

  it("refuses unknown algorithms, bad sizes and exponents", function()
    raises("KeyGenerationError", "'ssh-foo'", ssh.generate_private_key, "ssh-foo")
    raises("KeyGenerationError", "unsupported", ssh.generate_private_key, "ssh-dss")
    raises("KeyGenerationError", "512", ssh.generate_private_key, "ssh-rsa",
           {key_size = 512})
    raises("KeyGenerationError", "65537", ssh.generate_private_key, "ssh-rsa",
           {exponent = 3})
  end)
end)

describe("SSHKey objects", function()
  it("compare by public key, print, and convert to public", function()
    local k = key_of(TYPES[1])
    local pub = k:convert_to_public()
    assert.is_false(pub:has_private())
    assert.equal(k, pub)
    assert.equal("gen ssh-ed25519", pub:get_comment())
    assert.not_equal(k, key_of(TYPES[3]))
    assert.matches("%(public%)$", tostring(pub))
    assert.equal(k:public_data(), pub:public_data())
    assert.equal(k, ssh.import_public_key(k:export_public_key()))
  end)

  it("set and clear comments", function()
    local k = ssh.generate_private_key("ssh-ed25519")
    k:set_comment("x y")
    assert.equal("x y", k:get_comment())
    k:set_comment(nil)
    assert.is_nil(k:get_comment())
  end)

  it("give SHA256 and MD5 fingerprints and refuse other hashes", function()
    local k = key_of(TYPES[1])
    assert.matches("^SHA256:[%w+/]+$", k:get_fingerprint())
    assert.equal(k:get_fingerprint(), k:get_fingerprint("sha256"))
    assert.matches("^MD5:%x%x" .. string.rep(":%x%x", 15) .. "$", k:get_fingerprint("md5"))
    raises("ValueError", "sha1", k.get_fingerprint, k, "sha1")
  end)

  it("sign and verify with every RSA signature algorithm", function()
    local k = key_of(TYPES[6])
    assert.same({"rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"}, k:get_sig_algorithms())
    for _, alg in ipairs(k:get_sig_algorithms()) do
      local sig = k:sign("data", alg)
      assert.is_true(k:verify("data", sig, alg))
      assert.is_false(k:verify("datA", sig, alg))
    end
    assert.is_false(k:verify("data", k:sign("data", "rsa-sha2-256"), "rsa-sha2-512"))
    raises("ValueError", "does not suit", k.sign, k, "data", "ssh-ed25519")
    raises("ValueError", "public key", k.sign, k:convert_to_public(), "data")
  end)

  it("refuse to export a public key as a private one, and unknown formats", function()
    local k = key_of(TYPES[1])
    raises("KeyExportError", "public key", k.export_private_key, k:convert_to_public())
    raises("KeyExportError", "'pem'", k.export_private_key, k, "pem")
    raises("KeyExportError", "'xyz'", k.export_public_key, k, "xyz")
    raises("KeyExportError", "pkcs1-pem", k.export_public_key, k, "pkcs1-pem")
    raises("KeyExportError", "pkcs1-pem", k.export_private_key, k, "pkcs1-pem")
    raises("KeyExportError", "encrypted", key_of(TYPES[3]).export_private_key,
           key_of(TYPES[3]), "pkcs1-der", "pw")
  end)
end)

describe("private key round trips", function()
  for _, t in ipairs(TYPES) do
    for _, fmt in ipairs(PRIV_FORMATS) do
      for _, pass in ipairs{false, "secret pass"} do
        local what = string.format("%s as %s%s", t.alg, fmt,
                                   pass and " (encrypted)" or "")
        local skip = (fmt:match("^pkcs1") and not t.pkcs1)
          or (pass and fmt == "pkcs1-der")
        if not skip then
          it(what, function()
            local k = key_of(t)
            local data = k:export_private_key(fmt, pass or nil, {rounds = 2})
            local k2 = ssh.import_private_key(data, pass or nil)
            assert.equal(k, k2)
            assert.is_true(k2:has_private())
            assert.is_true(k:verify("m", k2:sign("m")))
            if fmt == "openssh" then
              assert.equal(k:get_comment(), k2:get_comment())
            else
              assert.is_nil(k2:get_comment())
            end
            if pass then
              raises("KeyEncryptionError", "incorrect passphrase",
                     ssh.import_private_key, data, "wrong")
              raises("KeyEncryptionError", "passphrase required",
                     ssh.import_private_key, data)
            end
          end)
        end
      end
    end
  end

  it("encrypts openssh keys with every cipher ssh-keygen knows", function()
    local k = key_of(TYPES[1])
    for _, c in ipairs{"aes128-ctr", "aes192-ctr", "aes256-ctr", "aes128-cbc",
                        "aes256-cbc", "3des-cbc", "aes256-gcm@openssh.com",
                        "chacha20-poly1305@openssh.com"} do
      local data = k:export_private_key("openssh", "pw", {cipher = c, rounds = 1})
      assert.equal(k, ssh.import_private_key(data, "pw"))
    end
    raises("KeyExportError", "unknown cipher 'rot13'", k.export_private_key, k, "openssh", "pw",
           {cipher = "rot13"})
  end)
end)

describe("public key round trips", function()
  for _, t in ipairs(TYPES) do
    for _, fmt in ipairs(PUB_FORMATS) do
      if not (fmt:match("^pkcs1") and t.alg ~= "ssh-rsa") then
        it(t.alg .. " as " .. fmt, function()
          local k = key_of(t)
          local pub = ssh.import_public_key(k:export_public_key(fmt))
          assert.equal(k, pub)
          assert.is_false(pub:has_private())
          if fmt == "openssh" or fmt == "rfc4716" then
            assert.equal(k:get_comment(), pub:get_comment())
          end
        end)
      end
    end
  end

  it("reads a public key file holding several keys in several formats", function()
    local path = dir .. "/many.pub"
    key_of(TYPES[1]):write_public_key(path)
    key_of(TYPES[3]):append_public_key(path, "rfc4716")
    key_of(TYPES[6]):append_public_key(path, "pkcs8-pem")
    local list = ssh.read_public_key_list(path)
    assert.equal(3, #list)
    assert.equal(key_of(TYPES[1]), list[1])
    assert.equal(key_of(TYPES[3]), list[2])
    assert.equal(key_of(TYPES[6]), list[3])
    raises("KeyImportError", "many.pub", ssh.read_public_key, path)
  end)
end)

describe("key files and ssh-keygen", function()
  it("writes private keys with mode 0600 and public keys readable", function()
    local k = key_of(TYPES[1])
    local p = dir .. "/mode_key"
    util.write(p, "old contents")
    os.execute("chmod 644 " .. q(p))
    k:write_private_key(p)
    assert.equal("600", (sh("stat -c %a " .. q(p)):gsub("%s", "")))
    k:write_public_key(p .. ".pub")
    assert.equal(k:export_public_key(), read(p .. ".pub"))
    k:append_private_key(p, "pkcs8-pem")
    assert.equal(2, #ssh.read_private_key_list(p))
  end)

  for _, t in ipairs(TYPES) do
    if t.keygen then
      it("gives " .. t.alg .. " fingerprints equal to ssh-keygen -l", function()
        local k = key_of(t)
        local p = dir .. "/fp_" .. t.alg
        k:write_private_key(p)
        k:write_public_key(p .. ".pub")
        assert.equal(k:get_fingerprint(), keygen_fp(p))
        assert.equal(k:get_fingerprint("md5"), keygen_fp(p, "md5"))
        assert.equal(k:get_fingerprint(), keygen_fp(p .. ".pub"))
      end)

      it("writes " .. t.alg .. " private keys ssh-keygen reads", function()
        local k = key_of(t)
        local want = k:export_public_key():match("^(%S+ %S+)")
        -- OpenSSH reads PEM files for RSA and ECDSA keys only.
        local fmts = t.pkcs1 and {"openssh", "pkcs8-pem", "pkcs1-pem"} or {"openssh"}
        for _, fmt in ipairs(fmts) do
          for _, pass in ipairs{"", "pw"} do
            local p = dir .. "/out_" .. t.alg .. "_" .. fmt .. pass
            k:write_private_key(p, fmt, pass, {rounds = 2})
            local out = sh("ssh-keygen -y -P " .. q(pass) .. " -f " .. q(p))
            assert.equal(want, out:match("^(%S+ %S+)"), fmt .. " " .. pass)
          end
        end
      end)

      it("loads " .. t.alg .. " keys made by ssh-keygen", function()
        for _, v in ipairs{
          {"plain", "-N ''"},
          {"encrypted", "-N sesame -a 2", "sesame"},
          {"pem", "-N '' -m PEM"},
          {"pem encrypted", "-N sesame -m PEM", "sesame"},
          {"pkcs8", "-N '' -m PKCS8"},
          {"pkcs8 encrypted", "-N sesame -m PKCS8", "sesame"},
        } do
          local p = dir .. "/kg_" .. t.alg .. "_" .. v[1]:gsub(" ", "_")
          if not (v[1]:match("pem") and not t.pkcs1) then
            os.remove(p) os.remove(p .. ".pub")
            sh("ssh-keygen -q -t " .. t.keygen .. " " .. v[2] .. " -C "
               .. q("kg " .. v[1]) .. " -f " .. q(p))
            local k = ssh.read_private_key(p, v[3])
            assert.equal(keygen_fp(p), k:get_fingerprint(), v[1])
            assert.equal(t.alg, k:get_algorithm())
            local pub = ssh.read_public_key(p .. ".pub")
            assert.equal(k, pub)
            assert.equal("kg " .. v[1], pub:get_comment())
            if v[1] == "plain" or v[1] == "encrypted" then
              assert.equal("kg " .. v[1], k:get_comment())
            end
          end
        end
      end)
    end
  end

  it("raises KeyEncryptionError naming the file for a wrong or missing passphrase", function()
    local p = dir .. "/enc_key"
    os.remove(p)
    sh("ssh-keygen -q -t ed25519 -N right -a 2 -f " .. q(p))
    local err = raises("KeyEncryptionError", "incorrect passphrase for key file '" .. p .. "'",
                       ssh.read_private_key, p, "wrong")
    assert.equal(p, err.filename)
    raises("KeyEncryptionError", "passphrase required", ssh.read_private_key, p)
    raises("KeyEncryptionError", "passphrase required", ssh.read_private_key, p, "")
    -- A passphrase callback gets the file name.
    local seen
    local k = ssh.read_private_key(p, function(name) seen = name return "right" end)
    assert.equal(p, seen)
    assert.equal(keygen_fp(p), k:get_fingerprint())
  end)

  it("raises KeyImportError naming the file for corrupt and missing files", function()
    local p = dir .. "/corrupt_key"
    local good = key_of(TYPES[1]):export_private_key()
    util.write(p, good:sub(1, 200) .. "\n-----END OPENSSH PRIVATE KEY-----\n")
    local err = raises("KeyImportError", "invalid private key file '" .. p .. "'",
                       ssh.read_private_key, p)
    assert.equal(p, err.filename)
    util.write(p, "hello world\n")
    raises("KeyImportError", "'" .. p .. "': ", ssh.read_private_key, p)
    raises("KeyImportError", "No such file or directory",
           ssh.read_private_key, dir .. "/nope")
    raises("KeyImportError", dir .. "/nope", ssh.read_public_key, dir .. "/nope")
    util.write(p, "ssh-ed25519 AAAAnotbase64!! c\n")
    raises("KeyImportError", "'" .. p .. "'", ssh.read_public_key, p)
  end)

  it("raises KeyExportError naming a file it cannot write", function()
    local k = key_of(TYPES[1])
    local err = raises("KeyExportError", "No such file or directory",
                       k.write_private_key, k, dir .. "/no/such/dir/key")
    assert.equal(dir .. "/no/such/dir/key", err.filename)
    raises("KeyImportError", "Is a directory", ssh.read_private_key, dir)
  end)

  it("reads every key of a file holding several private keys", function()
    local p = dir .. "/multi_key"
    local a, b, c = key_of(TYPES[1]), key_of(TYPES[3]), key_of(TYPES[6])
    util.write(p, a:export_private_key("openssh", "pw", {rounds = 2})
               .. b:export_private_key("pkcs8-pem", "pw")
               .. c:export_private_key("pkcs1-pem"))
    local list = ssh.read_private_key_list(p, "pw")
    assert.equal(3, #list)
    assert.equal(a, list[1])
    assert.equal(b, list[2])
    assert.equal(c, list[3])
    -- A DER file is one key.
    util.write(p, a:export_private_key("pkcs8-der"))
    assert.equal(a, ssh.read_private_key_list(p)[1])
  end)
end)

describe("time values", function()
  local now = 1700000000
  it("parses numbers, now, intervals and absolute dates", function()
    assert.equal(123, keys.parse_time(123.9, now))
    assert.equal(math.huge, keys.parse_time(math.huge, now))
    assert.equal(now, keys.parse_time("now", now))
    assert.equal(now + 52 * 604800, keys.parse_time("+52w", now))
    assert.equal(now - 86400, keys.parse_time("-1d", now))
    assert.equal(now + 604800 + 2 * 86400 + 3 * 3600,
                 keys.parse_time("1w2d3h", now))
    assert.equal(now + 90, keys.parse_time("1m30", now))
    assert.equal(now + 5400, keys.parse_time("1.5h", now))
    assert.equal(1735689600, keys.parse_time("20250101Z", now))
    assert.equal(1735734896, keys.parse_time("20250101123456Z", now))
    assert.equal(1735734840, keys.parse_time("202501011234Z", now))
    assert.equal(os.time{year = 2025, month = 1, day = 1, hour = 0},
                 keys.parse_time("20250101", now))
    assert.equal(os.time{year = 2025, month = 1, day = 1, hour = 12, min = 34, sec = 56},
                 keys.parse_time("20250101123456", now))
  end)

  it("refuses what it cannot read", function()
    for _, bad in ipairs{"tomorrow", "+5y", "", "20251301", "202501011260", "1d-"} do
      raises("ValueError", nil, keys.parse_time, bad, now)
    end
    raises("ValueError", nil, keys.parse_time, {}, now)
  end)
end)

describe("certificates", function()
  local ca, user, host

  setup(function()
    ca = ssh.generate_private_key("ssh-ed25519", {comment = "ca"})
    user = ssh.generate_private_key("ecdsa-sha2-nistp256", {comment = "user"})
    host = ssh.generate_private_key("ssh-ed25519", {comment = "host"})
  end)

  it("makes user certificates ssh-keygen -L shows as asked", function()
    local cert = ca:generate_user_certificate(user, "user-id", {
      principals = {"alice", "bob"}, valid_after = "20250101Z",
      valid_before = "20350101Z", force_command = "ls -l",
      source_address = {"10.0.0.0/8", "192.168.1.1"},
      permit_pty = false, permit_x11_forwarding = false, serial = 42,
    })
    assert.equal("ecdsa-sha2-nistp256-cert-v01@openssh.com", cert:get_algorithm())
    assert.equal("user", cert:get_comment())
    assert.equal(user, cert.key)
    assert.equal(ca, cert.signing_key)
    assert.equal("user-id", cert.key_id)
    assert.equal(42, cert.serial)
    assert.equal("user", cert.cert_type)
    assert.same({"alice", "bob"}, cert.principals)
    assert.equal(1735689600, cert.valid_after)
    assert.equal(2051222400, cert.valid_before)
    assert.same({["force-command"] = "ls -l",
                 ["source-address"] = "10.0.0.0/8,192.168.1.1"}, cert.options)
    assert.same({["permit-agent-forwarding"] = true, ["permit-port-forwarding"] = true,
                 ["permit-user-rc"] = true}, cert.extensions)
    assert.equal("ssh-ed25519", cert.signature_algorithm)
    assert.equal(user:get_fingerprint(), cert:get_fingerprint())
    assert.is_true(cert:verify_signature())
    local p = dir .. "/user-cert.pub"
    cert:write_certificate(p)
    assert.equal(cert:export_certificate(), read(p))
    local out = sh("ssh-keygen -L -f " .. q(p))
    assert.matches("ecdsa-sha2-nistp256-cert-v01@openssh.com user certificate", out, 1, true)
    assert.matches('Key ID: "user-id"', out, 1, true)
    assert.matches("Serial: 42", out, 1, true)
    assert.matches("Valid: from " .. os.date("%Y-%m-%dT%H:%M:%S", 1735689600)
                   .. " to " .. os.date("%Y-%m-%dT%H:%M:%S", 2051222400), out, 1, true)
    assert.matches("Principals: %s+alice%s+bob%s+Critical", out)
    assert.matches("force-command ls -l", out, 1, true)
    assert.matches("source-address 10.0.0.0/8,192.168.1.1", out, 1, true)
    assert.matches("Extensions: %s+permit%-agent%-forwarding%s+permit%-port%-forwarding%s+permit%-user%-rc\n", out)
    assert.equal(cert, ssh.read_certificate(p))
    assert.equal("user", ssh.read_certificate(p):get_comment())
  end)

  it("makes host certificates with relative validity", function()
    local t0 = os.time()
    local cert = ca:generate_host_certificate(host, "host-id", {
      principals = "h1.example.com, h2.example.com", valid_after = "-1d",
      valid_before = "+52w", comment = "my host cert"})
    assert.equal("host", cert.cert_type)
    assert.same({"h1.example.com", "h2.example.com"}, cert.principals)
    assert.is_true(math.abs(cert.valid_after - (t0 - 86400)) <= 2)
    assert.is_true(math.abs(cert.valid_before - (t0 + 52 * 604800)) <= 2)
    assert.same({}, cert.options)
    assert.same({}, cert.extensions)
    assert.equal("my host cert", cert:get_comment())
    local p = dir .. "/host-cert.pub"
    cert:write_certificate(p)
    local out = sh("ssh-keygen -L -f " .. q(p))
    assert.matches("host certificate", out, 1, true)
    assert.matches("Principals: %s+h1.example.com%s+h2.example.com", out)
    assert.is_true(cert:validate("host", "h2.example.com"))
    raises("ValueError", "not valid", cert.validate, cert, "user", "h1.example.com")
  end)

  it("default to forever and the standard user extensions", function()
    local cert = ca:generate_user_certificate(user, "x")
    assert.equal(0, cert.valid_after)
    assert.equal(math.huge, cert.valid_before)
    assert.same({}, cert.principals)
    assert.same({["permit-X11-forwarding"] = true, ["permit-agent-forwarding"] = true,
                 ["permit-port-forwarding"] = true, ["permit-pty"] = true,
                 ["permit-user-rc"] = true}, cert.extensions)
    local p = dir .. "/forever-cert.pub"
    cert:write_certificate(p)
    assert.matches("Valid: forever", sh("ssh-keygen -L -f " .. q(p)), 1, true)
    local nt = ca:generate_user_certificate(user, "x", {touch_required = false})
    assert.is_true(nt.extensions["no-touch-required"])
  end)

  it("signs with the RSA signature algorithm asked for", function()
    local rsa = key_of(TYPES[6])
    local c1 = rsa:generate_user_certificate(user, "r")
    assert.equal("rsa-sha2-512", c1.signature_algorithm)
    local c2 = rsa:generate_user_certificate(user, "r", {sig_alg = "rsa-sha2-256"})
    assert.equal("rsa-sha2-256", c2.signature_algorithm)
    assert.is_true(c2:verify_signature())
    raises("ValueError", "does not suit", rsa.generate_user_certificate, rsa,
           user, "r", {sig_alg = "ssh-ed25519"})
    raises("ValueError", "private", ca:convert_to_public().generate_user_certificate,
           ca:convert_to_public(), user, "r")
    raises("ValueError", "valid_before", ca.generate_user_certificate, ca, user, "r",
           {valid_after = "+2d", valid_before = "+1d"})
  end)

  it("validate type, principal and time, and say why not", function()
    local cert = ca:generate_user_certificate(user, "v", {
      principals = {"alice"}, valid_after = 1000, valid_before = 2000})
    assert.is_true(cert:validate("user", "alice", 1500))
    raises("ValueError", "carol", cert.validate, cert, "user", "carol", 1500)
    raises("ValueError", "not valid", cert.validate, cert, "user", "alice", 2500)
    raises("ValueError", "not valid", cert.validate, cert, "user", "alice", 999)
    raises("ValueError", "not valid", cert.validate, cert, "host", "alice", 1500)
  end)

  it("load and validate certificates made by ssh-keygen -s", function()
    local d = dir .. "/kgcert"
    os.execute("rm -rf " .. q(d) .. "; mkdir " .. q(d))
    sh("ssh-keygen -q -t ed25519 -N '' -C ca -f " .. q(d .. "/ca"))
    sh("ssh-keygen -q -t rsa -b 2048 -N '' -C me -f " .. q(d .. "/user"))
    sh("ssh-keygen -q -s " .. q(d .. "/ca") .. " -I kg-id -n alice,bob -z 7"
       .. " -V 20200101:20300101 -O force-command=uptime -O no-pty "
       .. q(d .. "/user.pub"))
    local cert = ssh.read_certificate(d .. "/user-cert.pub")
    local ca_key = ssh.read_private_key(d .. "/ca")
    local user_key = ssh.read_private_key(d .. "/user")
    assert.equal("ssh-rsa-cert-v01@openssh.com", cert:get_algorithm())
    assert.equal(ca_key, cert.signing_key)
    assert.equal(user_key, cert.key)
    assert.equal("kg-id", cert.key_id)
    assert.equal(7, cert.serial)
    assert.same({"alice", "bob"}, cert.principals)
    assert.same({["force-command"] = "uptime"}, cert.options)
    assert.is_nil(cert.extensions["permit-pty"])
    assert.is_true(cert.extensions["permit-user-rc"])
    assert.equal(keys.parse_time("20200101"), cert.valid_after)
    assert.is_true(cert:validate("user", "bob", keys.parse_time("20250101")))
    raises("ValueError", nil, cert.validate, cert, "user", "bob",
           keys.parse_time("20310101"))
    -- A host certificate.
    sh("ssh-keygen -q -s " .. q(d .. "/ca") .. " -h -I hostid -n srv.example.com "
       .. q(d .. "/user.pub"))
    local hc = ssh.read_certificate_list(d .. "/user-cert.pub")
    assert.equal(1, #hc)
    assert.equal("host", hc[1].cert_type)
    assert.is_true(hc[1]:validate("host", "srv.example.com"))
    raises("KeyImportError", "user.pub", ssh.read_certificate, d .. "/user.pub")
  end)
end)

describe("ssh.load_keypairs and friends", function()
  local d, ca, k1, k2

  setup(function()
    d = dir .. "/lk"
    os.execute("mkdir -p " .. q(d))
    ca = ssh.generate_private_key("ssh-ed25519")
    k1 = ssh.generate_private_key("ssh-ed25519", {comment = "k1"})
    k2 = ssh.generate_private_key("ecdsa-sha2-nistp256", {comment = "k2"})
    k1:write_private_key(d .. "/k1")
    k2:write_private_key(d .. "/k2", "openssh", "pw", {rounds = 2})
    ca:generate_user_certificate(k1, "k1cert"):write_certificate(d .. "/k1-cert.pub")
  end)

  it("loads a path with its -cert.pub", function()
    local pairs_ = ssh.load_keypairs(d .. "/k1")
    assert.equal(1, #pairs_)
    local kp = pairs_[1]
    assert.equal(k1, kp.key)
    assert.equal("local", kp:get_key_type())
    assert.equal("ssh-ed25519-cert-v01@openssh.com", kp:get_algorithm())
    assert.equal("k1cert", kp.cert.key_id)
    assert.equal(kp.cert:public_data(), kp:public_data())
    assert.equal("k1", kp:get_comment())
    kp:set_comment("new")
    assert.equal("new", kp:get_comment())
    assert.matches("^SSHKeyPair ssh%-ed25519%-cert", tostring(kp))
    assert.is_true(k1:verify("x", kp:sign("x")))
  end)

  it("loads lists of paths, keys, pairs, and matches a certificate list", function()
    local c2 = ca:generate_user_certificate(k2, "k2cert")
    local list = ssh.load_keypairs({d .. "/k1", k2}, "pw", {c2})
    assert.equal(2, #list)
    assert.equal("k2cert", list[2].cert.key_id)
    list = ssh.load_keypairs({{d .. "/k2", c2}}, "pw")
    assert.equal(k2, list[1].key)
    assert.equal(c2, list[1].cert)
    list = ssh.load_keypairs({k2, c2})
    assert.equal(1, #list)
    assert.equal(c2, list[1].cert)
    -- Key data instead of a path.
    list = ssh.load_keypairs({k1:export_private_key()})
    assert.equal(k1, list[1].key)
    assert.is_nil(list[1].cert)
    raises("ValueError", "mismatch", ssh.load_keypairs, {{k1, c2}})
    raises("KeyEncryptionError", "passphrase required", ssh.load_keypairs, d .. "/k2")
    assert.same({}, ssh.load_keypairs(d .. "/k2", nil, nil, {ignore_encrypted = true}))
    raises("KeyImportError", "No such file", ssh.load_keypairs, d .. "/none")
    raises("KeyImportError", "public key", ssh.load_keypairs, {k1:convert_to_public()})
  end)

  it("loads the default keys from ~/.ssh, skipping encrypted ones", function()
    local home = d .. "/home"
    os.execute("mkdir -p " .. q(home .. "/.ssh"))
    k1:write_private_key(home .. "/.ssh/id_ed25519")
    ca:generate_user_certificate(k1, "def"):write_certificate(home .. "/.ssh/id_ed25519-cert.pub")
    k2:write_private_key(home .. "/.ssh/id_ecdsa", "openssh", "pw", {rounds = 2})
    local script = [[
      local ssh = require "luassh"
      local function show(l)
        local t = {}
        for _, kp in ipairs(l) do t[#t + 1] = kp:get_algorithm() end
        print(#l, table.concat(t, " "))
      end
      show(ssh.load_keypairs())
      show(ssh.load_keypairs(nil, "pw"))
    ]]
    local r = util.luassh("-e " .. q(script), "", "HOME=" .. q(home))
    assert.equal(0, r.status, r.stderr)
    assert.equal("1\tssh-ed25519-cert-v01@openssh.com\n"
                 .. "2\tssh-ed25519-cert-v01@openssh.com ecdsa-sha2-nistp256\n", r.stdout)
  end)

  it("loads public keys and certificates from paths, data and objects", function()
    k1:write_public_key(d .. "/k1.pub")
    local l = ssh.load_public_keys({d .. "/k1.pub", k2, k2:export_public_key()})
    assert.equal(3, #l)
    assert.equal(k1, l[1])
    assert.equal(k2, l[3])
    assert.equal(1, #ssh.load_public_keys(d .. "/k1.pub"))
    local c = ssh.load_certificates(d .. "/k1-cert.pub")
    assert.equal(1, #c)
    assert.equal(2, #ssh.load_certificates({c[1], d .. "/k1-cert.pub"}))
  end)
end)

describe("known_hosts", function()
  local ka, kb, kc, kca, krev, kr, path

  setup(function()
    ka = ssh.generate_private_key("ssh-ed25519")
    kb = ssh.generate_private_key("ecdsa-sha2-nistp256")
    kc = ssh.generate_private_key("ssh-ed25519")
    kca = ssh.generate_private_key("ssh-ed25519")
    krev = ssh.generate_private_key("ssh-ed25519")
    kr = key_of(TYPES[6])
    local function line(hosts, k, marker)
      return (marker and (marker .. " ") or "") .. hosts .. " "
        .. k:export_public_key():match("^(%S+ %S+)") .. "\n"
    end
    path = dir .. "/known_hosts"
    util.write(path,
      "# comment line\n"
      .. line("plain.example.com,10.0.0.1", ka)
      .. ssh.format_known_hosts_entry("hashed.example.com", 22, kb, {hashed = true})
      .. line("*.wild.example.com,!bad.wild.example.com", kc)
      .. line("[ported.example.com]:2222", ka)
      .. line("*.example.com", kca, "@cert-authority")
      .. line("*", krev, "@revoked")
      .. "@bogus host ssh-ed25519 AAAA\n"
      .. line("plain.example.com", kr))
  end)

  it("matches plain, hashed, wildcard, negated and [host]:port lines", function()
    local kh = ssh.read_known_hosts(path)
    local hk, cas, rev = kh:match("plain.example.com", "192.0.2.1", 22)
    assert.equal(2, #hk)
    assert.equal(ka, hk[1])
    assert.equal(kr, hk[2])
    assert.same({kca}, cas)
    assert.same({krev}, rev)
    hk = kh:match("other.example.com", "10.0.0.1", 22)
    assert.same({ka}, hk)
    hk = kh:match("HASHED.example.com")
    assert.same({kb}, hk)
    hk = kh:match("x.wild.example.com")
    assert.same({kc}, hk)
    hk = kh:match("bad.wild.example.com")
    assert.same({}, hk)
    hk = kh:match("ported.example.com", nil, 2222)
    assert.same({ka}, hk)
    hk = kh:match("ported.example.com", nil, 22)
    assert.same({}, hk)
    hk, cas = ssh.match_known_hosts(path, "plain.example.com", nil, 22)
    assert.equal(2, #hk)
    assert.same({kca}, cas)
    hk = ssh.match_known_hosts(kh, "nowhere.org")
    assert.same({}, hk)
  end)

  it("gives verdicts with the file and line behind them", function()
    local kh = ssh.read_known_hosts(path)
    local v, f, l, why = kh:check("plain.example.com", nil, 22, ka)
    assert.same({"ok", path, 2}, {v, f, l})
    assert.is_string(why)
    v, f, l = kh:check("plain.example.com", nil, 22, kc)
    assert.same({"changed", path, 2}, {v, f, l})
    v = kh:check("plain.example.com", nil, 22, kb)
    assert.equal("other_types", v)
    v, f, l = kh:check("nowhere.org", nil, 22, ka)
    assert.same({"unknown"}, {v, f, l})
    v, f, l = kh:check("srv.example.com", nil, 22, krev)
    assert.same({"revoked", path, 7}, {v, f, l})
    v, f, l = kh:check("srv.example.com", nil, 22, kb, kca)
    assert.same({"ok_ca", path, 6}, {v, f, l})
    -- A host certificate stands for its key and its CA.
    local cert = kca:generate_host_certificate(kb, "h", {principals = "srv.example.com"})
    assert.equal("ok_ca", (kh:check("srv.example.com", nil, 22, cert)))
    local rcert = krev:generate_host_certificate(kb, "h")
    assert.equal("revoked", (kh:check("srv.example.com", nil, 22, rcert)))
  end)

  it("lists malformed lines and entries", function()
    local kh = ssh.read_known_hosts(path)
    local problems = kh:problems()
    assert.equal(1, #problems)
    assert.equal(path, problems[1].filename)
    assert.equal(8, problems[1].line)
    assert.is_string(problems[1].reason)
    local entries = kh:entries()
    assert.equal(7, #entries)
    assert.is_false(entries[1].hashed)
    assert.is_true(entries[2].hashed)
    assert.equal(path, entries[2].filename)
    assert.equal(3, entries[2].line)
    assert.equal("cert-authority", entries[5].marker)
    assert.equal("revoked", entries[6].marker)
    assert.equal(kr, entries[7].key)
    assert.equal(9, entries[7].line)
  end)

  it("skips missing files and reads several", function()
    local other = dir .. "/known_hosts2"
    util.write(other, "extra.org " .. kc:export_public_key())
    local kh = ssh.read_known_hosts({dir .. "/missing", path, other})
    assert.same({kc}, (kh:match("extra.org")))
    assert.equal(0, #ssh.read_known_hosts(dir .. "/missing"):entries())
    local kh2 = ssh.import_known_hosts("h.org " .. ka:export_public_key())
    local v, f, l = kh2:check("h.org", nil, 22, ka)
    assert.same({"ok", "(memory)", 1}, {v, f, l})
    assert.matches("SSHKnownHosts %(1 entries%)", tostring(kh2))
  end)

  it("writes entries ssh-keygen -F finds, hashed or not", function()
    local p = dir .. "/kh_out"
    util.write(p, ssh.format_known_hosts_entry("Host.Example.org", 22, ka)
               .. ssh.format_known_hosts_entry("h2.example.org", 2200, kb, {hashed = true}))
    assert.matches("\nhost.example.org ssh-ed25519 ",
                   sh("ssh-keygen -F host.example.org -f " .. q(p)), 1, true)
    assert.matches("found: line 2", sh("ssh-keygen -F '[h2.example.org]:2200' -f " .. q(p)),
                   1, true)
    assert.equal("[h.org]:2200 ", ssh.format_known_hosts_entry("h.org", 2200, ka):sub(1, 13))
    raises("ValueError", "bad host", ssh.format_known_hosts_entry, "bad host", 22, ka)
  end)
end)

describe("authorized_keys", function()
  local ka, kb, kc, kca, ak

  setup(function()
    ka = ssh.generate_private_key("ssh-ed25519")
    kb = ssh.generate_private_key("ecdsa-sha2-nistp256")
    kc = ssh.generate_private_key("ssh-ed25519")
    kca = ssh.generate_private_key("ssh-ed25519")
    local function pub(k) return k:export_public_key():match("^(%S+ %S+)") end
    ak = ssh.import_authorized_keys(
      'command="echo hi",environment="A=1",environment="B=two words",no-pty,'
      .. 'permitopen="db:5432",permitopen="*:80",permitlisten="8080" '
      .. pub(ka) .. " alice\n"
      .. 'from="10.0.0.0/8,!10.9.9.9",restrict,pty,expiry-time="20991231" '
      .. pub(kb) .. "\n"
      .. 'cert-authority,principals="alice,deploy" ' .. pub(kca) .. "\n"
      .. "bogus-option " .. pub(kc) .. "\n"
      .. pub(kc) .. " plain\n")
  end)

  it("returns the options of the matching line", function()
    local o = ak:match(ka)
    assert.equal("echo hi", o.command)
    assert.same({A = "1", B = "two words"}, o.environment)
    assert.is_true(o.no_pty)
    assert.is_false(o.no_port_forwarding)
    assert.same({{host = "db", port = 5432}, {host = "*", port = 80}}, o.permitopen)
    assert.same({{host = "*", port = 8080}}, o.permitlisten)
    assert.equal(1, o.line)
    assert.equal("(memory)", o.filename)
    assert.is_false(o.cert_authority)
  end)

  it("applies from= and restrict", function()
    assert.is_nil(ak:match(kb))
    assert.is_nil(ak:match(kb, {addr = "192.168.1.1"}))
    assert.is_nil(ak:match(kb, {addr = "10.9.9.9"}))
    local o = ak:match(kb, {addr = "10.1.2.3"})
    assert.equal("10.0.0.0/8,!10.9.9.9", o.from)
    assert.is_true(o.restrict)
    assert.is_false(o.no_pty)
    assert.is_true(o.no_port_forwarding)
    assert.is_true(o.no_agent_forwarding)
    assert.is_true(o.no_x11_forwarding)
    assert.is_number(o.expiry_time)
    assert.is_nil(ak:match(kb, {addr = "10.1.2.3", now = o.expiry_time + 1}))
  end)

  it("matches CA keys only when asked, and certificates by their CA", function()
    assert.is_nil(ak:match(kca))
    local o = ak:match(kca, {ca = true})
    assert.is_true(o.cert_authority)
    assert.same({"alice", "deploy"}, o.principals)
    local cert = kca:generate_user_certificate(kc, "c", {principals = {"deploy"}})
    assert.same({"alice", "deploy"}, ak:match(cert).principals)
    local other = kca:generate_user_certificate(kc, "c", {principals = {"mallory"}})
    assert.is_nil(ak:match(other))
    assert.is_not_nil(ak:match(other, {principals = {"alice"}}))
  end)

  it("skips and lists bad lines", function()
    local o = ak:match(kc)
    assert.equal(5, o.line)
    local p = ak:problems()
    assert.equal(1, #p)
    assert.equal(4, p[1].line)
    assert.matches("bogus", p[1].reason)
    assert.equal(4, #ak:entries())
  end)

  it("reads files and names them", function()
    local p = dir .. "/authorized_keys"
    util.write(p, ka:export_public_key())
    local a = ssh.read_authorized_keys({p})
    assert.equal(p, a:match(ka).filename)
    raises("KeyImportError", "No such file", ssh.read_authorized_keys, dir .. "/none")
  end)
end)

describe("SSHSIG", function()
  local d, k, data
  setup(function()
    d = dir .. "/sig"
    os.execute("mkdir -p " .. q(d))
    data = "signed message\n" .. string.rep("x", 1000)
    util.write(d .. "/data", data)
  end)

  for _, t in ipairs(TYPES) do
    if t.keygen then
      it("signatures by " .. t.alg .. " pass ssh-keygen -Y verify", function()
        k = key_of(t)
        util.write(d .. "/allowed", "alice@example.com " .. k:export_public_key())
        for _, h in ipairs{"sha512", "sha256"} do
          util.write(d .. "/data.sig", ssh.create_sshsig(k, data, "file", {hash_name = h}))
          local out = sh("ssh-keygen -Y verify -f " .. q(d .. "/allowed")
                         .. " -I alice@example.com -n file -s " .. q(d .. "/data.sig"),
                         false, data)
          assert.matches("Good \"file\" signature for alice@example.com", out)
          local _, st = sh("ssh-keygen -Y verify -f " .. q(d .. "/allowed")
                           .. " -I alice@example.com -n git -s " .. q(d .. "/data.sig"),
                           true, data)
          assert.not_equal(0, st)
        end
      end)

      it("signatures by ssh-keygen -Y sign with " .. t.alg .. " validate", function()
        k = key_of(t)
        local kp = d .. "/key_" .. t.alg
        k:write_private_key(kp)
        os.remove(d .. "/data.sig")
        sh("ssh-keygen -q -Y sign -f " .. q(kp) .. " -n file " .. q(d .. "/data"))
        local sig = read(d .. "/data.sig")
        assert.equal(k, ssh.validate_sshsig(data, sig, "file"))
        raises("ValueError", "namespace", ssh.validate_sshsig, data, sig, "git")
        raises("ValueError", "invalid SSH signature", ssh.validate_sshsig,
               data .. "!", sig, "file")
      end)
    end
  end

  it("checks signers against allowed_signers", function()
    k = key_of(TYPES[1])
    local sig = ssh.create_sshsig(k, data, "file")
    local as = ssh.import_allowed_signers(
      '*@example.com namespaces="file,mail" ' .. k:export_public_key()
      .. "bob@example.com " .. key_of(TYPES[3]):export_public_key()
      .. "broken line\n")
    assert.is_true(as:check("alice@example.com", k, "file"))
    assert.is_false(as:check("alice@example.com", k, "git"))
    assert.is_false(as:check("alice@example.org", k, "file"))
    assert.is_true(as:check("bob@example.com", k, "file")) -- *@example.com
    assert.is_true(as:check("bob@example.com", key_of(TYPES[3]), "git"))
    assert.is_false(as:check("alice@example.com", key_of(TYPES[3]), "file"))
    assert.same({"*@example.com"}, as:find_principals(k, "file"))
    assert.equal(1, #as:problems())
    assert.equal(3, as:problems()[1].line)
    assert.equal(k, ssh.validate_sshsig(data, sig, "file",
                                        {allowed_signers = as, principal = "alice@example.com"}))
    raises("ValueError", "not allowed", ssh.validate_sshsig, data, sig, "file",
           {allowed_signers = as, principal = "alice@example.org"})
    local p = dir .. "/allowed_signers"
    util.write(p, "carol " .. k:export_public_key())
    assert.equal(k, ssh.validate_sshsig(data, sig, "file", {allowed_signers = p}))
    assert.is_true(ssh.read_allowed_signers(p):check("carol", k, "any"))
    raises("ValueError", "not in the allowed signers", ssh.validate_sshsig, data, sig,
           "file", {allowed_signers = ssh.import_allowed_signers("")})
  end)

  it("signs digests and raw blobs, and refuses bad options", function()
    k = key_of(TYPES[1])
    local raw = ssh.create_sshsig(k, data, "file", {raw = true})
    assert.equal("SSHSIG", raw:sub(1, 6))
    assert.equal(k, ssh.validate_sshsig(data, raw, "file"))
    raises("ValueError", "md5", ssh.create_sshsig, k, data, "file", {hash_name = "md5"})
    raises("ValueError", "namespace", ssh.create_sshsig, k, data, "")
    raises("ValueError", "public key", ssh.create_sshsig, k:convert_to_public(), data, "f")
  end)
end)

describe("the thread pool", function()
  it("keeps the loop running while an RSA 4096 key is generated", function()
    local ticks, stop = 0, false
    local ticker = ssh.spawn(function()
      while not stop do ssh.sleep(0.01) ticks = ticks + 1 end
    end)
    local t0 = ssh.now()
    local k = ssh.spawn(function()
      return ssh.generate_private_key("ssh-rsa", {key_size = 4096})
    end):wait()
    local elapsed = ssh.now() - t0
    stop = true
    ticker:wait()
    assert.equal(4096, k:get_key_size())
    -- The ticker ran throughout: at least half the ticks it could have.
    assert.is_true(ticks >= math.floor(elapsed / 0.01 / 2),
                   ticks .. " ticks in " .. elapsed .. " s")
    assert.is_true(ticks >= 3, ticks .. " ticks in " .. elapsed .. " s")
  end)

  it("keeps the loop running while an encrypted key is decrypted", function()
    local k = key_of(TYPES[1])
    local data = k:export_private_key("openssh", "pw", {rounds = 64})
    local ticks, stop = 0, false
    local ticker = ssh.spawn(function()
      while not stop do ssh.sleep(0.01) ticks = ticks + 1 end
    end)
    local t0 = ssh.now()
    local k2 = ssh.import_private_key(data, "pw")
    local elapsed = ssh.now() - t0
    stop = true
    ticker:wait()
    assert.equal(k, k2)
    assert.is_true(ticks >= math.floor(elapsed / 0.01 / 2),
                   ticks .. " ticks in " .. elapsed .. " s")
  end)

  it("runs several jobs at once", function()
    local fns = {}
    for i = 1, 4 do
      fns[i] = function() return ssh.generate_private_key("ssh-rsa", {key_size = 1024}) end
    end
    local r = ssh.gather(fns)
    for i = 1, 4 do assert.equal(1024, r[i]:get_key_size()) end
    assert.not_equal(r[1], r[2])
  end)

  it("abandons a job whose task times out or is cancelled", function()
    local ok, err = pcall(ssh.timeout, 0.001, ssh.generate_private_key, "ssh-rsa",
                          {key_size = 4096})
    assert.is_false(ok)
    assert.equal("Timeout", err.kind)
    local t = ssh.spawn(ssh.import_private_key,
                        key_of(TYPES[1]):export_private_key("openssh", "pw", {rounds = 32}),
                        "pw")
    ssh.sleep(0)
    t:cancel()
    assert.is_false((pcall(t.wait, t)))
    assert.is_true(t:cancelled())
    -- The loop still works and a later job completes.
    assert.equal(1024, ssh.generate_private_key("ssh-rsa", {key_size = 1024}):get_key_size())
  end)

  it("runs inline in stock lua5.4 outside ssh.run, on the pool inside it", function()
    if os.getenv("LUASSH_SANITIZED") then
      return -- a sanitizer-built .so cannot load into lua5.4 (see cli_spec)
    end
    local so_dir = util.bin:match("^(.*)/[^/]*$")
    local out = sh("lua5.4 -e " .. q([[
      package.cpath = "]] .. so_dir .. [[/?.so;" .. package.cpath
      local ssh = require "luassh"
      local k = ssh.generate_private_key("ssh-rsa", {key_size = 1024})
      local enc = k:export_private_key("openssh", "pw", {rounds = 2})
      print(k:get_key_size(), ssh.import_private_key(enc, "pw") == k)
      print(ssh.run(function()
        return ssh.import_private_key(enc, "pw") == k,
               ssh.generate_private_key("ssh-rsa", {key_size = 1024}):get_key_size()
      end))]]))
    assert.equal("1024\ttrue\ntrue\t1024\n", out)
  end)

  it("runs inline where it cannot yield", function()
    local k
    local co = coroutine.wrap(function()
      k = ssh.generate_private_key("ssh-rsa", {key_size = 1024})
    end)
    co()
    assert.equal(1024, k:get_key_size())
    -- In a metamethod, too.
    local mt = {__index = function(_, _)
      return ssh.import_private_key(key_of(TYPES[1]):export_private_key("openssh", "p",
                                                                        {rounds = 1}), "p")
    end}
    assert.equal(key_of(TYPES[1]), setmetatable({}, mt).x)
  end)
end)
