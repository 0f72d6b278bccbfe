-- The ssh-agent client (AsyncSSH's agent.py; RFC 9987, doc/api/client.md).
-- The codec and the socket are C (luassh.agentcore, src/ssh/connection/
-- agent.c, src/lua_bindings/l_agent.c); here: the objects and the key
-- lists.
local acore = require "luassh.agentcore"
local Error = require "luassh.error"
local keys = require "luassh.keys"

local M = {}

local methods = acore.agent_methods

local function refused(what, code)
  Error.raise("ValueError", "the ssh-agent " .. what
              .. (code and code ~= "REFUSED" and (" (" .. code .. ")") or ""))
end

-- Agent key pairs -------------------------------------------------------

local AgentKeyPair = {__name = "luassh.SSHAgentKeyPair"}
AgentKeyPair.__index = AgentKeyPair
M.AgentKeyPair = AgentKeyPair

function AgentKeyPair:get_key_type() return "agent" end
function AgentKeyPair:get_algorithm()
  return (self.cert or self.key):get_algorithm()
end
function AgentKeyPair:get_comment() return self.comment end
function AgentKeyPair:public_data() return self.blob end
function AgentKeyPair:get_fingerprint(hash) return self.key:get_fingerprint(hash) end
function AgentKeyPair:get_sig_algorithms() return self.key:get_sig_algorithms() end

--- kp:sign(data [, sigalg]) -> signature blob made by the agent
function AgentKeyPair:sign(data, sigalg)
  return self.agent:sign(self.blob, data, acore.sign_flags(sigalg))
end

function AgentKeyPair:__tostring()
  return "SSHAgentKeyPair " .. self:get_algorithm() .. " "
    .. self.key:get_fingerprint() .. " (" .. tostring(self.comment) .. ")"
end

-- SSHAgentClient methods ------------------------------------------------

--- agent:get_keys() -> {SSHAgentKeyPair...}
function methods:get_keys()
  local list, code = acore.parse_identities(self:_call(acore.req_identities()))
  if not list then refused("did not list its keys", code) end
  local out = {}
  for _, id in ipairs(list) do
    local obj = acore.key_from_blob(id.blob, id.comment)
    if obj then -- keys of types we do not know are skipped
      local is_cert = getmetatable(obj).__name == "luassh.SSHCertificate"
      out[#out + 1] = setmetatable({
        agent = self, blob = id.blob, comment = id.comment,
        key = is_cert and obj.key or obj, cert = is_cert and obj or nil,
      }, AgentKeyPair)
    end
  end
  return out
end

local function blob_of(k)
  if type(k) == "string" then return k end
  return k:public_data()
end

--- agent:sign(key_or_blob, data [, flags]) -> signature blob
function methods:sign(key, data, flags)
  local sig, code = acore.parse_sign(self:_call(acore.req_sign(blob_of(key), data, flags or 0)))
  if not sig then refused("refused to sign with the key", code) end
  return sig
end

--- agent:add_keys(keylist [, {passphrase=, lifetime=, confirm=}])
--- keylist: anything ssh.load_keypairs takes (paths, keys, pairs).
function methods:add_keys(keylist, opts)
  opts = opts or {}
  local pairs_ = keys.load_keypairs(keylist, opts.passphrase)
  for _, kp in ipairs(pairs_) do
    local ok, code = acore.parse_status(self:_call(acore.req_add(
      kp.key, kp:get_comment() or "", opts.lifetime, opts.confirm)))
    if not ok then refused("did not add " .. tostring(kp.key), code) end
  end
end

--- agent:remove_keys(keylist): keys, agent key pairs or blobs
function methods:remove_keys(keylist)
  if type(keylist) ~= "table" or getmetatable(keylist) then keylist = {keylist} end
  for _, k in ipairs(keylist) do
    local ok, code = acore.parse_status(self:_call(acore.req_remove(blob_of(k))))
    if not ok then refused("did not remove a key", code) end
  end
end

function methods:remove_all()
  local ok, code = acore.parse_status(self:_call(acore.req_remove_all()))
  if not ok then refused("did not remove its keys", code) end
end

function methods:lock(passphrase)
  local ok, code = acore.parse_status(self:_call(acore.req_lock(true, passphrase)))
  if not ok then refused("did not lock", code) end
end

function methods:unlock(passphrase)
  local ok, code = acore.parse_status(self:_call(acore.req_lock(false, passphrase)))
  if not ok then refused("did not unlock (wrong passphrase?)", code) end
end

function methods:wait_closed() end

--- connect_agent([path]) -> SSHAgentClient (path default: $SSH_AUTH_SOCK)
function M.connect_agent(path)
  path = path or os.getenv("SSH_AUTH_SOCK")
  if path == nil or path == "" then
    Error.raise("ValueError", "no ssh-agent: SSH_AUTH_SOCK is not set")
  end
  local agent = acore.connect(keys.expand_path(path))
  agent:_wait_connected()
  return agent
end

return M
