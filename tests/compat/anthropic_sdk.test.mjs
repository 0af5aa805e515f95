// The official Anthropic TypeScript SDK, pointed at deepgate by changing only baseURL and apiKey,
// as Claude Code and Anthropic SDK users would: /v1/messages through deepgate's keys, limits and
// metrics to a backend that speaks Anthropic's Messages API (the mock, as DeepSeek's
// https://api.deepseek.com/anthropic does).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join, dirname } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { startGateway, stopAll } from './harness.mjs';

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), 'package.json'));
const Anthropic = require('@anthropic-ai/sdk').default ?? require('@anthropic-ai/sdk');

const KEY = 'dg-compat-test-key-0000000000002';
let client;
let badClient;
before(async () => {
  const port = await startGateway([], (mockPort) => `
server: {host: 127.0.0.1, port: 0, workers: 2}
backends:
  - name: deepseek
    url: "http://127.0.0.1:${mockPort}"
    routes: {chat: /chat/completions, messages: /anthropic/v1/messages}
models:
  - {name: deepseek-flash, backend: deepseek}
  - {name: deepseek-v4-pro, backend: deepseek}
auth:
  keys: [{id: compat, owner: compat, key: ${KEY}, models: [deepseek-flash]}]
admin: {port: 0}
`);
  const options = { baseURL: `http://127.0.0.1:${port}`, maxRetries: 0 };
  client = new Anthropic({ ...options, apiKey: KEY });
  badClient = new Anthropic({ ...options, apiKey: 'dg-not-a-real-key-000000' });
});

after(stopAll);

const messages = [{ role: 'user', content: 'Hi, how are you? [mock tokens=6]' }];

test('messages.create', async () => {
  const m = await client.messages.create({ model: 'deepseek-flash', max_tokens: 100, system: 'Be brief.', messages });
  assert.equal(m.type, 'message');
  assert.equal(m.role, 'assistant');
  assert.equal(m.content[0].type, 'text');
  assert.ok(m.content[0].text.length > 0);
  assert.equal(m.stop_reason, 'end_turn');
  assert.equal(m.usage.output_tokens, 6);
});

test('streaming with the helper assembles the same message', async () => {
  const whole = await client.messages.create({ model: 'deepseek-flash', max_tokens: 100, system: 'Be brief.', messages });
  const stream = client.messages.stream({ model: 'deepseek-flash', max_tokens: 100, system: 'Be brief.', messages });
  let text = '';
  stream.on('text', (t) => {
    text += t;
  });
  const final = await stream.finalMessage();
  assert.equal(final.content[0].text, whole.content[0].text);
  assert.equal(text, whole.content[0].text);
  assert.equal(final.usage.output_tokens, 6);
  assert.equal(final.stop_reason, 'end_turn');
});

test('raw stream events arrive in Anthropic order', async () => {
  const stream = await client.messages.create({ model: 'deepseek-flash', max_tokens: 100, messages, stream: true });
  const types = [];
  for await (const event of stream) types.push(event.type);
  assert.equal(types[0], 'message_start');
  assert.equal(types.at(-1), 'message_stop');
  assert.ok(types.includes('content_block_delta'));
  assert.ok(types.includes('message_delta'));
});

test('count_tokens', async () => {
  const r = await client.messages.countTokens({ model: 'deepseek-flash', messages });
  assert.ok(r.input_tokens > 0);
});

test('errors map to the SDK error classes', async () => {
  await assert.rejects(badClient.messages.create({ model: 'deepseek-flash', max_tokens: 10, messages }),
    (e) => e instanceof Anthropic.AuthenticationError && e.status === 401 && e.error?.error?.type === 'authentication_error');
  // A model the key may not use is refused by deepgate, whatever name mapping the backend does.
  await assert.rejects(client.messages.create({ model: 'claude-opus-4-1', max_tokens: 10, messages }),
    (e) => e instanceof Anthropic.NotFoundError && e.error?.error?.type === 'not_found_error');
  await assert.rejects(client.messages.create({ model: 'deepseek-v4-pro', max_tokens: 10, messages }),
    (e) => e instanceof Anthropic.NotFoundError);
  await assert.rejects(client.messages.create({ model: 'deepseek-flash', max_tokens: 10, messages: [] }),
    (e) => e instanceof Anthropic.BadRequestError && e.error?.error?.type === 'invalid_request_error');
  await assert.rejects(client.messages.create({ model: 'deepseek-flash', max_tokens: 10, messages: [{ role: 'user', content: '[mock status=429]' }] }),
    (e) => e instanceof Anthropic.RateLimitError);
});

test('a stream cut by the backend raises', async () => {
  const stream = await client.messages.create({ model: 'deepseek-flash', max_tokens: 100, stream: true,
    messages: [{ role: 'user', content: 'cut [mock no_done=1]' }] });
  await assert.rejects(
    (async () => {
      for await (const _ of stream);
    })(),
    (e) => e instanceof Anthropic.APIError,
  );
});
