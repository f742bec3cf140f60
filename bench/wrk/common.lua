-- Shared by the wrk scripts of bench/wrk_bench.py: numbering the threads, reading the
-- pre-generated request file, and one machine-readable result line from done().
--
-- Configuration comes from the environment (os.getenv works in every Lua state wrk
-- makes), because wrk hands its `-- args` only to init() in the threads, while setup()
-- and done() run in the main state and need the same settings.

local common = {}

common.threads = {}

-- Called from setup(thread) in the main state: give each thread a number 1..T so it can
-- take every T-th line of the file (disjoint shares: no statement is sent twice).
function common.setup(thread)
  table.insert(common.threads, thread)
  thread:set("tid", #common.threads)
end

-- Lines "METHOD<TAB>path<TAB>body" (body may be empty); this thread's share, pre-formatted
-- with wrk.format so request() only hands out a ready string and costs the client little.
function common.load(path, tid, nthreads)
  local requests = {}
  local file = assert(io.open(path, "r"))
  local n = 0
  for line in file:lines() do
    if n % nthreads == tid - 1 then
      local method, target, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
      assert(method, "bad line in " .. path .. ": " .. line:sub(1, 80))
      if body == "" then body = nil end
      requests[#requests + 1] = wrk.format(method, target, nil, body)
    end
    n = n + 1
  end
  file:close()
  return requests
end

-- Common headers: the agency's session token and, for bodies, the JSON content type.
function common.headers()
  local auth = os.getenv("BENCH_WRK_AUTH")
  if auth and auth ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. auth
  end
  wrk.headers["Content-Type"] = "application/json"
end

local function sum(name)
  local total = 0
  for _, thread in ipairs(common.threads) do
    total = total + (tonumber(thread:get(name)) or 0)
  end
  return total
end

-- One line "BENCH_RESULT {json}" for the Python side: wrk's own totals and latency
-- distribution (microseconds), plus the counters the threads kept (summed here).
function common.done(summary, latency, counters)
  local e = summary.errors
  local fields = {
    string.format('"requests":%d', summary.requests),
    string.format('"duration_us":%d', summary.duration),
    string.format('"bytes":%d', summary.bytes),
    string.format('"errors_connect":%d', e.connect),
    string.format('"errors_read":%d', e.read),
    string.format('"errors_write":%d', e.write),
    string.format('"errors_status":%d', e.status),
    string.format('"errors_timeout":%d', e.timeout),
    string.format('"latency_mean_us":%.1f', latency.mean),
    string.format('"latency_max_us":%d', latency.max),
  }
  for _, p in ipairs({50, 90, 99, 99.9}) do
    fields[#fields + 1] = string.format('"p%s_us":%d', tostring(p), latency:percentile(p))
  end
  for _, name in ipairs(counters or {}) do
    fields[#fields + 1] = string.format('"%s":%d', name, sum(name))
  end
  io.write("BENCH_RESULT {" .. table.concat(fields, ",") .. "}\n")
end

return common
