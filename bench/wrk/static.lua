-- One fixed request (the URL given to wrk), with the session token; only adds the
-- machine-readable percentiles of common.lua to what wrk measures anyway.

local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
local common = dofile(here .. "common.lua")

function setup(thread)
  common.setup(thread)
end

function init(args)
  common.headers()
end

function done(summary, latency, _requests)
  common.done(summary, latency, {})
end
