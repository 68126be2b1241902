-- wrk script for bench/run.sh: POSTs one MCP message over and over.
--
-- Everything comes from the environment so one script serves every run:
--   BENCH_BODY              the JSON-RPC message (required)
--   BENCH_SESSION           Mcp-Session-Id (legacy era)
--   BENCH_PROTOCOL_VERSION  MCP-Protocol-Version
--   BENCH_MCP_METHOD        Mcp-Method (modern era)
--   BENCH_MCP_NAME          Mcp-Name (modern era)
--   BENCH_AUTHORIZATION     Authorization (runs with authentication on)
-- `done` prints one machine-readable BENCH_RESULT line (latencies in µs).

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY") or error("BENCH_BODY is not set")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"

local function header(env, name)
  local v = os.getenv(env)
  if v ~= nil and v ~= "" then
    wrk.headers[name] = v
  end
end
header("BENCH_SESSION", "Mcp-Session-Id")
header("BENCH_PROTOCOL_VERSION", "MCP-Protocol-Version")
header("BENCH_MCP_METHOD", "Mcp-Method")
header("BENCH_MCP_NAME", "Mcp-Name")
header("BENCH_AUTHORIZATION", "Authorization")

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d socket_errors=%d non2xx=%d\n",
    summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
