-- wrk script: DPoP requests, one cached access token and a fresh proof in every request, from a
-- pool of pre-minted proofs (one per line, each with its own jti: wrk cannot sign), and the
-- status counting of status.lua. The first line of the pool is left out: bench_run.py sends it
-- once to check the location before wrk starts.
--
--   wrk ... -s bench/dpop.lua URL -- TOKEN PROOF_FILE THREADS
--
-- Each thread takes its own share of the pool, so no proof is sent twice (a replay: 401, and the
-- scenario FAILED) unless the run needs more proofs than the pool has (raise BENCH_DPOP_PROOFS).

local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "status.lua")

local requests, n, i, last = {}, 0, 0, 0

function init(args)
   local token, file, threads = args[1], args[2], tonumber(args[3] or "1")
   local all, k = {}, 0
   for proof in io.lines(file) do
      if proof ~= "" then
         k = k + 1
         if k > 1 then all[#all + 1] = proof end
      end
   end
   local share = math.floor(#all / threads)
   local from = share * (thread_index or 0)
   for j = from + 1, from + share do
      n = n + 1
      requests[n] = wrk.format(nil, nil, { Authorization = "DPoP " .. token, DPoP = all[j] })
   end
   if n == 0 then error("dpop.lua: no proofs in " .. tostring(file)) end
end

function request()
   i = i + 1
   if i > n then i = 1 end
   return requests[i]
end
