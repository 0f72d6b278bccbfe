-- A luassh transport-only server for interop specs, run as its own
-- process: serves each client up to its first userauth request.
--   luassh transport_server.lua PORTFILE [seconds]
local ssh = require "luassh"
local t = require "luassh.testing"

local portfile, seconds = arg[1], tonumber(arg[2] or "120")
local srv = t.transport_server {
  port = 0,
  host_key_types = {"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                    "ecdsa-sha2-nistp521", "ssh-rsa"},
  kex_algs = os.getenv("LSH_KEX"),
  encryption_algs = os.getenv("LSH_CIPHERS"),
  mac_algs = os.getenv("LSH_MACS"),
  compression_algs = os.getenv("LSH_COMPRESSION"),
  host_key_algs = os.getenv("LSH_HOSTKEY_ALGS"),
}
local f = assert(io.open(portfile .. ".tmp", "w"))
f:write(srv:port(), "\n")
f:close()
os.rename(portfile .. ".tmp", portfile)
ssh.sleep(seconds)
srv:close()
