-- Client authentication and host key checking (issue 5): publickey with
-- keys, key files and certificates against OpenSSH's sshd; password,
-- keyboard-interactive and password change against an AsyncSSH server;
-- known_hosts in every form, @cert-authority and @revoked.
local ssh = require "luassh"
local util = require "spec.support.util"
local cenv = require "spec.support.client_env"
local asrv = require "spec.support.asyncssh_server"

local timed = cenv.timed

local function run_ok(conn)
  return conn:run("echo ok", {check = true}).stdout
end

describe("publickey authentication against sshd", function()
  local env, dir

  setup(function()
    dir = util.tmpdir()
    env = cenv.start_sshd {
      first = {"PubkeyAcceptedAlgorithms rsa-sha2-512,ssh-ed25519,"
               .. "ecdsa-sha2-nistp256,ssh-ed25519-cert-v01@openssh.com"},
    }
  end)
  teardown(function()
    if env then env.stop() end
    util.rmtree(dir)
  end)

  local function authorize(key)
    local f = assert(io.open(env.dir .. "/authorized_keys", "a"))
    f:write(key:export_public_key())
    f:close()
  end

  it("signs with ed25519, ECDSA and RSA keys (rsa-sha2-512 from server-sig-algs)", function()
    timed(60, function()
      for _, alg in ipairs {"ecdsa-sha2-nistp256", "ssh-rsa"} do
        local key = ssh.generate_private_key(alg, {key_size = 2048})
        authorize(key)
        local conn <close> = env.connect {client_keys = {key}}
        assert.equal("ok\n", run_ok(conn))
      end
    end)
  end)

  it("reads key files, with a passphrase", function()
    timed(60, function()
      local key = ssh.generate_private_key("ssh-ed25519")
      authorize(key)
      key:write_private_key(dir .. "/id_enc", "openssh", "pass phrase")
      local conn <close> = env.connect {client_keys = {dir .. "/id_enc"},
                                        passphrase = "pass phrase"}
      assert.equal("ok\n", run_ok(conn))
      local ok, err = pcall(env.connect, {client_keys = {dir .. "/id_enc"},
                                          passphrase = "wrong"})
      assert.is_false(ok)
      assert.equal("KeyEncryptionError", err.kind)
    end)
  end)

  it("tries the keys in order until one is accepted", function()
    timed(60, function()
      local stranger = ssh.generate_private_key("ssh-ed25519")
      local conn <close> = env.connect {client_keys = {stranger, env.key}}
      assert.equal("ok\n", run_ok(conn))
    end)
  end)

  it("raises PermissionDenied listing the methods tried", function()
    timed(60, function()
      local stranger = ssh.generate_private_key("ssh-ed25519")
      local other = ssh.generate_private_key("ecdsa-sha2-nistp256")
      local ok, err = pcall(env.connect, {client_keys = {stranger, other}})
      assert.is_false(ok)
      assert.equal("PermissionDenied", err.kind)
      assert.equal("root", err.username)
      assert.equal(env.port, err.port)
      assert.equal("publickey", err.methods_tried[1].method)
      assert.equal(2, err.methods_tried[1].count)
      assert.matches("permission denied for user 'root' on 127%.0%.0%.1 port "
                     .. env.port .. ": .*tried: publickey %(2 tries%)", err.reason)
      assert.matches("the server accepts: publickey", err.reason)
      -- no credentials at all
      ok, err = pcall(env.connect, {client_keys = false})
      assert.is_false(ok)
      assert.equal("PermissionDenied", err.kind)
      assert.matches("tried: nothing", err.reason)
    end)
  end)

  it("authenticates with a user certificate signed by a trusted CA", function()
    timed(60, function()
      local ca = ssh.generate_private_key("ssh-ed25519")
      local key = ssh.generate_private_key("ssh-ed25519")
      local cert = ca:generate_user_certificate(key, "luassh-test",
                                                {principals = {"root"}})
      local wrong = ca:generate_user_certificate(key, "luassh-test",
                                                 {principals = {"nobody"}})
      ca:write_public_key(dir .. "/ca.pub")
      local cenv2 = cenv.start_sshd {
        first = {"TrustedUserCAKeys " .. dir .. "/ca.pub"},
      }
      local ok, err = pcall(function()
        local conn <close> = cenv2.connect {client_keys = {{key, cert}}}
        assert.equal("ok\n", run_ok(conn))
        -- a key file with its -cert.pub beside it
        key:write_private_key(dir .. "/id_cert")
        cert:write_certificate(dir .. "/id_cert-cert.pub")
        local conn2 <close> = cenv2.connect {client_keys = {dir .. "/id_cert"}}
        assert.equal("ok\n", run_ok(conn2))
        local ok2, err2 = pcall(cenv2.connect, {client_keys = {{key, wrong}}})
        assert.is_false(ok2)
        assert.equal("PermissionDenied", err2.kind)
      end)
      cenv2.stop()
      if not ok then error(err, 0) end
    end)
  end)
end)

