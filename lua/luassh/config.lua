-- OpenSSH client configuration files (ssh_config(5)), the subset that
-- maps onto ssh.connect options, as AsyncSSH reads ~/.ssh/config by
-- default.  Options given to connect() win over the file; in the file
-- the first value found for a keyword wins (IdentityFile, CertificateFile,
-- SendEnv and SetEnv accumulate).
--
-- Supported: Host (patterns, '!' negation), Match all / host / user /
-- localuser / originalhost, Include; Hostname, Port, User, IdentityFile,
-- CertificateFile, UserKnownHostsFile, GlobalKnownHostsFile, HostKeyAlias,
-- ConnectTimeout, PreferredAuthentications, PasswordAuthentication,
-- KbdInteractiveAuthentication, PubkeyAuthentication, Ciphers, MACs,
-- KexAlgorithms, HostKeyAlgorithms, Compression, SendEnv, SetEnv,
-- RequestTTY, RekeyLimit, ServerAliveInterval, ServerAliveCountMax.
-- Tokens: %h %p %r %u %d %%.  Other keywords are ignored.
local Error = require "luassh.error"

local M = {}

local function expand_home(path)
  if path == "~" or path:sub(1, 2) == "~/" then
    local home = os.getenv("HOME")
    if home then return home .. path:sub(2) end
  end
  return path
end

