-- bench/ratings_lua/requests.lua - the one wrk script of bench/ratings.
--
--   wrk -t1 -c32 -d3s -s requests.lua http://127.0.0.1:PORT -- REQUEST_FILE [xff]
--
-- REQUEST_FILE has one request a line, tab-separated: METHOD, path, JSON body (may be
-- empty). Every request is one of those lines, picked at random: a write spread over 200
-- articles is a file of 200 x 5 lines (every article, every number of stars), a hot-article
-- write a file of 5 lines, a fixed read a file of one line.
--
-- With `xff`, every request carries a random public-looking IPv4 address in
-- X-Forwarded-For (the servers trust 127.0.0.1 as a proxy), so that a server that counts
-- per address (voxpop's allowance of new raters per address, article and day; Isso's
-- one vote per /24) sees many readers, as in real traffic, not one.
--
-- At the end one line for bench/ratings:
--   WRKJSON {"requests", "duration_us", "bytes", "err_*", "p50_us", "p99_us", ..., "sent"}
-- `requests` are the answers wrk received; `sent` the requests it sent (it also counts
-- the ones still in flight when the run stopped, which the server may still carry out).

local lines = {}     -- {method, path, body}
local fixed = {}     -- the same requests, formatted once (used without xff)
local xff = false
sent = 0             -- global: done() reads it from every thread with thread:get

local threads = {}

function setup(thread)
  thread:set("thread_no", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  local file = assert(io.open(args[1], "r"), "cannot open " .. tostring(args[1]))
  for line in file:lines() do
    local method, path, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
    if method then
      table.insert(lines, {method, path, body ~= "" and body or nil})
    end
  end
  file:close()
  assert(#lines > 0, "no requests in " .. args[1])
  xff = args[2] == "xff"
  math.randomseed(os.time() * 1000 + (thread_no or 1))
  for i, r in ipairs(lines) do
    fixed[i] = wrk.format(r[1], r[2], headers_for(r), r[3])
  end
end

function headers_for(r)
  local h = {}
  if r[1] ~= "GET" then
    h["Content-Type"] = "application/json"  -- Isso's CSRF check wants it on every POST
  end
  return h
end

local function random_address()
  -- 1.0.0.0-223.255.255.255 without 10/8 and 127/8 (loopback is the trusted proxy)
  local a = math.random(1, 222)
  if a == 10 or a == 127 then a = a + 1 end
  return string.format("%d.%d.%d.%d", a, math.random(0, 255), math.random(0, 255),
                       math.random(1, 254))
end

function request()
  sent = sent + 1
  local i = math.random(1, #lines)
  if not xff then
    return fixed[i]
  end
  local r = lines[i]
  local h = headers_for(r)
  h["X-Forwarded-For"] = random_address()
  return wrk.format(r[1], r[2], h, r[3])
end

function done(summary, latency, requests)
  local total_sent = 0
  for _, t in ipairs(threads) do
    total_sent = total_sent + (t:get("sent") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"bytes":%d,"err_connect":%d,"err_read":%d,' ..
    '"err_write":%d,"err_status":%d,"err_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"mean_us":%.1f,"sent":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, total_sent))
end