describe("host key checking against sshd", function()
  local env, dir

  setup(function()
    dir = util.tmpdir()
    env = cenv.start_sshd()
  end)
  teardown(function()
    if env then env.stop() end
    util.rmtree(dir)
  end)

  local host_pub = function(kind)
    return ssh.read_public_key(env.dir .. "/ssh_host_" .. kind .. "_key.pub")
  end

  it("accepts known_hosts as a path, a list, data, an object or a function", function()
    timed(60, function()
      for _, kh in ipairs {
        env.kh_file,
        {dir .. "/missing", env.kh_file},
        env.known_hosts,
        ssh.read_known_hosts(env.kh_file),
      } do
        local conn <close> = env.connect {known_hosts = kh}
        assert.equal("ok\n", run_ok(conn))
      end
      local seen
      local conn <close> = env.connect {known_hosts = function(host, addr, port, key)
        seen = {host, addr, port, key:get_algorithm()}
        return true
      end}
      assert.same({"127.0.0.1", "127.0.0.1", env.port, "ssh-ed25519"}, seen)
      local ok, err = pcall(env.connect, {known_hosts = function() return false, "not today" end})
      assert.is_false(ok)
      assert.equal("HostKeyNotVerifiable", err.kind)
      assert.matches("not today", err.reason)
    end)
  end)

  it("prefers the host key types known_hosts trusts", function()
    timed(60, function()
      local kh = ssh.format_known_hosts_entry("127.0.0.1", env.port, host_pub("ecdsa384"))
      local conn <close> = env.connect {known_hosts = kh}
      assert.equal("ecdsa-sha2-nistp384", conn:get_extra_info("server_host_key_alg"))
    end)
  end)

  it("refuses an unknown host key, naming host, key type, fingerprint and file", function()
    timed(60, function()
      util.write(dir .. "/empty_kh", "# nothing\n")
      local ok, err = pcall(env.connect, {known_hosts = dir .. "/empty_kh"})
      assert.is_false(ok)
      assert.equal("HostKeyNotVerifiable", err.kind)
      local fp = host_pub("ed25519"):get_fingerprint()
      assert.equal(fp, err.fingerprint)
      assert.equal("ssh-ed25519", err.key_type)
      assert.equal("127.0.0.1", err.host)
      assert.equal(env.port, err.port)
      assert.equal("unknown", err.verdict)
      assert.matches("127%.0%.0%.1 port " .. env.port, err.reason)
      assert.matches("ssh%-ed25519 key " .. fp:gsub("%p", "%%%0"), err.reason)
      assert.matches(dir:gsub("%p", "%%%0") .. "/empty_kh", err.reason)
      assert.matches("%[127%.0%.0%.1%]:" .. env.port, err.reason)
    end)
  end)

  it("refuses a changed host key, quoting the known_hosts line", function()
    timed(60, function()
      local other = ssh.generate_private_key("ssh-ed25519")
      util.write(dir .. "/changed_kh", "# a comment\n"
        .. ssh.format_known_hosts_entry("127.0.0.1", env.port, other))
      local ok, err = pcall(env.connect, {known_hosts = dir .. "/changed_kh"})
      assert.is_false(ok)
      assert.equal("HostKeyNotVerifiable", err.kind)
      assert.equal("changed", err.verdict)
      assert.equal(dir .. "/changed_kh", err.filename)
      assert.equal(2, err.line)
      assert.matches("CHANGED", err.reason)
      assert.matches("changed_kh line 2", err.reason)
    end)
  end)

  it("refuses a @revoked host key", function()
    timed(60, function()
      local key = host_pub("ed25519")
      util.write(dir .. "/revoked_kh", env.known_hosts
        .. "@revoked * " .. key:export_public_key())
      local ok, err = pcall(env.connect, {known_hosts = dir .. "/revoked_kh"})
      assert.is_false(ok)
      assert.equal("HostKeyNotVerifiable", err.kind)
      assert.equal("revoked", err.verdict)
      assert.matches("revoked", err.reason)
    end)
  end)

  it("warns on stderr when checking is disabled", function()
    env.key:write_private_key(dir .. "/id")
    util.write(dir .. "/nocheck.lua", ([[
      local ssh = require "luassh"
      local conn <close> = ssh.connect("127.0.0.1", {port = %d, username = "root",
        client_keys = {%q}, known_hosts = false})
      io.write(conn:run("echo ok").stdout)
    ]]):format(env.port, dir .. "/id"))
    local r = util.luassh(util.q(dir .. "/nocheck.lua"))
    assert.equal(0, r.status, r.stderr)
    assert.equal("ok\n", r.stdout)
    assert.matches("warning: host key checking is disabled", r.stderr)
    assert.matches("SHA256:", r.stderr)
  end)
end)

