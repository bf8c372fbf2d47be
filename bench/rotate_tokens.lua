-- wrk script for `python -m bench http`: every request carries the next bearer token from a
-- file (one per line), each wrk thread starting at its own offset so the threads do not ask for
-- the same users at the same moment. Prints one machine-readable summary line at the end.
--
--   wrk -t2 -c64 -d10s --latency -s bench/rotate_tokens.lua URL -- tokens.txt 2

local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

local tokens = {}
local position = 0

function init(args)
  local path, threads = args[1], tonumber(args[2] or "1")
  if path and path ~= "" then
    for line in io.lines(path) do
      if line ~= "" then tokens[#tokens + 1] = line end
    end
  end
  if #tokens > 0 then
    position = math.floor((thread_index or 0) * #tokens / threads) % #tokens
  end
end

function request()
  if #tokens == 0 then
    return wrk.format("GET")
  end
  position = position % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[position] })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,' ..
    '"latency_mean_us":%.1f,"latency_max_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"p999_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
