-- luassh: scriptable SSH.  `local ssh = require "luassh"`.
--
-- Every call that waits on the network or the clock yields the running
-- task (a coroutine managed by luassh); the main chunk of a script is
-- itself a task, so scripts read top to bottom.
local core = require "luassh.core"

local ssh = {}

ssh.version = core.version
ssh.Error = require "luassh.error"

-- Tasks and time (src/lua_bindings/sched.c).
ssh.spawn = core.spawn
ssh.sleep = core.sleep
ssh.timeout = core.timeout
ssh.now = core.now
ssh.current_task = core.current_task
ssh.run = core.run
ssh.gather = require "luassh.gather"

-- Keys, certificates and trust files (lua/luassh/keys.lua).
local keys = require "luassh.keys"
for _, name in ipairs(keys.API) do ssh[name] = keys[name] end

-- The SSH client (lua/luassh/client.lua, lua/luassh/process.lua).
local client = require "luassh.client"
ssh.connect = client.connect
ssh.create_connection = client.create_connection
ssh.get_server_host_key = client.get_server_host_key
ssh.get_server_auth_methods = client.get_server_auth_methods
ssh.PIPE, ssh.DEVNULL, ssh.STDOUT = client.PIPE, client.DEVNULL, client.STDOUT
ssh.EXTENDED_DATA_STDERR = client.EXTENDED_DATA_STDERR
ssh.connect_agent = require("luassh.agent").connect_agent

-- SCP copies (lua/luassh/scp.lua, src/lua_bindings/l_scp.c).
ssh.scp = require("luassh.scp").scp

-- Local subprocesses (lua/luassh/subprocess.lua).
ssh.create_subprocess = require("luassh.subprocess").create_subprocess

-- Password hashes for servers (src/lua_bindings/l_crypt.c, libxcrypt).
local cryptcore = require "luassh.cryptcore"
ssh.hash_password = cryptcore.hash_password
ssh.check_password = cryptcore.check_password

-- The SSH server (lua/luassh/server.lua, lua/luassh/server_process.lua).
local server = require "luassh.server"
ssh.listen = server.listen
ssh.create_server = server.create_server
ssh.connect_reverse = server.connect_reverse
ssh.listen_reverse = server.listen_reverse
ssh.PasswordChangeRequired = server.PasswordChangeRequired
ssh.OPEN_ADMINISTRATIVELY_PROHIBITED = server.OPEN_ADMINISTRATIVELY_PROHIBITED

-- The SFTP client (lua/luassh/sftp.lua; conn:start_sftp_client): the
-- FX_*, FXF_* and FILEXFER_TYPE_* constants and the SFTP error helpers.
local sftp = require "luassh.sftp"
for k, v in pairs(sftp) do
  if type(k) == "string" and k:match("^F[XI][FL_]") then ssh[k] = v end
end
ssh.SFTPError, ssh.is_sftp_error = sftp.SFTPError, sftp.is_sftp_error

--- ssh.versions() -> {luassh=, lua=, openssl=, libuv=}
ssh.versions = core.versions

--- ssh.is_error(value [, kind]) -> boolean
ssh.is_error = ssh.Error.is

return ssh
