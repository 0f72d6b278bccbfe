-- The SSH server: ssh.listen / ssh.create_server, the SSHServer callbacks,
-- authentication policy and sessions (AsyncSSH's connection.py server half
-- and server.py, doc/api/server.md).
--
-- The C objects (luassh.servercore, src/lua_bindings/l_server.c, and the
-- server connections of src/lua_bindings/l_client.c) run the protocol and
-- apply the connection limits; every decision is made here.  Each
-- listener has an accept task; each connection a task that reads its
-- control events (auth requests, channel opens) in order; each session a
-- task of its own that runs the process_factory handler or drives the
-- session_factory callbacks.  Callbacks run in those tasks and may wait.
local core = require "luassh.core"
local ccore = require "luassh.clientcore"
local score = require "luassh.servercore"
local Error = require "luassh.error"
local keys = require "luassh.keys"
local process = require "luassh.process"
local sproc = require "luassh.server_process"

local M = {}

local spawn = core.spawn
local conn_methods = ccore.conn_methods

-- RFC 4254 §5.1
local OPEN_ADMINISTRATIVELY_PROHIBITED = 1
local OPEN_UNKNOWN_CHANNEL_TYPE = 3
M.OPEN_ADMINISTRATIVELY_PROHIBITED = OPEN_ADMINISTRATIVELY_PROHIBITED

local function raise(kind, reason, fields)
  error(Error.new(kind, reason, fields), 0)
end

local function warn(fmt, ...)
  io.stderr:write("luassh server: ", string.format(fmt, ...), "\n")
end

local function seconds_ms(v, name, default)
  if v == nil then return default end
  if type(v) == "string" then v = keys.parse_time_interval(v) end
  if type(v) ~= "number" or v < 0 then
    error(name .. " must be a number of seconds", 4)
  end
  return math.floor(v * 1000)
end

local function name_list(v)
  if v == nil then return nil end
  if type(v) == "table" then return table.concat(v, ",") end
  return tostring(v)
end

local function list_of(v)
  if v == nil then return {} end
  if type(v) == "table" and getmetatable(v) == nil then return v end
  return {v}
end

-- Host keys ---------------------------------------------------------------

local function file_exists(path)
  local f = io.open(path, "rb")
  if f then f:close() return true end
  return false
end

