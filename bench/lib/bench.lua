-- wrk script: every request carries the next token of a pre-generated file.
-- args: <path> <token file> <mode: cycle|once>
-- `once` stops the thread when the file is used up, so no token is sent twice (cold scenario) except, per
-- connection, the last one: the request returned from the call that stops the thread is still sent.
local tokens = {}
local n, i = 0, 0
local path, mode

function init(args)
  path = args[1]
  mode = args[3] or "cycle"
  for line in io.lines(args[2]) do
    if line ~= "" then
      n = n + 1
      tokens[n] = "Bearer " .. line
    end
  end
end

function request()
  i = i + 1
  if i > n then
    if mode == "once" then
      wrk.thread:stop()
      i = n
    else
      i = 1
    end
  end
  return wrk.format("GET", path, { ["Authorization"] = tokens[i] })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nBENCH_JSON {"requests":%d,"durationUs":%d,"bytes":%d,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"non2xx":%d,"timeouts":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
