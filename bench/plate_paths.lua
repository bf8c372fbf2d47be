-- wrk script for the GET benches (`plate_bench`, `report_bench`, the public lists and console
-- pages of `bench http`): every request is GET of the next path from a file, each wrk thread
-- starting at its own offset. A line is "<path>" (no login) or "<path>\t<Header>: <value>" (e.g.
-- a console session's Cookie). Prints the same BENCH_JSON summary line as
-- bench/rotate_tokens.lua (bench/wrk_common.lua).
--
--   wrk -t2 -c64 -d10s --latency -s bench/plate_paths.lua URL -- paths.txt 2

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_common.lua")

local requests_ = {}
local position = 0

function init(args)
  local path, threads = args[1], tonumber(args[2] or "1")
  for _, line in ipairs(read_lines(path)) do
    local target, name, value = line:match("^([^\t]+)\t([^:]+): (.+)$")
    if target then
      requests_[#requests_ + 1] = wrk.format("GET", target, { [name] = value })
    else
      requests_[#requests_ + 1] = wrk.format("GET", line)
    end
  end
  position = first_position(#requests_, threads)
end

function request()
  position = position % #requests_ + 1
  return requests_[position]
end
