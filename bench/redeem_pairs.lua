-- wrk script for the redeem target of `python -m bench.scan_bench`: every request is
-- POST /api/v1/scan/redeem with the next line of a file, "<staff bearer>\t<credit code>\t<policy
-- id>\t<idempotency key>", each wrk thread starting at its own offset. The idempotency key gets
-- the thread and the lap appended: a line sent a second time (the file ran out) is a new request
-- the limits refuse (409), never a replay answered 200, so the 2xx answers are the 201s.
-- Prints the same BENCH_JSON summary line as bench/rotate_tokens.lua (bench/wrk_common.lua).
--
--   wrk -t2 -c64 -d10s --latency -s bench/redeem_pairs.lua URL -- redeem.txt 2

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_common.lua")

local lines_ = {}
local position = 0
local lap = 0

function init(args)
  local path, threads = args[1], tonumber(args[2] or "1")
  for _, line in ipairs(read_lines(path)) do
    local bearer, code, policy, key = line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t(.+)$")
    if bearer then
      lines_[#lines_ + 1] = { bearer, '{"token":"' .. code .. '","policy_id":"' .. policy ..
        '","idempotency_key":"' .. key .. "-" .. (thread_index or 0) .. "-" }
    end
  end
  position = first_position(#lines_, threads)
end

function request()
  position = position % #lines_ + 1
  if position == 1 then lap = lap + 1 end
  local line = lines_[position]
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. line[1],
    ["Content-Type"] = "application/json",
  }, line[2] .. lap .. '"}')
end
