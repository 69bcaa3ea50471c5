-- wrk script: POST one fixed form body (BENCH_BODY) to a token endpoint, then print wrk's own
-- counters as one JSON line so run.sh does not have to scrape the human-readable report.
wrk.method = "POST"
wrk.body = assert(os.getenv("BENCH_BODY"), "set BENCH_BODY to the form body")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

function done(summary, latency, requests)
  local e = summary.errors
  -- errors.status is wrk's "Non-2xx or 3xx responses" (every status >= 400); the rest are
  -- socket errors. Latencies are in microseconds.
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"non_2xx_3xx":%d,"connect_errors":%d,'
      .. '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,'
      .. '"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, summary.bytes, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
