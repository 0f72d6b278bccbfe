-- The SSH client: ssh.connect and the SSHClientConnection methods
-- (AsyncSSH's connection.py client half, doc/api/client.md).
--
-- The C object (luassh.clientcore, src/lua_bindings/l_client.c) runs the
-- protocol; the decisions are made here, in the task that called
-- ssh.connect: whether the host key is trusted (known_hosts), which
-- authentication method and credential to try next, what to answer to
-- keyboard-interactive prompts.  Callbacks given in the options run in
-- that task and may wait.
local core = require "luassh.core"
local ccore = require "luassh.clientcore"
local Error = require "luassh.error"
local keys = require "luassh.keys"
local config = require "luassh.config"
local agentmod = require "luassh.agent"
local process = require "luassh.process"

local M = {}

local conn_methods = ccore.conn_methods

-- RFC 4253 §11.1
local DISC_BY_APPLICATION = 11
local DISC_NO_MORE_AUTH_METHODS = 14

local DEFAULT_AUTH = {"none", "publickey", "keyboard-interactive", "password"}

local function raise(kind, reason, fields)
  error(Error.new(kind, reason, fields), 0)
end

local function name_list(v, what)
  if v == nil then return nil end
  if type(v) == "table" then
    v = table.concat(v, ",")
  elseif type(v) ~= "string" then
    error(what .. " must be a string or a list of names", 4)
  end
  -- RFC 4251 §5 name-list: non-empty names, no blanks.
  if not v:match("^[^,%s]+$") and not v:match("^[^,%s]+,[^%s]*[^,%s]$") or
     v:find(",,", 1, true) then
    error(("%s: not a list of algorithm names: '%s'"):format(what, v), 4)
  end
  return v
end

local function list_of(v)
  if v == nil then return {} end
  if type(v) == "string" then
    local out = {}
    for item in v:gmatch("[^,%s]+") do out[#out + 1] = item end
    return out
  end
  return v
end

local SIZE_UNITS = {[""] = 1, k = 1024, m = 1024 ^ 2, g = 1024 ^ 3}

local function parse_size(v, what)
  if v == nil or type(v) == "number" then return v end
  local num, unit = tostring(v):lower():match("^(%d+%.?%d*)([kmg]?)$")
  if not num then error("bad " .. what .. " '" .. tostring(v) .. "'", 4) end
  return math.floor(tonumber(num) * SIZE_UNITS[unit])
end

local function seconds(v, what)
  if v == nil then return nil end
  local ok, s = pcall(keys.parse_time_interval, v)
  if not ok or type(s) ~= "number" or s < 0 then
    error("bad " .. what .. " '" .. tostring(v) .. "'", 4)
  end
  return s
end

-- Options --------------------------------------------------------------

local CONN_KEYS = {
  "username", "password", "client_keys", "client_certs", "passphrase",
  "known_hosts", "preferred_auth", "password_auth", "public_key_auth",
  "kbdint_auth", "kbdint_handler", "password_change", "auth_banner",
  "ignore_encrypted", "env", "send_env", "term_type", "term_size",
  "term_modes", "request_pty", "window", "max_pktsize", "client",
  "client_factory", "encoding", "errors", "host_key_alias",
}

local FAMILIES = {inet = 4, inet6 = 6, [4] = 4, [6] = 6, [0] = 0}

local function ms(v, what)
  local s = seconds(v, what)
  return s and math.floor(s * 1000 + 0.5) or nil
end

-- What the C side needs to start.  Only the options set become fields
-- (assigning nil adds none): a constructor naming them all would size its
-- table for every one (issue 6, memory per connection).
local function core_options(o)
  local rekey_seconds = seconds(o.rekey_seconds, "rekey_seconds")
  local t = {}
  t.kex_algs = name_list(o.kex_algs, "kex_algs")
  t.server_host_key_algs = name_list(o.server_host_key_algs,
                                     "server_host_key_algs")
  t.encryption_algs = name_list(o.encryption_algs, "encryption_algs")
  t.mac_algs = name_list(o.mac_algs, "mac_algs")
  t.compression_algs = o.compression_algs == false and "none"
    or name_list(o.compression_algs, "compression_algs")
  t.client_version = o.client_version
  t.signature_algs = name_list(o.signature_algs, "signature_algs")
  t.rekey_bytes = parse_size(o.rekey_bytes, "rekey_bytes")
  t.rekey_seconds = rekey_seconds and math.floor(rekey_seconds) or nil
  t.login_timeout_ms = ms(o.login_timeout, "login_timeout")
  t.connect_timeout_ms = ms(o.connect_timeout, "connect_timeout")
  t.window, t.max_pktsize = o.window, o.max_pktsize
  t.keepalive_interval_ms = ms(o.keepalive_interval, "keepalive_interval")
  local family = FAMILIES[o.family or 0]
    or error("bad family '" .. tostring(o.family) .. "' (4, 6, 'inet' or 'inet6')", 4)
  if family ~= 0 then t.family = family end
  if type(o.local_addr) == "table" then
    t.local_addr, t.local_port = o.local_addr[1], o.local_addr[2]
  else
    t.local_addr = o.local_addr
  end
  t.keepalive_count_max = o.keepalive_count_max
  return t
end

local function default_username()
  return ccore.local_user() or os.getenv("USER") or os.getenv("LOGNAME")
    or "root"
end

-- Host keys ------------------------------------------------------------

local warned_no_check = false

local function hostkey_error(host, port, key, reason, fields)
  fields = fields or {}
  fields.host, fields.port = host, port
  fields.key_type = key:get_algorithm()
  fields.fingerprint = key:get_fingerprint()
  return Error.new("HostKeyNotVerifiable", reason, fields)
end

local function describe_sources(kh)
  if kh == nil then return "~/.ssh/known_hosts" end
  if type(kh) == "string" and not kh:find("\n", 1, true) then return kh end
  if type(kh) == "table" and not getmetatable(kh) then
    return table.concat(kh, ", ")
  end
  return "the known_hosts given"
end

-- -> true | false, error object
local function check_host_key(ev, host, port, addr, o, lookup_port)
  local kh = o.known_hosts
  local key, cert = ev.key, ev.cert
  local shown = ("%s key %s"):format(key:get_algorithm(), key:get_fingerprint())
  local lookup = o.host_key_alias or host
  if kh == false then
    if not warned_no_check and o.known_hosts_warning ~= false then
      warned_no_check = true
      io.stderr:write(("luassh: warning: host key checking is disabled "
        .. "(known_hosts = false); accepting %s for %s port %d without "
        .. "verification\n"):format(shown, host, port))
    end
    return true
  end
  if type(kh) == "function" then
    local ok, why = kh(lookup, addr, port, key, cert)
    if ok then return true end
    return false, hostkey_error(host, port, key, ("host key for %s port %d "
      .. "(%s) rejected by the known_hosts function%s"):format(host, port,
      shown, why and (": " .. tostring(why)) or ""))
  end
  local store = o._kh_store
  local subject = key
  if cert then
    -- A host certificate counts only when it is valid for this host;
    -- otherwise its plain key may still be trusted.
    local ok = pcall(cert.validate, cert, "host", lookup)
    if ok then subject = cert end
  end
  local verdict, file, line = store:check(lookup, addr, lookup_port or port,
                                          subject)
  if verdict == "ok" or verdict == "ok_ca" then return true end
  local where = file and ("%s line %d"):format(file, line) or nil
  local msg
  if verdict == "revoked" then
    msg = ("host key for %s port %d (%s) is revoked (@revoked in %s)")
      :format(host, port, shown, where)
  elseif verdict == "changed" then
    msg = ("host key for %s port %d has CHANGED: the server sent %s, "
      .. "which differs from the key in %s; someone may be intercepting "
      .. "the connection, or the host key was replaced"):format(
      host, port, shown, where)
  elseif verdict == "other_types" then
    msg = ("host key for %s port %d (%s) is not trusted: %s holds only "
      .. "keys of other types for this host"):format(host, port, shown,
      where)
  else
    msg = ("host key for %s port %d (%s) is unknown: no entry for %s in "
      .. "%s"):format(host, port, shown,
      port == 22 and lookup or ("[" .. lookup .. "]:" .. port),
      describe_sources(kh))
  end
  return false, hostkey_error(host, port, key, msg, {
    filename = file, line = line, verdict = verdict})
end

-- Like ssh(1): ask first for the host key types known_hosts can check
-- ("^": ahead of the defaults): host certificates when a @cert-authority
-- applies to the host, then the types of the keys it trusts, so that a
-- server with several host keys shows one we can verify.
local CERT_HOSTKEY_ALGS = {
  "ssh-ed25519-cert-v01@openssh.com", "ecdsa-sha2-nistp256-cert-v01@openssh.com",
  "ecdsa-sha2-nistp384-cert-v01@openssh.com",
  "ecdsa-sha2-nistp521-cert-v01@openssh.com",
  "rsa-sha2-512-cert-v01@openssh.com", "rsa-sha2-256-cert-v01@openssh.com",
}

local function preferred_host_key_algs(o, host, port)
  local store = o._kh_store
  if store == nil or o.server_host_key_algs ~= nil then return nil end
  local trusted, cas = store:match(o.host_key_alias or host, nil, port)
  if #trusted == 0 and #cas == 0 then return nil end
  local algs, seen = {}, {}
  local function add(a)
    if not seen[a] then
      seen[a] = true
      algs[#algs + 1] = a
    end
  end
  if #cas > 0 then
    for _, a in ipairs(CERT_HOSTKEY_ALGS) do add(a) end
  end
  for _, k in ipairs(trusted) do
    for _, a in ipairs(k:get_sig_algorithms()) do add(a) end
  end
  return "^" .. table.concat(algs, ",")
end

-- Authentication -------------------------------------------------------

-- The keys to offer: with the default client_keys, those of the
-- ssh-agent (agent_path, default $SSH_AUTH_SOCK) first, then the default
-- key files; else the keys given.  -> list, agent (to close) | nil
local function prepare_keypairs(o)
  if o.public_key_auth == false or o.client_keys == false then return {} end
  if o.client_keys == nil and o.client_certs == nil then
    local result, agent = {}, nil
    local path = o.agent_path
    if path == nil then path = os.getenv("SSH_AUTH_SOCK") end
    if path and path ~= "" and o.agent_path ~= false then
      local ok, a = pcall(agentmod.connect_agent, path)
      if ok then
        local ok2, akeys = pcall(a.get_keys, a)
        if ok2 then
          agent = a
          for _, kp in ipairs(akeys) do result[#result + 1] = kp end
        else
          a:close()
        end
      end
    end
    local ok, files = pcall(keys.load_keypairs, nil, o.passphrase, nil,
                            {ignore_encrypted = true})
    for _, kp in ipairs(ok and files or {}) do result[#result + 1] = kp end
    return result, agent
  end
  return keys.load_keypairs(o.client_keys, o.passphrase, o.client_certs,
                            {ignore_encrypted = o.ignore_encrypted})
end

local function enabled_methods(o, have)
  local wanted = o.preferred_auth and list_of(o.preferred_auth) or DEFAULT_AUTH
  local set = {}
  for _, m in ipairs(wanted) do
    if m == "publickey" and have.publickey then set[m] = true
    elseif m == "password" and have.password then set[m] = true
    elseif m == "keyboard-interactive" and have.kbdint then set[m] = true
    elseif m == "none" then set[m] = true end
  end
  return set
end

local function resolve_password(o, conn)
  local pw = o.password
  if type(pw) == "function" then pw = pw(conn) end
  return pw
end

-- Answers kbd-int prompts; nil means "cannot".
local function kbdint_answers(ev, o, state)
  local handler = o.kbdint_handler or
    (type(o.kbdint_auth) == "function" and o.kbdint_auth) or
    (o.client and o.client.kbdint_challenge_received and
     function(...) return o.client:kbdint_challenge_received(...) end)
  if handler then
    -- AsyncSSH's kbdint_challenge_received(name, instructions, lang,
    -- prompts): each prompt is {prompt, echo} (also .prompt / .echo).
    local prompts = {}
    for i, p in ipairs(ev.prompts) do
      prompts[i] = {p.prompt, p.echo, prompt = p.prompt, echo = p.echo}
    end
    return handler(ev.name, ev.instruction, "", prompts)
  end
  local n = #ev.prompts
  if n == 0 then return {} end
  if n == 1 and not ev.prompts[1].echo and state.password ~= nil and
     not state.kbd_password_used then
    state.kbd_password_used = true
    return {state.password}
  end
  return nil
end

local function permission_denied(host, port, user, tried, server_methods,
                                 why)
  local names = {}
  for _, t in ipairs(tried) do
    names[#names + 1] = t.count > 1 and ("%s (%d tries)"):format(t.method,
                                                                 t.count)
      or t.method
  end
  return Error.new("PermissionDenied", ("permission denied for user '%s' on "
    .. "%s port %d: %s (tried: %s; the server accepts: %s)"):format(
    user, host, port, why or "no authentication method succeeded",
    #names > 0 and table.concat(names, ", ") or "nothing",
    server_methods ~= "" and server_methods or "none"), {
    host = host, port = port, username = user, methods_tried = tried,
    server_methods = server_methods})
end

local authenticate_with

-- The task waits at the bottom of this call chain for the whole
-- handshake: tail calls and no pcall when there is no agent to close keep
-- its stack short (issue 6, memory per connection).
local function authenticate(conn, host, port, user, o)
  local keypairs, agent = prepare_keypairs(o)
  if not agent then
    return authenticate_with(conn, host, port, user, o, keypairs)
  end
  local ok, err = pcall(authenticate_with, conn, host, port, user, o,
                        keypairs)
  if agent then agent:close() end
  if not ok then error(err, 0) end
end

-- Who tried what, for the error message.
local function note(st, method)
  local t = st.tried_idx[method]
  if not t then
    t = {method = method, count = 0}
    st.tried_idx[method] = t
    st.tried[#st.tried + 1] = t
  end
  t.count = t.count + 1
end

-- Starts the next request among the methods that can continue, in the
-- server's order; false when nothing is left.  (Plain functions over the
-- state table rather than closures: fewer objects per connection while
-- it authenticates.)
local function next_request(conn, o, st, can)
  local enabled = st.enabled
  for _, m in ipairs(can) do
    if enabled[m] then
      if m == "publickey" then
        while st.key_i < #st.keypairs do
          st.key_i = st.key_i + 1
          local kp = st.keypairs[st.key_i]
          if kp.agent then
            -- Agent keys: ask first (RFC 4252 §7), sign on PK_OK.
            if conn:_auth_publickey_query(kp.blob) then
              st.pending = kp
              note(st, m)
              return true
            end
          elseif conn:_auth_publickey(kp.key, kp.cert) then
            note(st, m)
            return true
          end
        end
      elseif m == "password" and not st.password_tried then
        st.password_tried = true
        local pw = resolve_password(o, conn)
        if pw ~= nil then
          st.password = pw
          conn:_auth_password(pw)
          note(st, m)
          return true
        end
      elseif m == "keyboard-interactive" and not st.kbdint_tried then
        st.kbdint_tried = true
        local pw_opt = o.password
        if st.password == nil and pw_opt ~= nil and
           type(pw_opt) ~= "function" then
          st.password = pw_opt
        end
        conn:_auth_kbdint("")
        note(st, m)
        return true
      end
    end
  end
  return false
end

local function give_up(conn, host, port, user, st, why)
  conn:disconnect(DISC_NO_MORE_AUTH_METHODS, "no more authentication methods")
  error(permission_denied(host, port, user, st.tried, st.server_methods, why),
        0)
end

function authenticate_with(conn, host, port, user, o, keypairs)
  local state = {
    keypairs = keypairs, key_i = 0,
    password = nil, password_tried = false, kbdint_tried = false,
    tried = {}, tried_idx = {}, server_methods = "",
  }
  local pw_opt = o.password
  local has_kbd = o.kbdint_auth ~= false and (o.kbdint_handler ~= nil or
    type(o.kbdint_auth) == "function" or pw_opt ~= nil or
    (o.client and o.client.kbdint_challenge_received ~= nil))
  state.enabled = enabled_methods(o, {
    publickey = #state.keypairs > 0,
    password = pw_opt ~= nil and o.password_auth ~= false,
    kbdint = has_kbd,
  })
  local can = {}

  conn:_auth_start(user)
  while true do
    local ev = conn:_event()
    if ev.type == "closed" then
      local err = ev.error
      local r = err.disconnect_reason
      if err.kind == "PermissionDenied" or
         (#state.tried > 0 and (r == 2 or r == 13 or r == 14)) then
        err = permission_denied(host, port, user, state.tried,
                                state.server_methods,
                                err.reason)
      end
      error(err, 0)
    elseif ev.type == "banner" then
      conn.auth_banner = ev.text
      if o.auth_banner then o.auth_banner(ev.text)
      elseif o.client and o.client.auth_banner_received then
        o.client:auth_banner_received(ev.text, "")
      end
    elseif ev.type == "auth_result" then
      if ev.ok then return end
      if o._probe == "auth" then -- get_server_auth_methods: "none" told
        conn._probed_methods = list_of(ev.methods)
        return
      end
      state.server_methods = ev.methods
      can = list_of(ev.methods)
      if not next_request(conn, o, state, can) then
        give_up(conn, host, port, user, state)
      end
    elseif ev.type == "auth_prompt" then
      if ev.method == "keyboard-interactive" then
        local answers = kbdint_answers(ev, o, state)
        if answers then
          conn:_auth_responses(answers)
        elseif not next_request(conn, o, state, can) then
          give_up(conn, host, port, user, state,
                  "cannot answer the keyboard-interactive prompts")
        end
      else
        -- The server wants a new password (RFC 4252 §8).
        local pc = o.password_change or (o.client and
          o.client.password_change_requested and function(prompt)
            return o.client:password_change_requested(prompt, "")
          end)
        local old, new
        if type(pc) == "function" then
          old, new = pc(ev.instruction)
          if new == nil then old, new = state.password, old end
        elseif type(pc) == "string" then
          old, new = state.password, pc
        end
        if old ~= nil and new ~= nil then
          state.password = new
          conn:_auth_password_change(old, new)
          note(state, "password")
        elseif not next_request(conn, o, state, can) then
          give_up(conn, host, port, user, state,
                  "the server requires a password change (give "
                  .. "password_change)")
        end
      end
    elseif ev.type == "auth_sign" then
      local kp = state.pending
      local oks, sig = false, nil
      if kp then oks, sig = pcall(kp.sign, kp, ev.data, ev.sigalg) end
      if oks then
        conn:_auth_signature(sig)
      elseif not next_request(conn, o, state, can) then
        give_up(conn, host, port, user, state,
                "the ssh-agent did not sign")
      end
    end
  end
end

-- Connecting -----------------------------------------------------------

-- check: how the host key is judged against known_hosts (check_host_key,
-- or listen_reverse's check_reverse_host_key).
local function handshake(conn, host, port, o, check)
  check = check or check_host_key
  -- Host key first.
  while true do
    local ev = conn:_event()
    if ev.type == "closed" then error(ev.error, 0) end
    if ev.type == "hostkey" then
      -- The socket is up: the client table hears of the connection.
      if o.client and o.client.connection_made then
        o.client:connection_made(conn)
      end
      conn._server_host_key = ev.key
      if o._probe == "hostkey" then return end -- get_server_host_key
      local addr = conn:_peer_addr()
      local client = o.client
      local ok, err
      if client and client.validate_host_public_key and o.known_hosts == nil
      then
        ok = client:validate_host_public_key(host, addr, port, ev.key)
        if not ok then
          err = hostkey_error(host, port, ev.key, ("host key for %s port %d "
            .. "(%s key %s) rejected by validate_host_public_key"):format(
            host, port, ev.key:get_algorithm(), ev.key:get_fingerprint()))
        end
      else
        ok, err = check(ev, host, port, addr, o)
      end
      if not ok then
        pcall(conn._hostkey_verdict, conn, false, err.reason)
        conn:abort()
        error(err, 0)
      end
      conn:_hostkey_verdict(true)
      break
    end
  end
  return authenticate(conn, host, port, o.username, o)
end

local function merge(base, extra)
  local out = {}
  for k, v in pairs(base or {}) do out[k] = v end
  for k, v in pairs(extra or {}) do out[k] = v end
  return out
end

-- The end of a login, ssh.connect's or listen_reverse's: a failure
-- aborts the connection and raises; success calls the client table's
-- auth_completed and watches for connection_lost.
local function finish_login(conn, o, ok, err)
  if not ok then
    conn:abort()
    error(err, 0)
  end
  if o.client then
    if o.client.auth_completed then o.client:auth_completed() end
    if o.client.connection_lost then
      local client = o.client
      conn._watcher = core.spawn(function()
        conn:wait_closed()
        client:connection_lost(conn:_error())
      end)
    end
  end
  return conn
end

--- connect(host [, port] [, opts]) -> SSHClientConnection
function M.connect(host, port, opts)
  if type(port) == "table" then port, opts = nil, port end
  opts = opts or {}
  if type(host) ~= "string" then
    error("bad argument #1 to 'connect' (string expected, got "
          .. type(host) .. ")", 2)
  end
  local o = merge(opts.options, opts)
  -- OpenSSH client configuration: the options given win over it.
  local paths = o.config
  if paths == nil then
    paths = {"~/.ssh/config"}
  elseif paths == false then
    paths = {}
  elseif type(paths) == "string" then
    paths = {paths}
  end
  local local_user = default_username()
  -- (No files, nothing to read: skip the work, config = false being the
  -- usual choice of a program making many connections.)
  local from_file = #paths > 0 and
    config.load(paths, host, o.username, local_user) or {}
  if from_file.host then host = from_file.host end
  from_file.host = nil
  for k, v in pairs(from_file) do
    if o[k] == nil then o[k] = v end
  end
  o.port = port or o.port or 22
  o.username = o.username or local_user
  if o.client_factory and not o.client then o.client = o.client_factory() end
  port = math.tointeger(o.port)
  if not port or port < 1 or port > 65535 then
    error("bad port " .. tostring(o.port), 2)
  end
  local kh = o.known_hosts
  if kh ~= false and type(kh) ~= "function" then
    o._kh_store = keys.known_hosts_of(kh == nil and "~/.ssh/known_hosts" or kh)
  end
  local copts = core_options(o)
  copts.server_host_key_algs = copts.server_host_key_algs or
    preferred_host_key_algs(o, host, port)
  local conn = ccore.connect(host, port, copts)
  copts = nil -- not kept alive on this stack while the handshake runs
  conn.host, conn.port, conn.username = host, port, o.username
  local defaults = {}
  for _, k in ipairs(CONN_KEYS) do defaults[k] = o[k] end
  conn._opts = defaults
  local ok, err
  local timeout = seconds(o.connect_timeout, "connect_timeout")
  if timeout then
    ok, err = pcall(core.timeout, timeout, handshake, conn, host, port, o)
    if not ok and Error.is(err, "Timeout") then
      err = Error.new("Timeout", ("connection to %s port %d timed out after "
        .. "%s seconds"):format(host, port, tostring(timeout)),
        {host = host, port = port, seconds = timeout})
    end
  else
    ok, err = pcall(handshake, conn, host, port, o)
  end
  return finish_login(conn, o, ok, err)
end

-- Probes: AsyncSSH's get_server_host_key and get_server_auth_methods.  A
-- connection with connect's options that stops after the key exchange,
-- or after the server has answered the "none" request, with no host key
-- check (what a key scan is for) and no credentials offered.

local function accept_any_host_key() return true end

local function probe(kind, host, port, opts, username)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.known_hosts, o.host_key_alias = accept_any_host_key, nil
  o.client_keys, o.agent_path, o.password = {}, false, nil
  o.kbdint_auth, o.preferred_auth, o.client, o.client_factory =
    false, nil, nil, nil
  o.config = o.config == nil and false or o.config
  if username ~= nil then o.username = username end
  o._probe = kind
  local conn = M.connect(host, port, o)
  local r
  if kind == "hostkey" then
    r = conn._server_host_key
  else
    r = conn._probed_methods or {} -- "none" itself was accepted
  end
  conn:abort()
  return r
end

--- get_server_host_key(host [, port] [, opts]) -> SSHKey: the server's
--- host key as the key exchange gave it (ssh-keyscan); nothing checked.
function M.get_server_host_key(host, port, opts)
  if type(port) == "table" then port, opts = nil, port end
  return probe("hostkey", host, port, opts)
end

--- get_server_auth_methods(host [, port] [, username] [, opts]) -> list
--- of the methods the server offers after "none" ({} if "none" was
--- enough).  The host key is not checked and no credential is sent.
function M.get_server_auth_methods(host, port, username, opts)
  if type(port) == "table" then port, username, opts = nil, nil, port
  elseif type(username) == "table" then username, opts = nil, username end
  return probe("auth", host, port, opts, username)
end

-- Reverse direction (AsyncSSH's listen_reverse, in lua/luassh/server.lua):
-- the client half runs on sockets a listener accepted.

--- _reverse_options(opts) -> o, core options: connect's client options,
--- prepared once for every connection of a listen_reverse listener.
function M._reverse_options(opts)
  local o = merge(opts.options, opts)
  o.username = o.username or default_username()
  local kh = o.known_hosts
  if kh ~= false and type(kh) ~= "function" then
    o._kh_store = keys.known_hosts_of(kh == nil and "~/.ssh/known_hosts" or kh)
  end
  local copts = core_options(o)
  -- The listener's cores: the client's version string is ours here.
  copts.server_version, copts.client_version = copts.client_version, nil
  copts.connect_timeout_ms, copts.family = nil, nil
  copts.local_addr, copts.local_port = nil, nil
  return o, copts
end

-- The known_hosts check of an accepted connection: the peer's address is
-- the host (AsyncSSH's _connection_made), and since its port is a
-- dialling port, plain entries for the address count as well as
-- "[addr]:port" ones.
local function check_reverse_host_key(ev, host, port, addr, o)
  local ok, err = check_host_key(ev, host, port, addr, o)
  if ok or err.verdict ~= "unknown" then return ok, err end
  local ok22, err22 = check_host_key(ev, host, port, addr, o, 22)
  if ok22 or err22.verdict ~= "unknown" then return ok22, err22 end
  return false, err
end

--- _reverse_handshake(conn, o): host key check and authentication on a
--- connection accepted by listen_reverse; raises what connect raises.
function M._reverse_handshake(conn, o)
  local peer = conn:get_extra_info("peername") or {}
  local host, port = peer[1] or "?", peer[2] or 0
  if o.client_factory then
    local per = {}
    for k, v in pairs(o) do per[k] = v end
    per.client = o.client_factory()
    o = per
  end
  conn.host, conn.port, conn.username = host, port, o.username
  local defaults = {}
  for _, k in ipairs(CONN_KEYS) do defaults[k] = o[k] end
  conn._opts = defaults
  local function run()
    return handshake(conn, host, port, o, check_reverse_host_key)
  end
  local timeout = seconds(o.login_timeout, "login_timeout")
  local ok, err
  if timeout then
    ok, err = pcall(core.timeout, timeout, run)
  else
    ok, err = pcall(run)
  end
  return finish_login(conn, o, ok, err)
end

--- create_connection(client, host [, port] [, opts]) -> conn, client
function M.create_connection(client, host, port, opts)
  if type(port) == "table" then port, opts = nil, port end
  opts = merge(opts, {})
  if type(client) == "function" then client = client() end
  opts.client = client
  return M.connect(host, port, opts), client
end

-- SSHClientConnection methods -------------------------------------------

--- conn:get_extra_info(name [, default])
function conn_methods:get_extra_info(name, default)
  local info = self:_info()
  info.username = self.username
  info.auth_banner = self.auth_banner
  info.connection = self
  local v = info[name]
  if v == nil then return default end
  return v
end

function conn_methods:get_server_host_key()
  return self._server_host_key
end

-- Session options: the call's, then the connection's defaults.
local function session_opts(conn, opts)
  return merge(conn._opts, opts)
end

local function env_requests(ch, o)
  local env = {}
  if o.send_env then
    local local_env = ccore.environ()
    for _, pat in ipairs(list_of(o.send_env)) do
      local lpat = "^" .. pat:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0")
        :gsub("%*", ".*"):gsub("%?", ".") .. "$"
      for name, value in pairs(local_env) do
        if name:find(lpat) then env[name] = value end
      end
    end
  end
  if type(o.env) == "table" then
    for name, value in pairs(o.env) do
      if type(name) == "number" then
        -- A list of "NAME=value" strings.
        local n, v = tostring(value):match("^([^=]+)=(.*)$")
        if n then env[n] = v end
      else
        env[tostring(name)] = tostring(value)
      end
    end
  end
  local names = {}
  for name in pairs(env) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    ch:_request("env", false, ccore.encode_env(name, env[name]))
  end
  return env
end

local function wants_pty(o)
  local rp = o.request_pty
  if rp == "force" then return true end
  if rp == false then return false end
  return o.term_type ~= nil or o.term_size ~= nil
end

--- Opens a session channel and starts command / subsystem / shell in it.
local function open_session(conn, command, o)
  local ch = conn:_open_channel("session", nil, o.window, o.max_pktsize)
  ch:_wait_open()
  local env = env_requests(ch, o)
  local pty_id
  if wants_pty(o) then
    local size = o.term_size or {80, 24}
    pty_id = ch:_request("pty-req", true, ccore.encode_pty(
      o.term_type or "xterm", size[1] or 80, size[2] or 24, size[3] or 0,
      size[4] or 0, o.term_modes))
  end
  local id
  if o.subsystem then
    id = ch:_request("subsystem", true, ccore.encode_string(o.subsystem))
  elseif command ~= nil then
    id = ch:_request("exec", true, ccore.encode_string(command))
  else
    id = ch:_request("shell", true)
  end
  local function fail(what)
    ch:close()
    raise("ChannelOpenError", ("%s port %d refused the %s"):format(
      conn.host, conn.port, what), {code = 0, host = conn.host,
      port = conn.port, command = command})
  end
  if pty_id and not ch:_request_result(pty_id) then
    fail("pseudo-terminal request")
  end
  if not ch:_request_result(id) then
    fail(o.subsystem and ("subsystem '" .. o.subsystem .. "'") or
         command and ("command '" .. command .. "'") or "shell request")
  end
  return ch, env
end

local function split_command(command, opts)
  if type(command) == "table" and opts == nil then
    return command.command, command
  end
  return command, opts or {}
end

--- conn:create_process([command] [, opts]) -> SSHClientProcess
function conn_methods:create_process(command, opts)
  command, opts = split_command(command, opts)
  local o = session_opts(self, opts)
  local ch, env = open_session(self, command, o)
  local proc = process.new(self, ch, {command = command,
                                      subsystem = o.subsystem, env = env})
  if o.input ~= nil then
    ch:write(o.input)
    ch:write_eof()
  end
  proc:redirect{stdin = o.stdin, stdout = o.stdout, stderr = o.stderr}
  return proc
end

--- conn:run([command] [, opts]) -> SSHCompletedProcess
--- opts: check, timeout, input, stdin, stdout, stderr, env, send_env,
--- term_type, term_size, term_modes, request_pty, subsystem.
function conn_methods:run(command, opts)
  command, opts = split_command(command, opts)
  local proc = self:create_process(command, opts)
  local ok, res = pcall(proc.wait, proc, {check = opts.check,
                                          timeout = opts.timeout})
  if not ok then
    proc:close()
    error(res, 0)
  end
  return res
end

--- conn:create_session(session, [command] [, opts]) -> channel, session
--- session: a table of callbacks (connection_made, session_started,
--- data_received(data, datatype), eof_received, exit_status_received,
--- exit_signal_received, connection_lost) or a function returning one.
function conn_methods:create_session(session, command, opts)
  command, opts = split_command(command, opts)
  if type(session) == "function" then session = session() end
  local o = session_opts(self, opts)
  local ch = open_session(self, command, o)
  local sc = process.run_session(ch, session)
  return sc, session
end

--- conn:open_session([command] [, opts]) -> stdin, stdout, stderr
function conn_methods:open_session(command, opts)
  local proc = self:create_process(command, opts)
  return proc.stdin, proc.stdout, proc.stderr
end

-- Direct TCP/IP connections (RFC 4254 §7.2): the server connects to
-- host:port and relays the channel's bytes.  opts: orig_host ("") and
-- orig_port (0), the originator the server is told of; window,
-- max_pktsize.  A refusal raises ChannelOpenError naming the destination,
-- with the server's reason code (`code`: 1 prohibited, 2 connect failed,
-- 3 unknown type, 4 resource shortage).
local function open_direct(conn, host, port, opts, what)
  if type(host) ~= "string" then
    error(what .. ": the remote host must be a string", 3)
  end
  local p = math.tointeger(port)
  if p == nil or p < 0 or p > 65535 then
    error(what .. ": bad remote port " .. tostring(port), 3)
  end
  opts = opts or {}
  local oport = math.tointeger(opts.orig_port or 0)
  if oport == nil or oport < 0 or oport > 65535 then
    error(what .. ": bad orig_port " .. tostring(opts.orig_port), 3)
  end
  local data = string.pack(">s4I4s4I4", host, p, opts.orig_host or "", oport)
  local ch = conn:_open_channel("direct-tcpip", data, opts.window, opts.max_pktsize)
  local ok, err = pcall(ch._wait_open, ch)
  if not ok then
    if Error.is(err, "ChannelOpenError") then
      local why = err.server_text ~= "" and err.server_text or "no reason given"
      raise("ChannelOpenError", ("%s port %d cannot connect to %s port %d: %s")
        :format(conn.host, conn.port, host, p, why),
        {code = err.code, host = conn.host, port = conn.port,
         remote_host = host, remote_port = p})
    end
    error(err, 0)
  end
  return ch
end

--- conn:open_connection(remote_host, remote_port [, opts]) -> reader, writer
-- AsyncSSH's open_connection: an SSHReader and an SSHWriter over a
-- direct-tcpip channel (bytes both ways; write_eof half-closes).
function conn_methods:open_connection(host, port, opts)
  local ch = open_direct(self, host, port, opts, "open_connection")
  return process.new_reader(nil, ch, 0), process.new_writer(nil, ch)
end

--- conn:create_connection(session, remote_host, remote_port [, opts])
--- -> channel, session
-- AsyncSSH's create_connection: the callback style of open_connection.
-- session (or a function returning it) gets connection_made(chan),
-- data_received(data, datatype), eof_received(), connection_lost(err),
-- as for create_session.
function conn_methods:create_connection(session, host, port, opts)
  if type(session) == "function" then session = session() end
  local ch = open_direct(self, host, port, opts, "create_connection")
  return process.run_session(ch, session), session
end

--- conn:start_sftp_client([opts]) -> SFTPClient (lua/luassh/sftp.lua)
function conn_methods:start_sftp_client(opts)
  return require("luassh.sftp").start(self, opts)
end

M.PIPE, M.DEVNULL, M.STDOUT = process.PIPE, process.DEVNULL, process.STDOUT
M.EXTENDED_DATA_STDERR = process.EXTENDED_DATA_STDERR

return M
