-- The request schedule of bench/soak.sh (tools/ngxfix/soak.py): a fixed, shuffled mix of
-- request kinds. Arguments: TOKENS_TSV ("kind<TAB>Authorization value", "-": no header),
-- MIX ("kind=weight,..."), MODE ("poison": every request also carries hostile headers, else
-- ""), PAUSE_MS (each connection's pause between its requests, 0: none). Run from the
-- repository's root (it loads bench/status.lua, which counts every status).
dofile("bench/status.lua")
local reqs, n, i = {}, 0, 0
function init(args)
   local by_kind = {}
   local pause = tonumber(args[4] or "0") or 0
   if pause > 0 then   -- wrk checks for delay() after the first thread's init()
      function delay() return pause end
   end
   for line in io.lines(args[1]) do
      local kind, auth = line:match("^([^\t]+)\t(.*)$")
      if kind then
         local headers = {}
         if auth ~= "-" then headers["Authorization"] = auth end
         if args[3] == "poison" then
            headers["Range"] = "bytes=0-0"
            headers["If-None-Match"] = "*"
            headers["Accept-Encoding"] = "gzip"
            headers["Cookie"] = "a=b"
         end
         by_kind[kind] = by_kind[kind] or {}
         table.insert(by_kind[kind], wrk.format("GET", "/p/hello.txt?kind=" .. kind, headers))
      end
   end
   local slots = {}
   for spec in args[2]:gmatch("[^,]+") do
      local k, w = spec:match("^(.-)=(%d+)$")
      if not by_kind[k] then error("soak.lua: no tokens of kind " .. k) end
      for _ = 1, tonumber(w) do table.insert(slots, k) end
   end
   math.randomseed(4242 + (thread_index or 0))
   for j = #slots, 2, -1 do
      local r = math.random(j)
      slots[j], slots[r] = slots[r], slots[j]
   end
   local rr = {}
   for _ = 1, 12 do   -- 12 passes: every variant of every kind comes up
      for _, k in ipairs(slots) do
         rr[k] = (rr[k] or 0) % #by_kind[k] + 1
         n = n + 1
         reqs[n] = by_kind[k][rr[k]]
      end
   end
end
function request()
   i = i % n + 1
   return reqs[i]
end
