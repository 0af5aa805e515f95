-- wrk: the soak's mixed traffic, one request shape after another on each connection: a JSON
-- chat answer, a stream, a cached answer (temperature 0, a few prompts), an embeddings request
-- (cached too after its first), an Anthropic message.
local n = 0
local shapes = {
  '{"model":"deepseek-flash","thinking":{"type":"disabled"},"messages":[{"role":"user","content":"soak %d"}]}',
  '{"model":"deepseek-flash","thinking":{"type":"disabled"},"stream":true,"messages":[{"role":"user","content":"soak stream %d [mock tokens=20]"}]}',
  '{"model":"deepseek-flash","thinking":{"type":"disabled"},"temperature":0,"messages":[{"role":"user","content":"cached %d"}]}',
  '{"model":"bge-m3","input":"soak embedding %d"}',
  '{"model":"deepseek-flash","max_tokens":64,"messages":[{"role":"user","content":"soak message %d"}]}',
}
local paths = {"/v1/chat/completions", "/v1/chat/completions", "/v1/chat/completions", "/v1/embeddings", "/v1/messages"}
request = function()
  n = n + 1
  local i = n % #shapes + 1
  local body = string.format(shapes[i], i == 3 and (n % 7) or n)
  return wrk.format("POST", paths[i], {["Content-Type"] = "application/json",
                                       ["Authorization"] = "Bearer dg-bench-key-0000000000000000"}, body)
end
