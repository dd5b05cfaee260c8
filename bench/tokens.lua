-- wrk script: a different bearer token in every request, cycling through a pool of pre-minted
-- tokens (one per line), and the status counting of status.lua.
--
--   wrk ... -s bench/tokens.lua URL -- TOKEN_FILE THREADS [ONCE_MARKER [START]]
--
-- Each wrk thread starts at its own share of the pool, so threads do not send the same token at
-- the same time. The requests are formatted once in init(), not per request.
--
-- START (0-based, default 0) shifts where the threads start: a caller that runs the same pool
-- several times against the same workers passes the number of answers so far, so that each run
-- continues where the last one stopped instead of re-sending the tokens the last run left in
-- the token cache (bench/compare.sh). An empty ONCE_MARKER means none.
--
-- With ONCE_MARKER (one thread only): after as many answers as the pool has tokens (so every
-- token was sent), the thread stops and creates the file ONCE_MARKER; wrk itself still waits
-- for its -d, so the caller stops it (SIGINT) once the file exists (bench/memory.sh).

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "status.lua")

local requests, n, i = {}, 0, 0
local marker, answered = nil, 0

local count_status = response
function response(status, headers, body)
   count_status(status, headers, body)
   if marker then
      answered = answered + 1
      if answered == n then
         local f = io.open(marker, "w")
         if f then f:close() end
         wrk.thread:stop()
      end
   end
end

function init(args)
   local file, threads = args[1], tonumber(args[2] or "1")
   marker = args[3]
   if marker == "" then marker = nil end
   local start = tonumber(args[4] or "0") or 0
   for token in io.lines(file) do
      if token ~= "" then
         n = n + 1
         requests[n] = wrk.format(nil, nil, { Authorization = "Bearer " .. token })
      end
   end
   if n == 0 then error("tokens.lua: no tokens in " .. tostring(file)) end
   i = (start + math.floor(n / threads) * (thread_index or 0)) % n
end

function request()
   i = i % n + 1
   return requests[i]
end
