-- Signed Slack requests, read from a file the bench writes just before the run (Slack's
-- signature needs HMAC-SHA256 over a fresh timestamp; Lua has none, so Python signs).
-- File: one request per line, "<timestamp>\t<signature>\t<form-encoded body>".
-- Args: <file>. Requests are sent in turn, from the first again after the last.
local requests = {}
local i = 0

function init(args)
  for line in io.lines(args[1]) do
    local ts, sig, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
    requests[#requests + 1] = wrk.format("POST", nil, {
      ["Content-Type"] = "application/x-www-form-urlencoded",
      ["X-Slack-Request-Timestamp"] = ts,
      ["X-Slack-Signature"] = sig,
    }, body)
  end
end

function request()
  i = i % #requests + 1
  return requests[i]
end
