-- One wrk script for every single-endpoint workload of scripts/bench.
--
--   wrk -t T -c C -d D --latency -s bench.lua http://127.0.0.1:PORT -- MODE FILE THREADS [ARG]
--
-- FILE holds one line per user, `jwt,user,...` (written by `benchtool lines`); thread i of
-- THREADS takes lines i, i+THREADS, ... so no two requests in flight share a user, and every
-- request takes the next line (wrapping around, counted, when the file runs out).
--
--   live     GET /health/live                                  (FILE ignored)
--   join     POST /api/v1/concerts/ARG/queue-tokens            jwt,user
--   poll     GET /api/v1/queue-tokens/current                  jwt,user,token
--   seats    GET /api/v1/schedules/ARG/seats                   jwt,user,token
--   hold     POST /api/v1/reservations one seat                jwt,user,token,schedule,seat
--   contend  POST /api/v1/reservations 1-2 of 8 seats          jwt,user,token   (ARG schedule)
--   charge   POST /api/v1/wallet/charges 1000 won, unique key  jwt,user
--   pay      POST /api/v1/payments                             jwt,user,token,reservation
--
-- done() prints one line: `RESULT key=value ...` with requests/s, p50/p95/p99 (ms), every
-- status seen, socket errors, and `wrapped` (requests that reused a line).

local threads = {}
local counter = 0

function setup(thread)
   counter = counter + 1
   thread:set("tid", counter - 1)
   table.insert(threads, thread)
end

local mode, lines, n, i, arg, tid_s
statuses = {}
wrapped = 0

local function split(s)
   local out = {}
   for field in string.gmatch(s, "([^,]+)") do
      out[#out + 1] = field
   end
   return out
end

function init(args)
   mode = args[1]
   local file, nthreads = args[2], tonumber(args[3])
   arg = args[4]
   tid_s = tostring(tid)
   lines = {}
   if mode ~= "live" then
      local k = 0
      for line in io.lines(file) do
         if k % nthreads == tid then
            lines[#lines + 1] = split(line)
         end
         k = k + 1
      end
   end
   n = #lines
   i = 0
end

local seq = 0

function request()
   if mode == "live" then
      return wrk.format("GET", "/health/live")
   end
   i = i + 1
   if i > n then
      i = 1
   end
   if seq >= n then
      wrapped = wrapped + 1
   end
   seq = seq + 1
   local l = lines[i]
   local auth = "Bearer " .. l[1]
   if mode == "join" then
      return wrk.format("POST", "/api/v1/concerts/" .. arg .. "/queue-tokens",
         { ["Authorization"] = auth })
   elseif mode == "poll" then
      return wrk.format("GET", "/api/v1/queue-tokens/current",
         { ["Authorization"] = auth, ["Queue-Token"] = l[3] })
   elseif mode == "seats" then
      return wrk.format("GET", "/api/v1/schedules/" .. arg .. "/seats",
         { ["Authorization"] = auth, ["Queue-Token"] = l[3] })
   elseif mode == "hold" then
      return wrk.format("POST", "/api/v1/reservations",
         { ["Authorization"] = auth, ["Queue-Token"] = l[3], ["Content-Type"] = "application/json" },
         '{"scheduleId":' .. l[4] .. ',"seatIds":[' .. l[5] .. ']}')
   elseif mode == "contend" then
      local a = 101 + (seq % 8)
      local seats = tostring(a)
      if seq % 2 == 0 then
         seats = seats .. "," .. tostring(101 + ((seq + 3) % 8))
      end
      return wrk.format("POST", "/api/v1/reservations",
         { ["Authorization"] = auth, ["Queue-Token"] = l[3], ["Content-Type"] = "application/json" },
         '{"scheduleId":' .. arg .. ',"seatIds":[' .. seats .. ']}')
   elseif mode == "charge" then
      return wrk.format("POST", "/api/v1/wallet/charges",
         { ["Authorization"] = auth, ["Content-Type"] = "application/json",
           ["Idempotency-Key"] = "c-" .. tid_s .. "-" .. seq },
         '{"amount":1000}')
   elseif mode == "pay" then
      return wrk.format("POST", "/api/v1/payments",
         { ["Authorization"] = auth, ["Queue-Token"] = l[3], ["Content-Type"] = "application/json",
           ["Idempotency-Key"] = "pay-" .. l[4] },
         '{"reservationId":"' .. l[4] .. '"}')
   end
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local all, wraps = {}, 0
   for _, t in ipairs(threads) do
      local s = t:get("statuses")
      if s then
         for code, count in pairs(s) do
            all[code] = (all[code] or 0) + count
         end
      end
      wraps = wraps + (t:get("wrapped") or 0)
   end
   local e = summary.errors
   local out = string.format(
      "RESULT requests=%d seconds=%.3f rps=%.1f p50=%.3f p95=%.3f p99=%.3f max=%.3f " ..
      "socket_errors=%d wrapped=%d",
      summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
      latency:percentile(50) / 1000, latency:percentile(95) / 1000,
      latency:percentile(99) / 1000, latency.max / 1000,
      e.connect + e.read + e.write + e.timeout, wraps)
   local codes = {}
   for code, _ in pairs(all) do
      codes[#codes + 1] = code
   end
   table.sort(codes)
   for _, code in ipairs(codes) do
      out = out .. string.format(" s%d=%d", code, all[code])
   end
   io.write(out .. "\n")
end
