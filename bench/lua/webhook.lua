-- CINNOX call notifications, every one a new event: CallStart then CallEnd of call
-- "<run>-<thread>-<n>", over 10 serviceIds. Args: <run id>.
-- The results go to stdout as one JSON line (see report.lua).
local run = "bench"
local n = 0
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end

function init(args)
  run = args[1] or run
  tid = tid or 0  -- set by setup() in this thread's globals
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local call = run .. "-" .. tid .. "-" .. math.floor(n / 2)
  local svc = "svc-" .. (math.floor(n / 2) % 10)
  local body
  if n % 2 == 0 then
    body = '{"message":{"id":"' .. call .. '","status":"CallStart","serviceId":"' .. svc ..
      '","caller":{"number":85291234567},"callees":[{"number":85261234567}]}}'
  else
    body = '{"message":{"id":"' .. call .. '","status":"CallEnd","serviceId":"' .. svc .. '"}}'
  end
  return wrk.format(nil, nil, nil, body)
end
