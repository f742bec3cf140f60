-- Walk a pre-generated file of requests (BENCH_WRK_FILE, see common.lua).
--
-- BENCH_WRK_ONCE=1: each line at most once, for the service's appends: every statement
-- extends a fresh request's chain, so none is a duplicate or signed on a stale head. A
-- thread that runs out starts over and counts `overrun`; the benchmark then discards the
-- run and retries with more statements, since repeats would be answered as duplicates.
-- Otherwise the lines are taken round-robin (reads, and the baseline's inserts).
--
-- BENCH_WRK_COUNT_LOG=1: parse the append answers and count `"pending":true` (not yet in
-- the transparency log when answered) against an index, and any duplicates.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

local once = os.getenv("BENCH_WRK_ONCE") == "1"
local count_log = os.getenv("BENCH_WRK_COUNT_LOG") == "1"

function setup(thread)
  common.setup(thread)
end

local requests, next_one = nil, 1
overrun, pending, indexed, duplicate, created, other = 0, 0, 0, 0, 0, 0

function init(args)
  common.headers()
  requests = common.load(os.getenv("BENCH_WRK_FILE"), tid,
                         tonumber(os.getenv("BENCH_WRK_THREADS")))
  assert(#requests > 0, "thread " .. tid .. " got no requests")
end

function request()
  if next_one > #requests then
    next_one = 1
    if once then overrun = overrun + 1 end
  end
  local req = requests[next_one]
  next_one = next_one + 1
  return req
end

if count_log then
  -- Only defined when wanted: wrk reads response bodies only if `response` exists.
  function response(status, headers, body)
    if status == 201 then created = created + 1 else other = other + 1 end
    if body:find('"pending":true', 1, true) then
      pending = pending + 1
    elseif body:find('"index":%d') then
      indexed = indexed + 1
    end
    if body:find('"duplicate":true', 1, true) then duplicate = duplicate + 1 end
  end
end

function done(summary, latency, _requests)
  common.done(summary, latency,
              {"overrun", "pending", "indexed", "duplicate", "created", "other"})
end