-- server_host_keys: paths, key objects or keypairs; with none, an ed25519
-- key generated (and kept at host_key_file when given).
local function load_host_keys(o)
  local list = {}
  for _, spec in ipairs(list_of(o.server_host_keys)) do
    if type(spec) == "string" then
      list[#list + 1] = keys.read_private_key(spec, o.passphrase)
    elseif keys.is_keypair(spec) then
      list[#list + 1] = spec.key
    else
      list[#list + 1] = spec
    end
  end
  if #list == 0 then
    local key
    if o.host_key_file and file_exists(o.host_key_file) then
      key = keys.read_private_key(o.host_key_file, o.passphrase)
    else
      key = keys.generate_private_key("ssh-ed25519", "luassh host key")
      if o.host_key_file then
        key:write_private_key(o.host_key_file)
        warn("generated host key %s in %s", key:get_fingerprint(),
             o.host_key_file)
      elseif o.log_host_key ~= false then
        warn("generated host key %s (in memory)", key:get_fingerprint())
      end
    end
    list[1] = key
  end
  return list
end

-- server_host_certs (paths or certificate objects), and the
-- "<key file>-cert.pub" next to each host key file (AsyncSSH, sshd's
-- HostCertificate).  Each must certify one of the host keys.
local function load_host_certs(o, host_keys)
  local certs = {}
  local function add(c, where)
    if c.cert_type ~= "host" and c.cert_type ~= 2 then
      error(("%s is not a host certificate"):format(where), 0)
    end
    local fp = c.key:get_fingerprint()
    for _, k in ipairs(host_keys) do
      if k:get_fingerprint() == fp then
        certs[#certs + 1] = c
        return
      end
    end
    error(("%s certifies none of the host keys"):format(where), 0)
  end
  for _, spec in ipairs(list_of(o.server_host_certs)) do
    if type(spec) == "string" then
      add(keys.read_certificate(spec), spec)
    else
      add(spec, tostring(spec))
    end
  end
  if o.server_host_certs == nil then
    for _, spec in ipairs(list_of(o.server_host_keys)) do
      if type(spec) == "string" and file_exists(spec .. "-cert.pub") then
        add(keys.read_certificate(spec .. "-cert.pub"), spec .. "-cert.pub")
      end
    end
  end
  return certs
end

-- Authorized keys ---------------------------------------------------------

local function to_authorized_keys(v)
  if v == nil then return nil end
  local cls = getmetatable(v) and getmetatable(v).__name
  if cls == "luassh.SSHAuthorizedKeys" then return v end
  if type(v) == "string" then
    if v:find("\n") or v:match("^ssh%-") or v:match("^ecdsa%-")
       or v:match("^sk%-") or v:match("^cert%-authority") then
      return keys.import_authorized_keys(v)
    end
    return keys.read_authorized_keys(v)
  end
  if type(v) == "table" then
    -- A list of keys (or paths): one line each.
    local lines = {}
    for _, k in ipairs(v) do
      if type(k) == "string" then
        return keys.read_authorized_keys(v)
      end
      lines[#lines + 1] = k:export_public_key("openssh"):gsub("\n$", "")
    end
    return keys.import_authorized_keys(table.concat(lines, "\n") .. "\n")
  end
  error("authorized_client_keys: a path, authorized_keys data or an "
        .. "SSHAuthorizedKeys object expected", 3)
end

--- conn:set_authorized_keys(path | data | SSHAuthorizedKeys)
--- (server) the keys the user now being authenticated may use.
function conn_methods:set_authorized_keys(v)
  self._authorized_keys = to_authorized_keys(v)
end

-- Server connections ------------------------------------------------------

-- Calls server:name(...) when the callback table has it.
local function callback(obj, name, ...)
  local f = obj and obj[name]
  if f == nil then return nil, false end
  return f(obj, ...), true
end

local function password_supported(srv)
  local v, has = callback(srv, "password_auth_supported")
  if has then return v and true or false end
  return srv.validate_password ~= nil
end

local function kbdint_supported(srv)
  local v, has = callback(srv, "kbdint_auth_supported")
  if has then return v and true or false end
  return srv.get_kbdint_challenge ~= nil
end

local function pubkey_supported(conn, srv)
  local v, has = callback(srv, "public_key_auth_supported")
  if has then return v and true or false end
  return conn._authorized_keys ~= nil or srv.validate_public_key ~= nil
    or srv.validate_ca_key ~= nil
end

local function methods_for(conn, srv, o)
  local m = {}
  if o.public_key_auth ~= false and pubkey_supported(conn, srv) then
    m[#m + 1] = "publickey"
  end
  if o.kbdint_auth ~= false and (kbdint_supported(srv)
     or (o.password_auth ~= false and password_supported(srv))) then
    m[#m + 1] = "keyboard-interactive"
  end
  if o.password_auth ~= false and password_supported(srv) then
    m[#m + 1] = "password"
  end
  return table.concat(m, ",")
end

local function is_cert_alg(alg)
  return alg ~= nil and alg:find("-cert-v01@openssh.com", 1, true) ~= nil
end

-- The authorized_keys options for this key, or nil; with a certificate,
-- its CA must be trusted and it must be valid for the user.
local function check_public_key(conn, srv, user, ev)
  local ak = conn._authorized_keys
  local peer = conn:get_extra_info("peername") or {}
  if is_cert_alg(ev.key_alg) then
    -- The core checked the CA's signature; trust, validity, principals
    -- and the critical options are ours (PROTOCOL.certkeys, sshd).
    local cert = ev.cert
    if not cert or #(cert.principals or {}) == 0 then return nil end
    local opts = ak and ak:match(cert, {addr = peer[1]})
    if opts then
      -- principals= on the line was matched by ak:match; without it a
      -- principal must be the user name.
      local principal = opts.principals == nil and user or nil
      if not pcall(cert.validate, cert, "user", principal) then return nil end
    else
      if not pcall(cert.validate, cert, "user", user) then return nil end
      if not callback(srv, "validate_ca_key", user, cert.signing_key) then
        return nil
      end
      opts = {}
    end
    local critical = cert.options or {}
    for name in pairs(critical) do
      if name ~= "force-command" and name ~= "source-address"
         and name ~= "verify-required" then
        return nil -- an unknown critical option: refuse (sshd)
      end
    end
    local from = critical["source-address"]
    if type(from) == "string" then
      -- The same address-list matching as authorized_keys from=.
      local line = ('from="%s" %s'):format(from,
        cert.key:export_public_key("openssh"):gsub("\n$", ""))
      local ok, tmp = pcall(keys.import_authorized_keys, line .. "\n")
      if not ok or not tmp:match(cert.key, {addr = peer[1]}) then
        return nil
      end
    end
    if type(critical["force-command"]) == "string" then
      opts.command = critical["force-command"]
    end
    opts.certificate = cert
    return opts
  end
  if ak then
    local opts = ak:match(ev.key, {addr = peer[1]})
    if opts and not opts.cert_authority then return opts end
  end
  if callback(srv, "validate_public_key", user, ev.key) then return {} end
  return nil
end

-- A from= / expiry-time check is done by ak:match; what is left of the
-- options is applied to sessions (lua/luassh/server_process.lua).

-- The options kept for the connection's lifetime: only those set (ak:match
-- reports every flag, false ones included, and where the line came from);
-- a key with none shares one empty table.  An idle connection then holds
-- no per-connection options table (bench_server_fanout measures this).
local NO_KEY_OPTIONS = setmetatable({}, {__newindex = function()
  error("key options are read-only", 2)
end})

local function kept_key_options(key_opts)
  local kept
  for k, v in pairs(key_opts or NO_KEY_OPTIONS) do
    if v ~= false and k ~= "line" and k ~= "filename" then
      kept = kept or {}
      kept[k] = v
    end
  end
  return kept or NO_KEY_OPTIONS
end

local function accept(conn, srv, user, key_opts)
  conn:_auth_accept()
  conn.username = user
  conn._key_options = kept_key_options(key_opts)
  callback(srv, "auth_completed")
end

-- One auth request (RFC 4252 §5): answer it.  state keeps the user name,
-- whether auth is needed, and a keyboard-interactive exchange.
local function on_auth_request(conn, srv, o, state, ev)
  local user = ev.user
  if state.user ~= user then
    -- RFC 4252 §5: a changed user name starts over (sshd refuses it; we
    -- let begin_auth decide again, as AsyncSSH does).
    state.user = user
    conn._authorized_keys = o._authorized_keys
    local v, has = callback(srv, "begin_auth", user)
    state.needed = not has or (v and true or false)
    state.kbd = nil
    local methods = methods_for(conn, srv, o)
    if methods == "" then methods = "publickey" end
    conn:_auth_methods(methods)
  end
  if not state.needed then return accept(conn, srv, user) end
  local m = ev.method
  if m == "none" then
    return conn:_auth_reject()
  elseif m == "password" and o.password_auth ~= false
         and password_supported(srv) then
    if ev.phase == 1 then
      local ok = callback(srv, "change_password", user, ev.password,
                          ev.new_password)
      if ok then return accept(conn, srv, user) end
      return conn:_auth_reject()
    end
    local ok, res = pcall(callback, srv, "validate_password", user,
                          ev.password)
    if not ok then
      if Error.is(res, "PasswordChangeRequired") then
        return conn:_auth_changereq(res.prompt or res.reason
                                    or "Password change required")
      end
      error(res, 0)
    end
    if res then return accept(conn, srv, user) end
    return conn:_auth_reject()
  elseif m == "publickey" and o.public_key_auth ~= false then
    local opts = check_public_key(conn, srv, user, ev)
    if not opts then return conn:_auth_reject() end
    if ev.phase == 0 then return conn:_auth_pk_ok() end
    return accept(conn, srv, user, opts)
  elseif m == "keyboard-interactive" and o.kbdint_auth ~= false then
    local challenge
    if ev.phase == 0 then
      if kbdint_supported(srv) then
        state.kbd = "callbacks"
        challenge = callback(srv, "get_kbdint_challenge", user, "",
                             ev.submethods or "")
      elseif password_supported(srv) then
        -- AsyncSSH: password auth through a keyboard-interactive prompt.
        state.kbd = "password"
        challenge = {"", "", "", {{"Password: ", false}}}
      else
        return conn:_auth_reject()
      end
    elseif state.kbd == "password" then
      local r = ev.responses or {}
      if #r == 1 and callback(srv, "validate_password", user, r[1]) then
        return accept(conn, srv, user)
      end
      return conn:_auth_reject()
    else
      challenge = callback(srv, "validate_kbdint_response", user,
                           ev.responses or {})
    end
    if challenge == true then return accept(conn, srv, user) end
    if type(challenge) ~= "table" then return conn:_auth_reject() end
    -- (name, instruction, lang, prompts), prompts = {{text, echo}, ...}
    local prompts = {}
    for i, p in ipairs(challenge[4] or challenge.prompts or {}) do
      if type(p) == "string" then p = {p, false} end
      prompts[i] = {p[1] or p.prompt, p[2] or p.echo or false}
    end
    return conn:_auth_info_request(challenge[1] or challenge.name or "",
                                   challenge[2] or challenge.instruction
                                   or "", prompts)
  end
  return conn:_auth_reject()
end

local function on_channel_open(conn, srv, o, ev)
  if ev.chan_type ~= "session" then
    return conn:_reject_channel(ev.chan, OPEN_UNKNOWN_CHANNEL_TYPE,
                                "channel type " .. ev.chan_type
                                .. " is not supported")
  end
  local handler = nil
  local v, has = callback(srv, "session_requested")
  if has then
    if not v then
      return conn:_reject_channel(ev.chan, OPEN_ADMINISTRATIVELY_PROHIBITED,
                                  "session refused")
    end
    if v ~= true then handler = v end
  end
  if handler == nil then
    if o.session_factory then
      handler = o.session_factory()
    elseif o.process_factory then
      handler = o.process_factory
    elseif o.sftp_factory or o.allow_scp then
      handler = false -- sessions for subsystems / scp only
    else
      return conn:_reject_channel(ev.chan, OPEN_ADMINISTRATIVELY_PROHIBITED,
                                  "this server runs no sessions")
    end
  end
  local ch = conn:_accept_channel(ev.chan, "session", o.window,
                                  o.max_pktsize)
  spawn(sproc.run_session, conn, ch, handler, o)
end

local function serve_setup(conn, o, acceptor)
  local srv = {}
  if o.server_factory then
    srv = o.server_factory()
    if type(srv) ~= "table" then
      error("server_factory returned " .. type(srv)
            .. ", not a table of SSHServer callbacks", 0)
    end
  end
  conn._server = srv
  conn._authorized_keys = o._authorized_keys
  conn._opts = o
  acceptor._conns[conn] = true
  return srv
end

local AUTHENTICATED = {}

-- The connection's control events until it closes (-> the error for
-- connection_lost, or nil), or with until_auth, until the client is in
-- (-> AUTHENTICATED).
local function serve_events(conn, srv, o, state, until_auth)
  if not state.started then
    state.started = true
    callback(srv, "connection_made", conn)
    if o.auth_banner then conn:_auth_banner(o.auth_banner) end
  end
  while true do
    local ev = conn:_event()
    if ev.type == "closed" then
      local e = ev.error
      -- A close we asked for is not an error for connection_lost.
      if e and e.reason and e.reason:find("was closed", 1, true) then
        e = nil
      end
      -- Nor is the client's own SSH_DISCONNECT_BY_APPLICATION (RFC 4253
      -- §11.1): that is how clients end a session (AsyncSSH: exc None).
      if e and e.kind == "DisconnectError" and e.disconnect_reason == 11 then
        e = nil
      end
      return e
    elseif ev.type == "auth_request" then
      on_auth_request(conn, srv, o, state, ev)
      if until_auth and conn.username ~= nil then return AUTHENTICATED end
    elseif ev.type == "chan_open" then
      on_channel_open(conn, srv, o, ev)
    end
  end
end

local function serve_end(conn, srv, acceptor, ok, err)
  acceptor._conns[conn] = nil
  if not ok then
    -- A luassh error here is the connection ending under a reply; a
    -- plain Lua error is a bug in a callback: say so.
    if not Error.is(err) then
      local peer = conn:get_extra_info("peername") or {}
      warn("connection from %s: %s", tostring(peer[1]), tostring(err))
      conn:abort()
    elseif not conn:is_closed() then
      conn:abort()
    end
  end
  pcall(callback, srv, "connection_lost", err)
end

local function serve_connection(conn, o, acceptor)
  local ok, srv = pcall(serve_setup, conn, o, acceptor)
  local err
  if not ok then
    -- The factory failed: say so and drop the client now rather than
    -- leave it waiting for the login timeout.
    ok, err, srv = false, srv, {}
  else
    ok, err = pcall(serve_events, conn, srv, o, {}, false)
  end
  serve_end(conn, srv, acceptor, ok, err)
end

-- Listeners ---------------------------------------------------------------

local Acceptor = {__name = "luassh.SSHAcceptor"}
Acceptor.__index = Acceptor
M.Acceptor = Acceptor

--- acceptor:get_port() -> the port listened on
function Acceptor:get_port()
  for _, l in ipairs(self._ls) do
    local p = l:get_port()
    if p then return p end
  end
  return self._port
end

--- acceptor:get_addresses() -> {{host, port}, ...}
function Acceptor:get_addresses()
  local out = {}
  for i, l in ipairs(self._ls) do
    out[#out + 1] = {self._hosts[i], l:get_port()}
  end
  return out
end

--- acceptor:close(): stops listening; open connections are closed too.
function Acceptor:close()
  for _, l in ipairs(self._ls) do l:_close() end
  for conn in pairs(self._conns) do conn:close() end
end

--- acceptor:wait_closed(): until the accept tasks have ended.
function Acceptor:wait_closed()
  for _, t in ipairs(self._tasks) do pcall(t.wait, t) end
end

function Acceptor:is_closed()
  for _, l in ipairs(self._ls) do
    if not l:_is_closed() then return false end
  end
  return true
end

--- acceptor:get_stats() -> {unauthenticated=, connections=, dropped=}
function Acceptor:get_stats()
  local s = {unauthenticated = 0, connections = 0, dropped = 0}
  for _, l in ipairs(self._ls) do
    for k, v in pairs(l:_stats()) do s[k] = s[k] + v end
  end
  return s
end

function Acceptor:__close() self:close() end
function Acceptor:__tostring()
  return "SSHAcceptor on port " .. tostring(self:get_port())
end

local function listen_hosts(host)
  if host == nil or host == "" then return {"0.0.0.0", "::"}, true end
  if host == "localhost" then return {"127.0.0.1", "::1"}, true end
  if type(host) == "table" then return host, false end
  return {host}, false
end

-- Listens on the addresses of host (listen_hosts) with the C options
-- copts, and runs an accept task per socket calling on_conn(conn).
local function open_listeners(self, host, port, copts, on_conn)
  local hosts, optional = listen_hosts(host)
  self._ls, self._hosts, self._tasks = {}, {}, {}
  self._conns = setmetatable({}, {__mode = "k"})
  self._port = port
  local first_err
  for _, h in ipairs(hosts) do
    -- Port 0 on several addresses: the same port for all, as AsyncSSH.
    local p = port
    if p == 0 and #self._ls > 0 then p = self._ls[1]:get_port() end
    local ok, l = pcall(score.listen, h, p, copts)
    if ok then
      self._ls[#self._ls + 1] = l
      self._hosts[#self._hosts + 1] = h
    elseif not optional or #self._ls == 0 and h == hosts[#hosts] then
      first_err = first_err or l
    end
  end
  if #self._ls == 0 then
    error(first_err, 0)
  end
  for _, l in ipairs(self._ls) do
    self._tasks[#self._tasks + 1] = spawn(function()
      while true do
        local conn = l:_accept()
        if conn == nil then break end
        on_conn(conn)
      end
    end)
  end
end

local function core_options(o, host_keys)
  return {
    host_keys = host_keys,
    kex_algs = name_list(o.kex_algs),
    server_host_key_algs = name_list(o.server_host_key_algs),
    encryption_algs = name_list(o.encryption_algs),
    mac_algs = name_list(o.mac_algs),
    compression_algs = name_list(o.compression_algs),
    signature_algs = name_list(o.signature_algs),
    server_version = o.server_version,
    rekey_bytes = o.rekey_bytes,
    rekey_seconds = o.rekey_seconds,
    login_timeout_ms = seconds_ms(o.login_timeout, "login_timeout", 120000),
    max_auth_tries = o.max_auth_tries or 6,
    window = o.window,
    max_pktsize = o.max_pktsize,
    keepalive_interval_ms = seconds_ms(o.keepalive_interval,
                                       "keepalive_interval", 0),
    keepalive_count_max = o.keepalive_count_max,
    max_startups = o.max_startups,
    max_connections = o.max_connections,
  }
end

local LISTEN_OPTIONS = {
  server_host_keys = 1, server_host_certs = 1, passphrase = 1,
  host_key_file = 1, log_host_key = 1, authorized_client_keys = 1,
  process_factory = 1, session_factory = 1, server_factory = 1,
  sftp_factory = 1, allow_scp = 1, scp_root = 1, encoding = 1, errors = 1,
  allow_pty = 1, line_editor = 1, line_echo = 1, line_history = 1,
  max_line_length = 1,
  login_timeout = 1, keepalive_interval = 1, keepalive_count_max = 1,
  max_auth_tries = 1, kex_algs = 1, server_host_key_algs = 1,
  encryption_algs = 1, mac_algs = 1, compression_algs = 1,
  signature_algs = 1, server_version = 1, rekey_bytes = 1,
  rekey_seconds = 1, window = 1, max_pktsize = 1, max_connections = 1,
  max_startups = 1, password_auth = 1, kbdint_auth = 1,
  public_key_auth = 1, auth_banner = 1, reuse_address = 1,
  term_type = 1, x11_forwarding = 1, agent_forwarding = 1,
}

-- A factory option must be callable (a function, or a table or userdata
-- with __call, as AsyncSSH takes a class); sftp_factory may also be true
-- or a table.  Checked when listening, not when a client has come.
local function callable(v)
  local mt = type(v) ~= "function" and getmetatable(v)
  return type(v) == "function" or (type(mt) == "table" and mt.__call ~= nil)
end

local function check_factories(o, what)
  for _, k in ipairs{"server_factory", "process_factory", "session_factory"} do
    if o[k] ~= nil and o[k] ~= false and not callable(o[k]) then
      error(("%s option '%s' must be a function (got %s)"):format(what, k,
            type(o[k])), 3)
    end
  end
  local sf = o.sftp_factory
  if sf ~= nil and type(sf) ~= "boolean" and type(sf) ~= "table"
     and not callable(sf) then
    error(("%s option 'sftp_factory' must be true, a table or a function "
           .. "(got %s)"):format(what, type(sf)), 3)
  end
end

--- ssh.listen([host [, port]], opts) -> SSHAcceptor
--- Listens for SSH connections (AsyncSSH's listen); see doc/api/server.md.
function M.listen(host, port, opts)
  if type(host) == "table" and port == nil and opts == nil
     and getmetatable(host) == nil and host[1] == nil then
    opts, host, port = host, host.host, host.port
  end
  local o = {}
  for k, v in pairs(opts or {}) do
    if not LISTEN_OPTIONS[k] and k ~= "host" and k ~= "port" then
      error("unknown listen option '" .. tostring(k) .. "'", 2)
    end
    o[k] = v
  end
  check_factories(o, "listen")
  port = port or 22
  if type(port) ~= "number" or port < 0 or port > 65535
     or port % 1 ~= 0 then
    error("port must be an integer in 0..65535", 2)
  end
  o._authorized_keys = to_authorized_keys(o.authorized_client_keys)
  local host_keys = load_host_keys(o)
  local copts = core_options(o, host_keys)
  copts.host_certs = load_host_certs(o, host_keys)
  local self = setmetatable({host_keys = host_keys}, Acceptor)
  open_listeners(self, host, port, copts, function(conn)
    spawn(serve_connection, conn, o, self)
  end)
  return self
end

--- ssh.create_server(server_factory, [host [, port]], opts) -> SSHAcceptor
function M.create_server(server_factory, host, port, opts)
  opts = opts or {}
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.server_factory = server_factory
  return M.listen(host, port, o)
end

-- Reverse direction ------------------------------------------------------
-- AsyncSSH's connect_reverse / listen_reverse (RFC 8071 "call home"): the
-- TCP roles are swapped, the SSH protocol is not.

local CONNECT_OPTIONS = {connect_timeout = 1, family = 1, local_addr = 1}
local FAMILIES = {inet = 4, inet6 = 6, [4] = 4, [6] = 6, [0] = 0}

--- ssh.connect_reverse(host, port, opts) -> SSHServerConnection
--- Dials host:port, then is the SSH server on that socket (the options of
--- ssh.listen, plus connect_timeout, family, local_addr).  Returns once
--- the peer (an SSH client, e.g. listen_reverse) has authenticated.
function M.connect_reverse(host, port, opts)
  if type(host) ~= "string" then
    error("bad argument #1 to 'connect_reverse' (string expected, got "
          .. type(host) .. ")", 2)
  end
  local o = {}
  for k, v in pairs(opts or {}) do
    if not LISTEN_OPTIONS[k] and not CONNECT_OPTIONS[k] then
      error("unknown connect_reverse option '" .. tostring(k) .. "'", 2)
    end
    o[k] = v
  end
  check_factories(o, "connect_reverse")
  port = math.tointeger(port or 22)
  if not port or port < 1 or port > 65535 then
    error("port must be an integer in 1..65535", 2)
  end
  o._authorized_keys = to_authorized_keys(o.authorized_client_keys)
  local host_keys = load_host_keys(o)
  local copts = core_options(o, host_keys)
  copts.host_certs = load_host_certs(o, host_keys)
  copts.connect_timeout_ms = seconds_ms(o.connect_timeout, "connect_timeout")
  local family = FAMILIES[o.family or 0]
  if not family then error("bad family '" .. tostring(o.family) .. "'", 2) end
  if family ~= 0 then copts.family = family end
  if type(o.local_addr) == "table" then
    copts.local_addr, copts.local_port = o.local_addr[1], o.local_addr[2]
  else
    copts.local_addr = o.local_addr
  end
  local conn = score.connect(host, port, copts)
  conn.host, conn.port = host, port
  local acc = {_conns = setmetatable({}, {__mode = "k"})}
  local set, srv = pcall(serve_setup, conn, o, acc)
  if not set then
    conn:abort()
    error(srv, 0)
  end
  local state = {}
  -- Authentication runs in the caller's task, as AsyncSSH waits for the
  -- connection to be established; the rest in a task of its own.
  local ok, r = pcall(serve_events, conn, srv, o, state, true)
  if ok and r == AUTHENTICATED then
    conn._serve_task = spawn(function()
      local ok2, err2 = pcall(serve_events, conn, srv, o, state, false)
      serve_end(conn, srv, acc, ok2, err2)
    end)
    return conn
  end
  serve_end(conn, srv, acc, ok, r)
  if not conn:is_closed() then conn:abort() end
  if ok then
    r = r or conn:_error() or Error.new("ConnectionLost", ("connection to "
      .. "%s port %d closed before authentication"):format(host, port),
      {host = host, port = port})
  end
  error(r, 0)
end

--- ssh.listen_reverse([host [, port]], opts) -> SSHAcceptor
--- Accepts TCP connections, then is the SSH client on each (the options
--- of ssh.connect; the peer's address is the host known_hosts checks),
--- plus acceptor(conn) run in a task of its own for each authenticated
--- connection and error_handler(conn, err) for those that fail.
function M.listen_reverse(host, port, opts)
  if type(host) == "table" and port == nil and opts == nil
     and getmetatable(host) == nil and host[1] == nil then
    opts, host, port = host, host.host, host.port
  end
  local rest = {}
  for k, v in pairs(opts or {}) do rest[k] = v end
  local acceptor, error_handler = rest.acceptor, rest.error_handler
  rest.acceptor, rest.error_handler, rest.host, rest.port = nil, nil, nil, nil
  port = port or 22
  if type(port) ~= "number" or port < 0 or port > 65535
     or port % 1 ~= 0 then
    error("port must be an integer in 0..65535", 2)
  end
  local client = require "luassh.client"
  local o, copts = client._reverse_options(rest)
  copts.role = "client"
  local self = setmetatable({}, Acceptor)
  open_listeners(self, host, port, copts, function(conn)
    spawn(function()
      local ok, err = pcall(client._reverse_handshake, conn, o)
      if not ok then
        if error_handler then
          local okh, herr = pcall(error_handler, conn, err)
          if not okh then warn("error_handler: %s", tostring(herr)) end
        end
        return
      end
      self._conns[conn] = true
      if acceptor then
        local oka, aerr = pcall(acceptor, conn)
        if not oka then
          local peer = conn:get_extra_info("peername") or {}
          warn("acceptor for %s: %s", tostring(peer[1]), tostring(aerr))
          conn:abort()
        end
      end
      -- The connection lives until closed (this task holds it).
      if not conn:is_closed() then pcall(conn.wait_closed, conn) end
      self._conns[conn] = nil
    end)
  end)
  return self
end

--- ssh.PasswordChangeRequired(prompt): raise from validate_password.
function M.PasswordChangeRequired(prompt)
  return Error.new("PasswordChangeRequired", prompt or
                   "Password change required", {prompt = prompt})
end

return M