-- Splits arguments, honouring double quotes.
local function split_args(s)
  local args, pos = {}, 1
  while pos <= #s do
    local c = s:sub(pos, pos)
    if c:match("%s") then
      pos = pos + 1
    elseif c == '"' then
      local e = s:find('"', pos + 1, true)
      if not e then return nil, "unbalanced quote" end
      args[#args + 1] = s:sub(pos + 1, e - 1)
      pos = e + 1
    else
      local e = s:find("[%s\"]", pos) or #s + 1
      args[#args + 1] = s:sub(pos, e - 1)
      pos = e
    end
  end
  return args
end

local function glob_to_pattern(glob)
  return "^" .. glob:gsub("[%^%$%(%)%%%.%[%]%+%-]", "%%%0"):gsub("%*", ".*")
    :gsub("%?", ".") .. "$"
end

-- ssh_config PATTERNS: a pattern-list matches when some pattern matches
-- and no negated one does.
local function match_list(list, value)
  local matched = false
  value = value:lower()
  for _, pat in ipairs(list) do
    for item in pat:gmatch("[^,]+") do
      local neg = item:sub(1, 1) == "!"
      if neg then item = item:sub(2) end
      if value:find(glob_to_pattern(item:lower())) then
        if neg then return false end
        matched = true
      end
    end
  end
  return matched
end

local ACCUMULATE = {identityfile = true, certificatefile = true,
                    sendenv = true, setenv = true}

--- parse(text, ctx, into [, filename]) applies the lines that match ctx
--- (host, user, local_user) to `into` (lower-case keyword -> args).
local function parse(text, ctx, into, filename, depth)
  local active = true
  local lineno = 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    lineno = lineno + 1
    line = line:gsub("\r$", ""):gsub("^%s+", "")
    if line ~= "" and line:sub(1, 1) ~= "#" then
      local kw, rest = line:match("^([%w]+)%s*=?%s*(.*)$")
      if not kw then
        Error.raise("ConfigError", ("%s line %d: cannot parse '%s'"):format(
          filename or "config", lineno, line))
      end
      kw = kw:lower()
      local args, perr = split_args(rest)
      if not args then
        Error.raise("ConfigError", ("%s line %d: %s"):format(
          filename or "config", lineno, perr))
      end
      if kw == "host" then
        active = match_list(args, ctx.host)
      elseif kw == "match" then
        active = true
        local i = 1
        while i <= #args do
          local crit = args[i]:lower()
          if crit == "all" then
            i = i + 1
          elseif crit == "host" or crit == "originalhost" or crit == "user"
                 or crit == "localuser" then
            local v = ({host = ctx.host, originalhost = ctx.host,
                        user = ctx.user or "", localuser = ctx.local_user or ""})[crit]
            active = active and match_list({args[i + 1] or ""}, v)
            i = i + 2
          else
            active = false -- exec, canonical, final...: not supported
            i = i + 2
          end
        end
      elseif active and kw == "include" and (depth or 0) < 8 then
        for _, pat in ipairs(args) do
          local path = expand_home(pat)
          if path:sub(1, 1) ~= "/" then
            path = expand_home("~/.ssh/" .. path)
          end
          local f = io.open(path, "r")
          if f then
            local data = f:read("a")
            f:close()
            parse(data, ctx, into, path, (depth or 0) + 1)
          end
        end
      elseif active then
        if ACCUMULATE[kw] then
          local list = into[kw] or {}
          for _, a in ipairs(args) do list[#list + 1] = a end
          into[kw] = list
        elseif into[kw] == nil then
          into[kw] = args
        end
      end
    end
  end
end

local function tokens(s, t)
  return (s:gsub("%%(.)", function(c)
    if c == "%" then return "%" end
    local v = t[c]
    if v == nil then
      Error.raise("ConfigError", "unknown token %" .. c .. " in '" .. s .. "'")
    end
    return tostring(v)
  end))
end

local function yes(v) return v and v:lower() == "yes" end

--- M.load(paths, host, user, local_user) -> options table (only the
--- options the files set)
function M.load(paths, host, user, local_user)
  local into = {}
  local ctx = {host = host, user = user, local_user = local_user}
  for _, path in ipairs(paths) do
    local p = expand_home(path)
    local f = io.open(p, "r")
    if f then
      local data = f:read("a")
      f:close()
      parse(data, ctx, into, p)
    end
  end
  local o = {}
  local function first(kw) return into[kw] and into[kw][1] end
  local hostname = first("hostname")
  if hostname then o.host = tokens(hostname, {h = host}) end
  local port = first("port")
  if port then o.port = tonumber(port) end
  local u = first("user")
  if u then o.username = u end
  local t = {h = o.host or host, p = o.port or 22, r = o.username or user or
             local_user, u = local_user, d = os.getenv("HOME") or "~"}
  if into.identityfile then
    o.client_keys = {}
    for _, p in ipairs(into.identityfile) do
      if p:lower() ~= "none" then
        o.client_keys[#o.client_keys + 1] = expand_home(tokens(p, t))
      end
    end
  end
  if into.certificatefile then
    o.client_certs = {}
    for _, p in ipairs(into.certificatefile) do
      o.client_certs[#o.client_certs + 1] = expand_home(tokens(p, t))
    end
  end
  local kh = {}
  for _, kw in ipairs {"userknownhostsfile", "globalknownhostsfile"} do
    for _, p in ipairs(into[kw] or {}) do
      if p:lower() ~= "none" then kh[#kh + 1] = expand_home(tokens(p, t)) end
    end
  end
  if into.userknownhostsfile or into.globalknownhostsfile then
    o.known_hosts = kh
  end
  o.host_key_alias = first("hostkeyalias")
  local ct = first("connecttimeout")
  if ct then o.connect_timeout = tonumber(ct) end
  local pa = first("preferredauthentications")
  if pa then o.preferred_auth = pa end
  if first("passwordauthentication") then
    o.password_auth = yes(first("passwordauthentication"))
  end
  if first("kbdinteractiveauthentication") then
    o.kbdint_auth = yes(first("kbdinteractiveauthentication"))
  end
  if first("pubkeyauthentication") then
    o.public_key_auth = yes(first("pubkeyauthentication"))
  end
  o.encryption_algs = first("ciphers")
  o.mac_algs = first("macs")
  o.kex_algs = first("kexalgorithms")
  o.server_host_key_algs = first("hostkeyalgorithms")
  if first("compression") then
    o.compression_algs = yes(first("compression"))
      and "zlib@openssh.com,zlib,none" or "none"
  end
  if into.sendenv then o.send_env = into.sendenv end
  if into.setenv then
    o.env = {}
    for _, kv in ipairs(into.setenv) do
      local k, v = kv:match("^([^=]+)=(.*)$")
      if k then o.env[k] = v end
    end
  end
  local rt = first("requesttty")
  if rt then
    rt = rt:lower()
    o.request_pty = rt == "force" and "force" or rt == "yes" or
      (rt == "auto" and "auto") or false
  end
  local rl = into.rekeylimit
  if rl then
    if rl[1] and rl[1]:lower() ~= "default" then o.rekey_bytes = rl[1] end
    if rl[2] and rl[2]:lower() ~= "none" then o.rekey_seconds = rl[2] end
  end
  local ai = first("serveraliveinterval")
  if ai then o.keepalive_interval = tonumber(ai) end
  local ac = first("serveralivecountmax")
  if ac then o.keepalive_count_max = tonumber(ac) end
  return o
end

return M
