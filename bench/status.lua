-- wrk script: counts the HTTP status of every response and prints the totals when the run ends,
-- as one line the benchmark parses:
--
--   statuses: 200=123456 401=3
--
-- Used as is (-s bench/status.lua) for the scenarios with a fixed Authorization header, and
-- loaded by tokens.lua. (Defining response() makes wrk parse every response: a small client-side
-- cost, the same in every scenario.)

local threads = {}

function setup(thread)
   thread:set("thread_index", #threads) -- 0-based, for tokens.lua
   table.insert(threads, thread)
end

statuses = {}

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local total, codes = {}, {}
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses")) do
         if not total[status] then table.insert(codes, status) end
         total[status] = (total[status] or 0) + n
      end
   end
   table.sort(codes)
   local parts = {}
   for _, status in ipairs(codes) do
      table.insert(parts, status .. "=" .. total[status])
   end
   io.write("statuses: " .. table.concat(parts, " ") .. "\n")
end
