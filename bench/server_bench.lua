-- server_bench.lua: wrk script for bench/server_bench.sh.
-- POSTs the JSON body in the file $SUTRA_BENCH_BODY to the URL wrk was given (/v1/embeddings) and,
-- when wrk is done, prints one machine-readable line:
--   SUTRA_RESULT requests=N seconds=S rps=R p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.. non2xx=.. errors=..
local path = os.getenv("SUTRA_BENCH_BODY")
if not path then
  io.stderr:write("server_bench.lua: set SUTRA_BENCH_BODY to the request body file\n")
  os.exit(2)
end
local f = assert(io.open(path, "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("SUTRA_BENCH_API_KEY")
if key and key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end

done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    "SUTRA_RESULT requests=%d seconds=%.3f rps=%.2f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f " ..
    "non2xx=%d errors=%d\n",
    summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.status, e.connect + e.read + e.write + e.timeout))
end
