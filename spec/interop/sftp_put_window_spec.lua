-- SFTP put under the client's write window (src/ssh/sftp/client.c,
-- lsh_sftp_client_set_write_window; l_sftp.c sets it from the channel's
-- window): several uploads at once share the window, each file's last
-- WRITE (a partial block) still goes out when a transfer resumes from
-- the pump, progress reaches the size, and max_requests/block_size keep
-- their meaning.  Against OpenSSH's sftp-server and our own
-- `luassh --sftp-server` (a blocking server that answers only what
-- reaches it: a request left in the client's output hangs the upload).
local util = require "spec.support.util"
local cenv = require "spec.support.client_env"

local timed = cenv.timed
local SFTP_SERVER = "/usr/lib/openssh/sftp-server"

local sh, capture, sha = util.sh, util.capture, util.sha256

-- Sizes around the largest WRITE (261120 bytes to OpenSSH's sftp-server)
-- and the default block, so that most files end on a partial block.
local SIZES = {0, 1, 1024, 32767, 32768, 32769, 261119, 261120, 261121,
               262144, 262145, 522241, 1048583, 3 * 261120 + 17}

local function make_tree(d)
  sh("mkdir -p " .. util.q(d .. "/src/sub"))
  for i, n in ipairs(SIZES) do
    local where = i % 3 == 0 and "/src/sub/" or "/src/"
    sh(("head -c %d /dev/urandom > %s"):format(n, util.q(("%s%sf%02d"):format(d, where, i))))
  end
end

local function same_tree(a, b)
  local list = capture(("cd %s && find . -type f | sort"):format(util.q(a)))
  local count = 0
  for rel in list:gmatch("[^\n]+") do
    assert.equal(sha(a .. "/" .. rel), sha(b .. "/" .. rel), rel)
    count = count + 1
  end
  assert.equal(#SIZES, count)
end

for _, server in ipairs {"openssh", "luassh"} do
  describe("SFTP put with the write window against " .. server, function()
    local env, T

    setup(function()
      local sub
      if server == "openssh" then
        sub = SFTP_SERVER
      else
        sub = util.bin:sub(1, 1) == "/" and util.bin
          or (capture("pwd"):match("%S+") .. "/" .. util.bin)
        sub = sub .. " --sftp-server"
      end
      env = cenv.start_sshd {extra = {"Subsystem sftp " .. sub}}
      T = util.tmpdir()
      make_tree(T)
    end)
    teardown(function()
      if env then env.stop() end
      if T then util.rmtree(T) end
    end)

    it("uploads a tree with many files at once, every file intact", function()
      timed(60, function()
        local conn <close> = env.connect()
        local sftp <close> = conn:start_sftp_client()
        for _, files in ipairs {8, 1} do
          local dst = ("%s/up%d"):format(T, files)
          sftp:put(T .. "/src", dst, {recurse = true, max_files = files})
          same_tree(T .. "/src", dst)
        end
      end)
    end)

    it("keeps progress, block_size and max_requests", function()
      timed(60, function()
        local conn <close> = env.connect()
        local sftp <close> = conn:start_sftp_client()
        local src = ("%s/src/f%02d"):format(T, #SIZES - 1) -- 1 MiB + 7
        for _, o in ipairs {
          {},
          {block_size = 8192, max_requests = 1},
          {block_size = 32768, max_requests = 3},
          {max_requests = 200},
        } do
          local last, calls, mono = nil, 0, true
          o.progress_handler = function(_, _, done, total)
            calls = calls + 1
            if last and done < last then mono = false end
            last = done
            assert.equal(1048583, total)
          end
          sftp:put(src, T .. "/one", o)
          assert.equal(sha(src), sha(T .. "/one"))
          assert.is_true(calls > 0)
          assert.is_true(mono)
          assert.equal(1048583, last)
        end
      end)
    end)

    it("writes a large string through a file object intact", function()
      timed(60, function()
        local conn <close> = env.connect()
        local sftp <close> = conn:start_sftp_client()
        local data = capture("head -c 3000017 /dev/urandom")
        local f <close> = sftp:open(T .. "/w", "wb")
        f:write(data)
        f:close()
        local back = io.open(T .. "/w", "rb")
        local got = back:read("a")
        back:close()
        assert.equal(#data, #got)
        assert.is_true(data == got)
      end)
    end)
  end)
end
