-- wrk script for `python -m bench.plate_bench`: every request is GET of the next path from a file
-- (one per line, e.g. /m/<code>), each wrk thread starting at its own offset, no login.
-- Prints the same BENCH_JSON summary line as bench/rotate_tokens.lua (bench/wrk_common.lua).
--
--   wrk -t2 -c64 -d10s --latency -s bench/plate_paths.lua URL -- paths.txt 2

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_common.lua")

local paths = {}
local position = 0

function init(args)
  local path, threads = args[1], tonumber(args[2] or "1")
  paths = read_lines(path)
  position = first_position(#paths, threads)
end

function request()
  position = position % #paths + 1
  return wrk.format("GET", paths[position])
end
