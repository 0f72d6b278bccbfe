-- Keys, certificates and trust files: the pure-Lua half of AsyncSSH's
-- public_key.py / known_hosts.py / auth_keys.py / sshsig.py surface
-- (doc/api/keys.md).  The C half is the luassh.keycore module
-- (src/lua_bindings/l_key*.c): key and certificate objects, the formats,
-- the thread-pool jobs.  Here: files and paths, the list forms,
-- load_keypairs, key pairs, certificate options and time values.
local core = require "luassh.keycore"
local Error = require "luassh.error"

local M = {}

local key_methods = core.key_methods
local cert_methods = core.cert_methods

local ENOENT, ENOTDIR = 2, 20
local MODE_PRIVATE, MODE_PUBLIC = 384, 420 -- 0600, 0644

local function raise(kind, reason, fields)
  error(Error.new(kind, reason, fields), 0)
end

local function class_of(v)
  if type(v) ~= "userdata" and type(v) ~= "table" then return nil end
  local mt = getmetatable(v)
  return type(mt) == "table" and mt.__name or nil
end

local function is_key(v) return class_of(v) == "luassh.SSHKey" end
local function is_cert(v) return class_of(v) == "luassh.SSHCertificate" end
local function is_keypair(v) return class_of(v) == "luassh.SSHKeyPair" end
local function is_kh(v) return class_of(v) == "luassh.SSHKnownHosts" end
local function is_ak(v) return class_of(v) == "luassh.SSHAuthorizedKeys" end
local function is_as(v) return class_of(v) == "luassh.SSHAllowedSigners" end
M.is_key, M.is_cert, M.is_keypair = is_key, is_cert, is_keypair

-- Files ---------------------------------------------------------------

--- expand_path(path) -> path with a leading "~" replaced by $HOME
function M.expand_path(path)
  if type(path) ~= "string" then
    error("bad path (string expected, got " .. type(path) .. ")", 3)
  end
  if path == "~" or path:sub(1, 2) == "~/" then
    local home = os.getenv("HOME")
    if home then path = home .. path:sub(2) end
  end
  return path
end
local expand = M.expand_path

-- read_file(path) -> data | nil, message, errno
local function read_file(path)
  local p = expand(path)
  local f, msg, errno = io.open(p, "rb")
  if not f then return nil, msg, errno end
  local data, rerr, rerrno = f:read("a")
  f:close()
  if not data then return nil, p .. ": " .. tostring(rerr), rerrno end
  return data
end
M.read_file = read_file

local function must_read(path)
  local data, msg, errno = read_file(path)
  if not data then
    raise("KeyImportError", msg, {filename = path, errno = errno})
  end
  return data
end

local function write_file(path, data, mode, append)
  return core.write_file(expand(path), data, mode, append)
end

-- A string given where a key, certificate or file is expected is data
-- when it holds a newline or starts like a PEM block or a one-line key;
-- otherwise it is a file name.
local function looks_like_data(s)
  return s:find("\n", 1, true) ~= nil or s:find("^%-%-%-%-%-BEGIN") ~= nil
    or s:find("^[%w@.-]+ AAAA") ~= nil or s:find("^openssh%-key%-v1\0") ~= nil
end

local function to_list(v)
  if type(v) == "table" and not class_of(v) then return v end
  return {v}
end

local function resolve_passphrase(passphrase, path)
  if type(passphrase) == "function" then return passphrase(path) end
  return passphrase
end

-- Time values (AsyncSSH "Specifying time values / intervals") ----------

local UNITS = {[""] = 1, s = 1, m = 60, h = 3600, d = 86400, w = 604800}

--- parse_time_interval(v) -> seconds: a number, or a string such as
--- "1w2d3h", "+52w", "-1d", "90" (seconds), "1.5h".
function M.parse_time_interval(v)
  if type(v) == "number" then return v end
  if type(v) ~= "string" or v == "" then
    raise("ValueError", "invalid time interval " .. tostring(v))
  end
  local s, total, pos = v:lower(), 0, 1
  while pos <= #s do
    local num, unit, nxt = s:match("^([+-]?%d+%.?%d*)([smhdw]?)()", pos)
    if not num then
      raise("ValueError", "invalid time interval '" .. v .. "'")
    end
    total = total + tonumber(num) * UNITS[unit]
    pos = nxt
  end
  return total
