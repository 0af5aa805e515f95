-- wrk: POST a chat completion; BENCH_STREAM=1 asks for a stream.
local stream = os.getenv("BENCH_STREAM") == "1"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer dg-bench-key-0000000000000000"  -- deepgate's bench key; others ignore it
wrk.body = '{"model":"deepseek-chat","stream":' .. (stream and "true" or "false") ..
           ',"messages":[{"role":"user","content":"benchmark prompt"}]}'
