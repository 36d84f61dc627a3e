-- wrk script: paired workstations creating receipt vouchers on a node's LAN API.
--
-- Run by `bench/lan_api.py --wrk`, which starts the node, pairs a workstation, seeds the two
-- accounts and passes them here through the environment:
--   OFFICESYNC_TOKEN    the workstation's Bearer token
--   OFFICESYNC_DEBIT    id of the account every line debits
--   OFFICESYNC_CREDIT   id of the account every line credits
-- The target URL is the collection: http://HOST:PORT/api/v1/datasets/DATASET/records/vouchers
-- Each request is the same ~300-byte voucher as bench/lan_api.py's own generator sends (the
-- node numbers it). Only 201 answers count as writes; any other status is counted by code.
-- At the end one line `WRK_JSON {...}` gives the counts and the latency percentiles (ms).

local token = os.getenv("OFFICESYNC_TOKEN")
local debit = os.getenv("OFFICESYNC_DEBIT")
local credit = os.getenv("OFFICESYNC_CREDIT")
if not (token and debit and credit) then
   error("OFFICESYNC_TOKEN, OFFICESYNC_DEBIT and OFFICESYNC_CREDIT must be set")
end

wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Content-Type"] = "application/json"

local threads = {}

function setup(thread)
   thread:set("shard", #threads)
   table.insert(threads, thread)
end

function init(args)
   n = 0
   created = 0
   refused = {}
end

function request()
   n = n + 1
   local body = string.format(
      '{"data":{"type":"receipt","date":"2026-11-28",' ..
      '"description":"Thu tiền khách hàng theo hóa đơn %d-%d",' ..
      '"lines":[{"debit":"%s","credit":"%s","amount":%d}]}}',
      shard, n, debit, credit, 1250000 + n)
   return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
   if status == 201 then
      created = created + 1
   else
      local code = tostring(status)
      refused[code] = (refused[code] or 0) + 1
   end
end

function done(summary, latency, requests)
   local writes = 0
   local errors = {}
   for _, thread in ipairs(threads) do
      writes = writes + thread:get("created")
      for code, count in pairs(thread:get("refused")) do
         errors[code] = (errors[code] or 0) + count
      end
   end
   local e = summary.errors
   for name, count in pairs({connect = e.connect, read = e.read, write = e.write,
                             timeout = e.timeout}) do
      if count > 0 then errors[name] = count end
   end
   local parts = {}
   for code, count in pairs(errors) do
      table.insert(parts, string.format('"%s":%d', code, count))
   end
   local function ms(us) return us / 1000.0 end
   io.write(string.format(
      'WRK_JSON {"writes":%d,"requests":%d,"duration_s":%.3f,"p50_ms":%.2f,' ..
      '"p99_ms":%.2f,"p999_ms":%.2f,"max_ms":%.2f,"mean_ms":%.2f,"errors":{%s}}\n',
      writes, summary.requests, summary.duration / 1e6, ms(latency:percentile(50)),
      ms(latency:percentile(99)), ms(latency:percentile(99.9)), ms(latency.max),
      ms(latency.mean), table.concat(parts, ",")))
end
