-- wrk script for `python -m bench.scan_bench`: every request is POST /api/v1/scan/verify with
-- the next (staff bearer token, credit code) pair from a file ("<bearer>\t<code>" per line), each
-- wrk thread starting at its own offset. Prints the same BENCH_JSON summary line as
-- bench/rotate_tokens.lua, so bench/http_bench.py's wrk() reads it.
--
--   wrk -t2 -c64 -d10s --latency -s bench/scan_tokens.lua URL -- pairs.txt 2

local thread_count = 0

function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

local pairs_ = {}
local position = 0

function init(args)
  local path, threads = args[1], tonumber(args[2] or "1")
  for line in io.lines(path) do
    local bearer, code = line:match("^([^\t]+)\t(.+)$")
    if bearer then
      pairs_[#pairs_ + 1] = { bearer, '{"token":"' .. code .. '"}' }
    end
  end
  position = math.floor((thread_index or 0) * #pairs_ / threads) % #pairs_
end

function request()
  position = position % #pairs_ + 1
  local pair = pairs_[position]
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. pair[1],
    ["Content-Type"] = "application/json",
  }, pair[2])
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