end

-- Seconds since the epoch of a UTC civil time (days_from_civil).
local function utc_epoch(y, m, d, H, M, S)
  y = m <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  local days = era * 146097 + doe - 719468
  return days * 86400 + H * 3600 + M * 60 + S
end

local function absolute_time(v)
  local digits, z = v:match("^(%d+)([Zz]?)$")
  if not digits or (#digits ~= 8 and #digits ~= 12 and #digits ~= 14) then
    return nil
  end
  local y, mo, d = tonumber(digits:sub(1, 4)), tonumber(digits:sub(5, 6)),
    tonumber(digits:sub(7, 8))
  local H = tonumber(digits:sub(9, 10)) or 0
  local Mi = tonumber(digits:sub(11, 12)) or 0
  local S = tonumber(digits:sub(13, 14)) or 0
  if mo < 1 or mo > 12 or d < 1 or d > 31 or H > 23 or Mi > 59 or S > 59 then
    raise("ValueError", "invalid date and time '" .. v .. "'")
  end
  if z ~= "" then return utc_epoch(y, mo, d, H, Mi, S) end
  return os.time{year = y, month = mo, day = d, hour = H, min = Mi, sec = S}
end

--- parse_time(v [, now]) -> seconds since the epoch.  v: a number (Unix
--- time; math.huge means "forever"), "now", "YYYYMMDD[HHMM[SS]][Z]"
--- (local time, or UTC with Z), or an interval relative to now ("+52w",
--- "-1d", "1h30m").
function M.parse_time(v, now)
  now = now or os.time()
  if type(v) == "number" then
    if v == math.huge then return v end
    if v ~= v then raise("ValueError", "invalid time value (NaN)") end
    return math.floor(v)
  end
  if type(v) ~= "string" then
    raise("ValueError", "invalid time value " .. tostring(v))
  end
  if v == "now" then return now end
  local t = absolute_time(v)
  if t then return t end
  return math.floor(now + M.parse_time_interval(v))
end

-- Generation and import ------------------------------------------------

--- generate_private_key(alg [, comment] [, {comment=, key_size=, exponent=}])
function M.generate_private_key(alg, comment, opts)
  if type(comment) == "table" then comment, opts = nil, comment end
  opts = opts or {}
  comment = comment or opts.comment
  if type(alg) ~= "string" then
    error("bad argument #1 to 'generate_private_key' (string expected, got "
          .. type(alg) .. ")", 2)
  end
  if opts.exponent ~= nil and opts.exponent ~= 65537 then
    raise("KeyGenerationError", "only the RSA public exponent 65537 is "
          .. "supported (got " .. tostring(opts.exponent) .. ")")
  end
  local bits = 0
  if alg == "ssh-rsa" and opts.key_size ~= nil then
    bits = math.tointeger(opts.key_size)
    if not bits then
      raise("KeyGenerationError", "key_size must be an integer")
    end
  end
  local key = core.generate(alg, bits)
  if comment ~= nil then key:set_comment(comment) end
  return key
end

--- import_private_key(data [, passphrase]) -> SSHKey
function M.import_private_key(data, passphrase)
  return core.import_private(data, resolve_passphrase(passphrase, nil))
end

--- read_private_key(path [, passphrase]) -> SSHKey
function M.read_private_key(path, passphrase)
  local data = must_read(path)
  return core.import_private(data, resolve_passphrase(passphrase, path), path)
end

-- The PEM blocks of a file, each ending with a newline.
local function pem_blocks(data)
  local blocks, pos = {}, 1
  while true do
    local s, e, label = data:find("%-%-%-%-%-BEGIN ([^\r\n]-)%-%-%-%-%-", pos)
    if not s then break end
    local s2, e2 = data:find("-----END " .. label .. "-----", e + 1, true)
    if not s2 then
      blocks[#blocks + 1] = data:sub(s) -- the importer says what is wrong
      break
    end
    blocks[#blocks + 1] = data:sub(s, e2) .. "\n"
    pos = e2 + 1
  end
  return blocks
end

local function import_private_list(data, passphrase, path)
  local blocks = pem_blocks(data)
  if #blocks == 0 then blocks = {data} end
  local keys = {}
  for i, block in ipairs(blocks) do
    keys[i] = core.import_private(block, passphrase, path)
  end
  return keys
end

--- import_private_key_list(data [, passphrase]) -> {SSHKey...}
function M.import_private_key_list(data, passphrase)
  return import_private_list(data, resolve_passphrase(passphrase, nil), nil)
end

--- read_private_key_list(path [, passphrase]) -> {SSHKey...}
function M.read_private_key_list(path, passphrase)
  local data = must_read(path)
  return import_private_list(data, resolve_passphrase(passphrase, path), path)
end

--- import_public_key(data) -> SSHKey
function M.import_public_key(data)
  return core.import_public(data)
end

--- read_public_key(path) -> SSHKey
function M.read_public_key(path)
  return core.import_public(must_read(path), path)
end

--- import_public_key_list(data) -> {SSHKey...}
function M.import_public_key_list(data)
  return core.import_public_list(data)
end

--- read_public_key_list(path) -> {SSHKey...}
function M.read_public_key_list(path)
  return core.import_public_list(must_read(path), path)
end

--- import_certificate(data) -> SSHCertificate
function M.import_certificate(data)
  return core.import_certificate(data)
end

--- read_certificate(path) -> SSHCertificate
function M.read_certificate(path)
  return core.import_certificate(must_read(path), path)
end

--- import_certificate_list(data) -> {SSHCertificate...}
function M.import_certificate_list(data)
  return core.import_certificate_list(data)
end

--- read_certificate_list(path) -> {SSHCertificate...}
function M.read_certificate_list(path)
  return core.import_certificate_list(must_read(path), path)
end

-- Key pairs ------------------------------------------------------------

local KeyPair = {__name = "luassh.SSHKeyPair"}
KeyPair.__index = KeyPair

--- new_keypair(key [, cert [, comment]]) -> SSHKeyPair
function M.new_keypair(key, cert, comment)
  if not is_key(key) then
    error("bad argument #1 to 'new_keypair' (SSHKey expected)", 2)
  end
  local kp = setmetatable({key = key, _comment = comment}, KeyPair)
  if cert ~= nil then kp:set_certificate(cert) end
  return kp
end

function KeyPair:get_key_type() return "local" end

function KeyPair:get_algorithm()
  if self.cert then return self.cert:get_algorithm() end
  return self.key:get_algorithm()
end

function KeyPair:get_comment()
  if self._comment ~= nil then return self._comment or nil end
  return (self.cert and self.cert:get_comment()) or self.key:get_comment()
end

function KeyPair:set_comment(comment)
  self._comment = comment or false
end

function KeyPair:set_certificate(cert)
  if cert == nil then self.cert = nil return end
  if not is_cert(cert) then
    error("bad argument #1 to 'set_certificate' (SSHCertificate expected)", 2)
  end
  if cert.key ~= self.key then
    raise("ValueError", "certificate key mismatch: the certificate is for "
          .. tostring(cert.key) .. ", not " .. tostring(self.key))
  end
  self.cert = cert
end

function KeyPair:public_data()
  if self.cert then return self.cert:public_data() end
  return self.key:public_data()
end

function KeyPair:get_fingerprint(hash) return self.key:get_fingerprint(hash) end
function KeyPair:get_sig_algorithms() return self.key:get_sig_algorithms() end
function KeyPair:sign(data, sigalg) return self.key:sign(data, sigalg) end

function KeyPair:__tostring()
  return "SSHKeyPair " .. self:get_algorithm() .. " "
    .. self.key:get_fingerprint()
end

M.KeyPair = KeyPair

local function load_cert_ref(ref)
  if is_cert(ref) then return {ref} end
  if type(ref) ~= "string" then
    raise("ValueError", "a certificate must be an SSHCertificate, a file "
          .. "name or certificate data, not " .. type(ref))
  end
  if looks_like_data(ref) then return core.import_certificate_list(ref) end
  return M.read_certificate_list(ref)
end

--- load_certificates(certlist) -> {SSHCertificate...}
function M.load_certificates(certlist)
  local result = {}
  if certlist == nil then return result end
  for _, ref in ipairs(to_list(certlist)) do
    for _, c in ipairs(load_cert_ref(ref)) do result[#result + 1] = c end
  end
  return result
end

--- load_public_keys(keylist) -> {SSHKey...}
function M.load_public_keys(keylist)
  local result = {}
  if keylist == nil then return result end
  for _, ref in ipairs(to_list(keylist)) do
    if is_key(ref) then
      result[#result + 1] = ref
    elseif is_keypair(ref) then
      result[#result + 1] = ref.key
    elseif type(ref) == "string" then
      local keys = looks_like_data(ref) and core.import_public_list(ref)
        or M.read_public_key_list(ref)
      for _, k in ipairs(keys) do result[#result + 1] = k end
    else
      raise("ValueError", "a public key must be an SSHKey, a file name or "
            .. "key data, not " .. type(ref))
    end
  end
  return result
end

local DEFAULT_KEYS = {"id_ed25519", "id_ecdsa", "id_rsa"}

--- load_keypairs(keylist [, passphrase [, certlist [, {ignore_encrypted=}]]])
--- -> {SSHKeyPair...}
function M.load_keypairs(keylist, passphrase, certlist, opts)
  opts = opts or {}
  local result = {}
  local certs = M.load_certificates(certlist)
  local defaults = keylist == nil
  -- Default keys that need a passphrase nobody gave are skipped.
  local ignore_encrypted = opts.ignore_encrypted
  if ignore_encrypted == nil then
    ignore_encrypted = defaults and passphrase == nil
  end

  local function add(key, cert, extra_certs)
    if not key:has_private() then
      raise("KeyImportError", "a key pair needs a private key; "
            .. tostring(key) .. " is a public key")
    end
    if cert == nil then
      for _, list in ipairs{extra_certs or {}, certs} do
        for _, c in ipairs(list) do
          if c.key == key then cert = c break end
        end
        if cert then break end
      end
    end
    result[#result + 1] = M.new_keypair(key, cert)
  end

  local function add_data(data, cert, path)
    local ok, keys = pcall(import_private_list, data,
                           resolve_passphrase(passphrase, path), path)
    if not ok then
      if ignore_encrypted and Error.is(keys, "KeyEncryptionError")
         and keys.code_name == "NEEDPASSPHRASE" then
        return
      end
      error(keys, 0)
    end
    local extra
    if cert == nil and path ~= nil then
      local cdata = read_file(path .. "-cert.pub")
      if cdata then extra = core.import_certificate_list(cdata,
                                                          path .. "-cert.pub") end
    end
    for _, k in ipairs(keys) do add(k, cert, extra) end
  end

  local function add_ref(ref, cert)
    if cert ~= nil and not is_cert(cert) then cert = load_cert_ref(cert)[1] end
    if is_key(ref) then
      add(ref, cert)
    elseif is_keypair(ref) then
      add(ref.key, cert or ref.cert)
    elseif type(ref) == "string" and looks_like_data(ref) then
      add_data(ref, cert, nil)
    elseif type(ref) == "string" then
      local data, msg, errno = read_file(ref)
      if not data then
        if defaults and (errno == ENOENT or errno == ENOTDIR) then return end
        raise("KeyImportError", msg, {filename = ref, errno = errno})
      end
      add_data(data, cert, ref)
    else
      raise("ValueError", "a private key must be an SSHKey, a key pair, a "
            .. "file name or key data, not " .. type(ref))
    end
  end

  if defaults then
    local home = os.getenv("HOME") or "."
    for _, name in ipairs(DEFAULT_KEYS) do
      add_ref(home .. "/.ssh/" .. name)
    end
    return result
  end
  -- A lone {key, cert} pair is one entry, not a list of two.
  if type(keylist) == "table" and not class_of(keylist) and #keylist == 2
     and is_cert(keylist[2]) and type(keylist[1]) ~= "table" then
    keylist = {keylist}
  end
  for _, ref in ipairs(to_list(keylist)) do
    if type(ref) == "table" and not class_of(ref) then
      add_ref(ref[1], ref[2]) -- a {key, cert} pair
    else
      add_ref(ref)
    end
  end
  return result
end

-- Key methods written in Lua -------------------------------------------

function key_methods.write_private_key(self, path, format, passphrase, opts)
  write_file(path, self:export_private_key(format, passphrase, opts),
             MODE_PRIVATE, false)
end

function key_methods.append_private_key(self, path, format, passphrase, opts)
  write_file(path, self:export_private_key(format, passphrase, opts),
             MODE_PRIVATE, true)
end

function key_methods.write_public_key(self, path, format)
  write_file(path, self:export_public_key(format), MODE_PUBLIC, false)
end

function key_methods.append_public_key(self, path, format)
  write_file(path, self:export_public_key(format), MODE_PUBLIC, true)
end

function cert_methods.write_certificate(self, path, format)
  write_file(path, self:export_certificate(format), MODE_PUBLIC, false)
end

function cert_methods.append_certificate(self, path, format)
  write_file(path, self:export_certificate(format), MODE_PUBLIC, true)
end

-- Certificates ---------------------------------------------------------

local function name_list(v, what)
  if v == nil then return {} end
  local out = {}
  if type(v) == "string" then
    for item in v:gmatch("[^,]+") do
      item = item:match("^%s*(.-)%s*$")
      if item ~= "" then out[#out + 1] = item end
    end
    return out
  end
  if type(v) ~= "table" then
    raise("ValueError", what .. " must be a list or a comma-separated string")
  end
  for i, item in ipairs(v) do
    if type(item) ~= "string" then
      raise("ValueError", what .. " entry " .. i .. " is not a string")
    end
    out[i] = item
  end
  return out
end

local function cert_times(opts, now)
  local after = M.parse_time(opts.valid_after or 0, now)
  local before = opts.valid_before
  if before == nil then
    before = math.huge
  else
    before = M.parse_time(before, now)
  end
  after = math.max(0, after)
  before = math.max(0, before)
  if before ~= math.huge and before <= after then
    raise("ValueError", "valid_before must be later than valid_after")
  end
  return after, before
end

local function subject_comment(subject, opts)
  if opts.comment ~= nil then return opts.comment or nil end
  if is_key(subject) or is_keypair(subject) then return subject:get_comment() end
end

local function check_serial(serial)
  if serial == nil then return 0 end
  if math.type(serial) ~= "integer" or serial < 0 then
    raise("ValueError", "serial must be a non-negative integer")
  end
  return serial
end

--- ca:generate_user_certificate(user_key, key_id, opts) -> SSHCertificate
function key_methods.generate_user_certificate(self, user_key, key_id, opts)
  opts = opts or {}
  local after, before = cert_times(opts, os.time())
  local ext = {}
  local function permit(name, flag)
    if flag == nil or flag then ext[#ext + 1] = {name} end
  end
  permit("permit-X11-forwarding", opts.permit_x11_forwarding)
  permit("permit-agent-forwarding", opts.permit_agent_forwarding)
  permit("permit-port-forwarding", opts.permit_port_forwarding)
  permit("permit-pty", opts.permit_pty)
  permit("permit-user-rc", opts.permit_user_rc)
  if opts.touch_required == false then ext[#ext + 1] = {"no-touch-required"} end
  local crit = {}
  if opts.force_command ~= nil then
    crit[#crit + 1] = {"force-command", tostring(opts.force_command)}
  end
  if opts.source_address ~= nil then
    local addrs = name_list(opts.source_address, "source_address")
    crit[#crit + 1] = {"source-address", table.concat(addrs, ",")}
  end
  return self:_certify(user_key, {
    type = 1, key_id = key_id or "", serial = check_serial(opts.serial),
    principals = name_list(opts.principals, "principals"),
    valid_after = after, valid_before = before,
    critical = crit, extensions = ext, sig_alg = opts.sig_alg,
    comment = subject_comment(user_key, opts),
  })
end

--- ca:generate_host_certificate(host_key, key_id, opts) -> SSHCertificate
function key_methods.generate_host_certificate(self, host_key, key_id, opts)
  opts = opts or {}
  local after, before = cert_times(opts, os.time())
  return self:_certify(host_key, {
    type = 2, key_id = key_id or "", serial = check_serial(opts.serial),
    principals = name_list(opts.principals, "principals"),
    valid_after = after, valid_before = before,
    critical = {}, extensions = {}, sig_alg = opts.sig_alg,
    comment = subject_comment(host_key, opts),
  })
end

-- Trust files ----------------------------------------------------------

--- import_known_hosts(data) -> SSHKnownHosts
function M.import_known_hosts(data)
  return core.known_hosts_new():load(data)
end

--- read_known_hosts(path_or_list) -> SSHKnownHosts (missing files skipped)
function M.read_known_hosts(filelist)
  local kh = core.known_hosts_new()
  for _, path in ipairs(to_list(filelist)) do
    local data, msg, errno = read_file(path)
    if data then
      kh:load(data, path)
    elseif errno ~= ENOENT and errno ~= ENOTDIR then
      raise("KeyImportError", msg, {filename = path, errno = errno})
    end
  end
  return kh
end

local function known_hosts_of(known_hosts)
  if is_kh(known_hosts) then return known_hosts end
  if type(known_hosts) == "string" and looks_like_data(known_hosts) then
    return M.import_known_hosts(known_hosts)
  end
  return M.read_known_hosts(known_hosts)
end
M.known_hosts_of = known_hosts_of

--- match_known_hosts(known_hosts, host [, addr [, port]])
--- -> host_keys, ca_keys, revoked_keys
function M.match_known_hosts(known_hosts, host, addr, port)
  return known_hosts_of(known_hosts):match(host, addr, port)
end

--- format_known_hosts_entry(host, port, key [, {hashed=}]) -> line
function M.format_known_hosts_entry(host, port, key, opts)
  return core.format_known_hosts_entry(host, port or 22, key,
                                       opts ~= nil and opts.hashed)
end

--- import_authorized_keys(data) -> SSHAuthorizedKeys
function M.import_authorized_keys(data)
  return core.authorized_keys_new():load(data)
end

--- read_authorized_keys(path_or_list) -> SSHAuthorizedKeys
function M.read_authorized_keys(filelist)
  local ak = core.authorized_keys_new()
  for _, path in ipairs(to_list(filelist)) do
    ak:load(must_read(path), path)
  end
  return ak
end

--- import_allowed_signers(data) -> SSHAllowedSigners
function M.import_allowed_signers(data)
  return core.allowed_signers_new():load(data)
end

--- read_allowed_signers(path_or_list) -> SSHAllowedSigners
function M.read_allowed_signers(filelist)
  local as = core.allowed_signers_new()
  for _, path in ipairs(to_list(filelist)) do
    as:load(must_read(path), path)
  end
  return as
end

--- create_sshsig(key, data, namespace [, {hash_name=, is_hashed=, raw=,
--- sig_alg=}]) -> armored signature
function M.create_sshsig(key, data, namespace, opts)
  return core.create_sshsig(key, data, namespace, opts)
end

--- validate_sshsig(data, sig, namespace [, {is_hashed=, allowed_signers=,
--- principal=, now=}]) -> signer's SSHKey
function M.validate_sshsig(data, sig, namespace, opts)
  opts = opts or {}
  local key = core.verify_sshsig(data, sig, namespace, opts)
  local as = opts.allowed_signers
  if as == nil then return key end
  if not is_as(as) then
    as = (type(as) == "string" and looks_like_data(as))
      and M.import_allowed_signers(as) or M.read_allowed_signers(as)
  end
  if opts.principal ~= nil then
    if not as:check(opts.principal, key, namespace, opts.now) then
      raise("ValueError", "the signing key " .. key:get_fingerprint()
            .. " is not allowed to sign for '" .. opts.principal
            .. "' in namespace '" .. namespace .. "'")
    end
  elseif #as:find_principals(key, namespace, opts.now) == 0 then
    raise("ValueError", "the signing key " .. key:get_fingerprint()
          .. " is not in the allowed signers")
  end
  return key
end

M.is_known_hosts, M.is_authorized_keys, M.is_allowed_signers =
  is_kh, is_ak, is_as

-- What init.lua puts on the `ssh` table.
M.API = {
  "generate_private_key", "import_private_key", "read_private_key",
  "read_private_key_list", "import_public_key", "read_public_key",
  "read_public_key_list", "import_certificate", "read_certificate",
  "read_certificate_list", "load_keypairs", "load_public_keys",
  "load_certificates", "import_known_hosts", "read_known_hosts",
  "match_known_hosts", "format_known_hosts_entry", "import_authorized_keys",
  "read_authorized_keys", "import_allowed_signers", "read_allowed_signers",
  "create_sshsig", "validate_sshsig",
}

return M
