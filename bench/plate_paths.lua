-- wrk script for `python -m bench.plate_bench`: every request is GET of the next path from a file
-- (one per line, e.g. /m/<code>), each wrk thread starting at its own offset, no login.
-- Prints the same BENCH_JSON summary line as bench/rotate_tokens.lua.
--
--   wrk -t2 -c64 -d10s --latency -s bench/plate_paths.lua URL -- paths.txt 2

local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

local paths = {}
local position = 0

function init(args)
  local path, threads = args[1], tonumber(args[2] or "1")
  for line in io.lines(path) do
    if line ~= "" then paths[#paths + 1] = line end
  end
  position = math.floor((thread_index or 0) * #paths / threads) % #paths
end

function request()
  position = position % #paths + 1
  return wrk.format("GET", paths[position])
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
