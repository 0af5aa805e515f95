// What the SDK compatibility tests share: start deepgate-mock and deepgate (the binaries ctest
// names in DEEPGATE_BIN / DEEPGATE_MOCK_BIN) on free ports, and stop them after.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const children = [];

function start(bin, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${bin} did not start:\n${out}`)), 10000);
    const onData = (d) => {
      out += d;
      const m = out.match(/listening on [^\s]*:(\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${bin} exited ${code}:\n${out}`)));
  });
}

// Starts the mock with `mockArgs`, then deepgate with the config `config(mockPort)` returns.
// Resolves to deepgate's port.
export async function startGateway(mockArgs, config) {
  const gateway = process.env.DEEPGATE_BIN;
  const mock = process.env.DEEPGATE_MOCK_BIN;
  if (!gateway || !mock) throw new Error('DEEPGATE_BIN and DEEPGATE_MOCK_BIN must be set (ctest sets them)');
  const mockPort = await start(mock, ['--port', '0', ...mockArgs]);
  const dir = mkdtempSync(join(tmpdir(), 'deepgate-compat-'));
  writeFileSync(join(dir, 'deepgate.yaml'), config(mockPort));
  return start(gateway, ['--config', join(dir, 'deepgate.yaml')]);
}

export function stopAll() {
  for (const c of children) c.kill('SIGTERM');
}
