import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { exited, freePort, waitForLogLine, waitForReady } from '../../helpers/product-process';

describe('freePort', () => {
  it('gives a port below the range the kernel uses for outgoing connections, free to listen on', async () => {
    const rangeStart = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const port = await freePort();
    expect(port).toBeGreaterThanOrEqual(1024);
    expect(port).toBeLessThan(rangeStart);
    const srv = net.createServer();
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, '127.0.0.1', resolve);
    });
    await new Promise((r) => srv.close(r));
  });
});

describe('waitForReady', () => {
  it('fails at once with the end of the log when the process ends before it is ready', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wait-ready-'));
    const logFile = path.join(dir, 'out.log');
    fs.writeFileSync(logFile, 'Error: listen EADDRINUSE: address already in use\n');
    const child = spawn(process.execPath, ['-e', 'process.exit(3)'], { stdio: 'ignore' });
    try {
      // Allowed 60 s, so waiting out the deadline would overrun Jest's 5 s test timeout and fail the test.
      await expect(waitForReady(`http://127.0.0.1:${await freePort()}`, child, logFile, 60_000)).rejects.toThrow(
        /ended \(3\).*\n.*EADDRINUSE/s,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('waitForLogLine', () => {
  it('waits for the line the process logs, and fails at once with the end of its log when the process ends first', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wait-line-'));
    const logOf = (name: string) => path.join(dir, `${name}.log`);
    const write = (name: string, msg: string) =>
      `require('fs').appendFileSync(${JSON.stringify(logOf(name))}, JSON.stringify({ msg: ${JSON.stringify(msg)} }) + '\\n')`;
    const node = (code: string) => spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
    const logs = node(`setTimeout(() => ${write('logs', 'workers started')}, 300); setTimeout(() => {}, 20000)`);
    const ends = node(`${write('ends', 'start-up failed')}; process.exit(1)`);
    try {
      await waitForLogLine(logs, logOf('logs'), 'workers started', 20_000);
      // Allowed 60 s, so waiting out the deadline would overrun the test's timeout and fail the test.
      await expect(waitForLogLine(ends, logOf('ends'), 'workers started', 60_000)).rejects.toThrow(
        /ended \(1\).*\n.*start-up failed/s,
      );
    } finally {
      logs.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('exited', () => {
  it('resolves for a process a signal ended, also when asked after its end', async () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 20000)'], { stdio: 'ignore' });
    child.kill('SIGKILL');
    expect(await exited(child)).toBeNull();
    // Asked again once it has ended, as an afterAll does for a worker a test killed already.
    expect(await exited(child)).toBeNull();
  }, 10_000);
});