describe("host certificates and @cert-authority", function()
  local env, dir, ca

  setup(function()
    dir = util.tmpdir()
    ca = ssh.generate_private_key("ssh-ed25519")
    local hk = ssh.generate_private_key("ssh-ed25519")
    hk:write_private_key(dir .. "/host_key")
    hk:write_public_key(dir .. "/host_key.pub")
    os.execute("chmod 600 " .. util.q(dir .. "/host_key"))
    local cert = ca:generate_host_certificate(hk, "test host",
                                              {principals = {"127.0.0.1"}})
    cert:write_certificate(dir .. "/host_key-cert.pub")
    env = cenv.start_sshd {
      host_keys = {dir .. "/host_key"},
      first = {"HostCertificate " .. dir .. "/host_key-cert.pub",
               "HostKeyAlgorithms ssh-ed25519-cert-v01@openssh.com,ssh-ed25519"},
    }
  end)
  teardown(function()
    if env then env.stop() end
    util.rmtree(dir)
  end)

  local function ca_line(marker, host)
    return ("%s %s %s"):format(marker, host or ("[127.0.0.1]:" .. env.port),
                               ca:export_public_key())
  end

  it("trusts a host certificate signed by a @cert-authority", function()
    timed(60, function()
      local conn <close> = env.connect {known_hosts = ca_line("@cert-authority")}
      assert.equal("ssh-ed25519-cert-v01@openssh.com",
                   conn:get_extra_info("server_host_key_alg"))
      assert.equal("ok\n", run_ok(conn))
    end)
  end)

  it("refuses it without a @cert-authority line, or when the CA is @revoked", function()
    timed(60, function()
      util.write(dir .. "/kh_none", "# empty\n")
      local ok, err = pcall(env.connect, {known_hosts = dir .. "/kh_none"})
      assert.is_false(ok)
      assert.equal("HostKeyNotVerifiable", err.kind)
      ok, err = pcall(env.connect, {known_hosts = ca_line("@cert-authority")
        .. ca_line("@revoked", "*")})
      assert.is_false(ok)
      assert.equal("HostKeyNotVerifiable", err.kind)
      assert.equal("revoked", err.verdict)
    end)
  end)

  it("refuses a certificate that does not name the host", function()
    timed(60, function()
      -- "localhost" is not among the certificate's principals.
      local ok, err = pcall(ssh.connect, "localhost", env.options {
        known_hosts = ca_line("@cert-authority", "[localhost]:" .. env.port)})
      assert.is_false(ok)
      assert.equal("HostKeyNotVerifiable", err.kind)
    end)
  end)
end)

