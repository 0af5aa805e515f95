// The official openai npm SDK, pointed at deepgate by changing only baseURL and apiKey.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startGateway, stopAll } from './harness.mjs';

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), 'package.json'));
const OpenAI = require('openai').default ?? require('openai');

// What a stream said: its content and reasoning, the usage chunk, the last finish reason.
async function collect(stream) {
  let content = '';
  let reasoning = '';
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const c = chunk.choices[0];
    if (!c) continue;
    content += c.delta.content ?? '';
    reasoning += c.delta.reasoning_content ?? '';
    finish = c.finish_reason ?? finish;
  }
  return { content, reasoning, usage, finish };
}

const KEY = 'dg-compat-test-key-0000000000001';
let client;
let badClient;
before(async () => {
  const port = await startGateway(['--models', 'deepseek-flash,deepseek-v4-pro,bge-m3'], (mockPort) => `
server: {host: 127.0.0.1, port: 0, workers: 2}
backends: [{name: mock, url: "http://127.0.0.1:${mockPort}"}]
models:
  - {name: deepseek-flash, backend: mock}
  - {name: deepseek-v4-pro, backend: mock}
  - {name: deepseek-chat, backend: mock, upstream_model: deepseek-flash, set: {thinking: {type: disabled}}}
  - {name: deepseek-reasoner, backend: mock, upstream_model: deepseek-flash, set: {thinking: {type: enabled}}}
  - {name: bge-m3, backend: mock}
cache:
  models: {deepseek-v4-pro: always}
auth:
  keys: [{id: compat, owner: compat, key: ${KEY}}]
admin: {port: 0}
`);
  client = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: KEY, maxRetries: 0 });
  badClient = new OpenAI({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: 'dg-not-a-real-key-000000', maxRetries: 0 });
});

after(stopAll);

// The SDK asks for base64 unless told otherwise, and decodes it to numbers: both forms, one answer.
test('embeddings, as base64 (the SDK default) and as floats', async () => {
  const input = ['a first text', 'and a second'];
  const b64 = await client.embeddings.create({ model: 'bge-m3', input, dimensions: 12 });
  assert.equal(b64.object, 'list');
  assert.equal(b64.data.length, 2);
  assert.equal(b64.data[0].embedding.length, 12);
  assert.equal(typeof b64.data[0].embedding[0], 'number');
  assert.ok(b64.usage.prompt_tokens > 0);
  const floats = await client.embeddings.create({ model: 'bge-m3', input, dimensions: 12, encoding_format: 'float' });
  for (let i = 0; i < 12; i++) assert.ok(Math.abs(floats.data[1].embedding[i] - b64.data[1].embedding[i]) < 1e-6);
  await assert.rejects(client.embeddings.create({ model: 'bge-m3', input: [] }), (e) => e instanceof OpenAI.BadRequestError);
});

test('chat completion', async () => {
  const r = await client.chat.completions.create({
    model: 'deepseek-flash',
    messages: [{ role: 'user', content: 'Hello from the SDK' }],
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(r.choices[0].message.content.length > 0);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.equal(typeof r.usage.prompt_cache_hit_tokens, 'number');
});

test('streamed chat completion with usage and reasoning', async () => {
  const stream = await client.chat.completions.create({
    model: 'deepseek-v4-pro',
    messages: [{ role: 'user', content: 'Think, then answer [mock tokens=6]' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  const { content, reasoning, usage, finish } = await collect(stream);
  assert.ok(content.length > 0);
  assert.ok(reasoning.length > 0);
  assert.equal(finish, 'stop');
  assert.ok(usage && usage.completion_tokens_details.reasoning_tokens > 0);
});

test('the stream helper assembles the same answer as a non-stream call', async () => {
  const messages = [{ role: 'user', content: 'same answer both ways' }];
  const whole = await client.chat.completions.create({ model: 'deepseek-flash', messages });
  const runner = client.chat.completions.stream({ model: 'deepseek-flash', messages });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].message.content, whole.choices[0].message.content);
});

test('a wrong key maps to AuthenticationError', async () => {
  await assert.rejects(
    badClient.chat.completions.create({ model: 'deepseek-flash', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401 && e.code === 'invalid_api_key',
  );
});

test('unknown model maps to NotFoundError', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-5', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && e.code === 'model_not_found',
  );
});

test('invalid parameter maps to BadRequestError naming the param', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'deepseek-flash', messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'messages',
  );
});

test('DeepSeek 429 maps to RateLimitError', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'deepseek-flash', messages: [{ role: 'user', content: '[mock status=429]' }] }),
    (e) => e instanceof OpenAI.RateLimitError && e.status === 429,
  );
});

