-- wrk script for `python -m bench http`: every request carries the next bearer token from a
-- file (one per line), each wrk thread starting at its own offset so the threads do not ask for
-- the same users at the same moment. Prints one machine-readable summary line at the end.
--
--   wrk -t2 -c64 -d10s --latency -s bench/rotate_tokens.lua URL -- tokens.txt 2

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_common.lua")

local tokens = {}
local position = 0

function init(args)
  local path, threads = args[1], tonumber(args[2] or "1")
  if path and path ~= "" then
    tokens = read_lines(path)
  end
  if #tokens > 0 then
    position = first_position(#tokens, threads)
  end
end

function request()
  if #tokens == 0 then
    return wrk.format("GET")
  end
  position = position % #tokens + 1
  return wrk.format("GET", nil, { ["Authorization"] = "Bearer " .. tokens[position] })
end
