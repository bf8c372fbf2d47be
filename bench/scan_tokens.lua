-- wrk script for `python -m bench.scan_bench`: every request is POST /api/v1/scan/verify with
-- the next (staff bearer token, credit code) pair from a file ("<bearer>\t<code>" per line), each
-- wrk thread starting at its own offset. Prints the same BENCH_JSON summary line as
-- bench/rotate_tokens.lua (bench/wrk_common.lua), which bench/harness/wrk.py reads.
--
--   wrk -t2 -c64 -d10s --latency -s bench/scan_tokens.lua URL -- pairs.txt 2

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_common.lua")

local pairs_ = {}
local position = 0

function init(args)
  local path, threads = args[1], tonumber(args[2] or "1")
  for _, line in ipairs(read_lines(path)) do
    local bearer, code = line:match("^([^\t]+)\t(.+)$")
    if bearer then
      pairs_[#pairs_ + 1] = { bearer, '{"token":"' .. code .. '"}' }
    end
  end
  position = first_position(#pairs_, threads)
end

function request()
  position = position % #pairs_ + 1
  local pair = pairs_[position]
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. pair[1],
    ["Content-Type"] = "application/json",
  }, pair[2])
end