describe("password and keyboard-interactive against an AsyncSSH server", function()
  local srv, kh

  setup(function()
    srv = asrv.start()
    kh = ssh.format_known_hosts_entry("127.0.0.1", srv.port,
                                      ssh.read_public_key(srv.host_key_pub))
  end)
  teardown(function() if srv then srv.stop() end end)

  local function connect(opts)
    opts.port = srv.port
    opts.known_hosts = kh
    if opts.client_keys == nil then opts.client_keys = false end
    return ssh.connect("127.0.0.1", opts)
  end

  local function whoami(opts)
    return timed(30, function()
      local conn <close> = connect(opts)
      return conn:run("whoami").stdout, conn
    end)
  end

  it("logs in with a password, showing the banner", function()
    local banner
    local out, conn = whoami {username = "alice", password = "secret",
                              preferred_auth = "password",
                              auth_banner = function(text) banner = text end}
    assert.equal("alice\n", out)
    assert.equal("Welcome, alice\n", banner)
    assert.equal("Welcome, alice\n", conn:get_extra_info("auth_banner"))
  end)

  it("gets the password from a function", function()
    assert.equal("alice\n", whoami {username = "alice", preferred_auth = {"password"},
                                    password = function() return "secret" end})
  end)

  it("answers a single keyboard-interactive prompt with the password", function()
    assert.equal("alice\n", whoami {username = "alice", password = "secret",
                                    preferred_auth = "keyboard-interactive"})
  end)

  it("asks a kbdint handler for several prompts", function()
    local seen
    assert.equal("carol\n", whoami {username = "carol", kbdint_handler =
      function(name, instruction, lang, prompts)
        seen = {name, instruction, prompts}
        return {"secret", "42"}
      end})
    assert.equal("Login", seen[1])
    assert.equal("Two-factor login", seen[2])
    assert.same({{"Password: ", false, prompt = "Password: ", echo = false},
                 {"Code: ", true, prompt = "Code: ", echo = true}}, seen[3])
  end)

  it("changes an expired password", function()
    local prompt
    assert.equal("bob\n", whoami {username = "bob", password = "old",
      preferred_auth = "password",
      password_change = function(p) prompt = p return "old", "new" end})
    assert.equal("Password expired", prompt)
    assert.equal("bob\n", whoami {username = "bob", password = "old",
      preferred_auth = "password", password_change = "new"})
    local ok, err = pcall(whoami, {username = "bob", password = "old",
                                   preferred_auth = "password"})
    assert.is_false(ok)
    assert.equal("PermissionDenied", err.kind)
    assert.matches("password change", err.reason)
  end)

  it("raises PermissionDenied for a wrong password, listing the methods tried", function()
    local ok, err = pcall(whoami, {username = "alice", password = "wrong"})
    assert.is_false(ok)
    assert.equal("PermissionDenied", err.kind)
    local tried = {}
    for _, t in ipairs(err.methods_tried) do tried[#tried + 1] = t.method end
    table.sort(tried)
    assert.same({"keyboard-interactive", "password"}, tried)
    assert.matches("user 'alice' on 127%.0%.0%.1 port " .. srv.port, err.reason)
  end)

  it("calls the callbacks of a client table (create_connection)", function()
    timed(30, function()
      local log = {}
      local client = {
        connection_made = function(self, conn) log[#log + 1] = "made" end,
        auth_banner_received = function(self, msg) log[#log + 1] = "banner:" .. msg end,
        auth_completed = function(self) log[#log + 1] = "auth" end,
        connection_lost = function(self, exc) log[#log + 1] = "lost" end,
      }
      local conn, c = ssh.create_connection(client, "127.0.0.1", {
        port = srv.port, known_hosts = kh, client_keys = false,
        username = "alice", password = "secret"})
      assert.equal(client, c)
      assert.equal("alice\n", conn:run("whoami").stdout)
      conn:close()
      conn:wait_closed()
      ssh.sleep(0.05)
      assert.same({"made", "banner:Welcome, alice\n", "auth", "lost"}, log)
    end)
  end)

  it("sends signals and breaks to a running process", function()
    timed(30, function()
      local conn <close> = connect {username = "alice", password = "secret"}
      local proc = conn:create_process("waitsignal")
      ssh.sleep(0.1)
      proc:terminate()
      local r = proc:wait()
      assert.equal("TERM", r.exit_signal.signal)
      assert.equal(-15, r.returncode)
      proc = conn:create_process("waitsignal")
      ssh.sleep(0.1)
      proc:send_signal("SIGINT")
      assert.equal(-2, proc:wait().returncode)
      proc = conn:create_process("waitsignal")
      ssh.sleep(0.1)
      proc:send_break(300)
      assert.equal(300 % 256, proc:wait().exit_status)
    end)
  end)
end)
