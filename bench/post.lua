-- wrk: POST a chat completion; BENCH_STREAM=1 asks for a stream, BENCH_TEMPERATURE sets a
-- temperature (0 makes the request deterministic, so deepgate's cache may answer it).
local stream = os.getenv("BENCH_STREAM") == "1"
local temperature = os.getenv("BENCH_TEMPERATURE")
local content = os.getenv("BENCH_CONTENT") or "benchmark prompt"  -- e.g. "slow [mock tps=4 tokens=16]"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer dg-bench-key-0000000000000000"  -- deepgate's bench key; others ignore it
wrk.body = '{"model":"deepseek-flash","thinking":{"type":"disabled"},"stream":' .. (stream and "true" or "false") ..
           (temperature and (',"temperature":' .. temperature) or "") ..
           ',"messages":[{"role":"user","content":"' .. content .. '"}]}'
