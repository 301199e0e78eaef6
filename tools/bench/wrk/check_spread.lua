-- POST /check?key=k<N>, N uniform in [0, NKEYS): counters spread over NKEYS actors.
local NKEYS = 10000
function init(args)
  if args[1] then NKEYS = tonumber(args[1]) end
  math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0) % 100000)
end
request = function()
  return wrk.format("POST", "/check?key=k" .. math.random(0, NKEYS - 1), nil, "")
end