test('a failure after the stream started raises instead of returning half an answer', async () => {
  const stream = await client.chat.completions.create({
    model: 'deepseek-flash',
    messages: [{ role: 'user', content: '[mock tokens=6 reset_after=3]' }],
    stream: true,
  });
  let received = 0;
  await assert.rejects(
    (async () => {
      for await (const _ of stream) received++;
    })(),
    (e) => e instanceof OpenAI.APIError,
  );
  assert.ok(received >= 1);
});

test('a cache hit replayed as a stream reads like a live one (content, reasoning, tool calls, usage)', async () => {
  const messages = [{ role: 'user', content: 'cache me for the SDK [mock tokens=8]' }];
  // A thinking answer is sampled whatever its temperature: cached here only because the config
  // says always for this model.
  const live = await client.chat.completions.create({ model: 'deepseek-v4-pro', temperature: 0, messages });
  const { data: stream, response } = await client.chat.completions
    .create({ model: 'deepseek-v4-pro', temperature: 0, messages, stream: true, stream_options: { include_usage: true } })
    .withResponse();
  assert.equal(response.headers.get('x-deepgate-cache'), 'hit');
  const { content, reasoning, usage, finish } = await collect(stream);
  assert.equal(content, live.choices[0].message.content);
  assert.equal(reasoning, live.choices[0].message.reasoning_content);
  assert.equal(finish, 'stop');
  assert.equal(usage.prompt_tokens_details.cached_tokens, live.usage.prompt_tokens);

  // The stream helper assembles a replayed tool call into the same message (the legacy name:
  // deepseek-flash with thinking off, so temperature 0 is deterministic).
  const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } }];
  const tm = [{ role: 'user', content: 'call the tool, cached' }];
  const first = await client.chat.completions.create({ model: 'deepseek-chat', temperature: 0, messages: tm, tools });
  const runner = client.chat.completions.stream({ model: 'deepseek-chat', temperature: 0, messages: tm, tools });
  const final = await runner.finalChatCompletion();
  assert.equal(final.choices[0].finish_reason, 'tool_calls');
  assert.deepEqual(final.choices[0].message.tool_calls.map((t) => [t.id, t.function.name, t.function.arguments]),
    first.choices[0].message.tool_calls.map((t) => [t.id, t.function.name, t.function.arguments]));
});

test('completions with a suffix (FIM), whole and streamed', async () => {
  const whole = await client.completions.create({ model: 'deepseek-flash', prompt: 'def fib(a):', suffix: '    return fib(a-1) + fib(a-2)', max_tokens: 16 });
  assert.equal(whole.object, 'text_completion');
  assert.ok(whole.choices[0].text.length > 0);
  assert.equal(whole.usage.total_tokens, whole.usage.prompt_tokens + whole.usage.completion_tokens);
  const stream = await client.completions.create({ model: 'deepseek-flash', prompt: 'def fib(a):', suffix: '    return fib(a-1) + fib(a-2)', max_tokens: 16, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, whole.choices[0].text);
  await assert.rejects(client.completions.create({ model: 'deepseek-flash', prompt: 'x', logprobs: 50 }),
    (e) => e instanceof OpenAI.UnprocessableEntityError && e.param === 'logprobs');
});

test('responses, whole, streamed and with the stream helper', async () => {
  const whole = await client.responses.create({ model: 'deepseek-flash', input: 'Say hello [mock tokens=5]', instructions: 'Be brief.' });
  assert.equal(whole.object, 'response');
  assert.equal(whole.status, 'completed');
  assert.ok(whole.output_text.length > 0);
  assert.equal(whole.usage.output_tokens, 5);
  const stream = await client.responses.create({ model: 'deepseek-flash', input: 'Say hello [mock tokens=5]', instructions: 'Be brief.', stream: true });
  const types = [];
  let text = '';
  let completed = null;
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === 'response.output_text.delta') text += event.delta;
    if (event.type === 'response.completed') completed = event.response;
  }
  assert.equal(types[0], 'response.created');
  assert.equal(types.at(-1), 'response.completed');
  assert.equal(text, whole.output_text);
  assert.equal(completed.usage.total_tokens, whole.usage.total_tokens);
  const final = await client.responses.stream({ model: 'deepseek-flash', input: 'Say hello [mock tokens=5]', instructions: 'Be brief.' }).finalResponse();
  assert.equal(final.output_text, whole.output_text);
  await assert.rejects(client.responses.create({ model: 'deepseek-flash', input: 'more', previous_response_id: whole.id }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'previous_response_id');
});

test('a Responses stream cut by the backend raises', async () => {
  const stream = await client.responses.create({ model: 'deepseek-flash', input: 'cut [mock no_done=1]', stream: true });
  await assert.rejects(
    (async () => {
      for await (const _ of stream);
    })(),
    (e) => e instanceof OpenAI.APIError,
  );
});
