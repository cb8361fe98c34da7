import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import vm from 'node:vm';
import express from 'express';
import ts from 'typescript';
import { getAdapter } from '../../mappings/municipality/index';
import { buildDestination } from '../helpers/builders';
import { DeliveryReceiver } from '../helpers/delivery-receiver';

/**
 * The probe of a paused destination asks whether a delivery could get through now. A delivery counts 404, 405 and
 * 410 as the route missing at the receiver (retried, towards a pause: contracts/delivery-errors.ts), so the probe
 * may not count the same answer on the same route as "up": the destination would go half-open at every probe, and
 * its trial delivery fail and pause it again.
 */
describe('the HEAD probe of a paused webhook or iSamenleving destination', () => {
  const receiver = new DeliveryReceiver();
  beforeAll(async () => {
    await receiver.start();
  });
  afterAll(async () => {
    await receiver.stop();
  });

  const probe = (adapter: 'webhook' | 'isamenleving') =>
    getAdapter(adapter).probe(
      buildDestination(receiver.url('/api'), {
        adapter,
        auth: adapter === 'webhook' ? { type: 'hmac', secretEnv: 'UNUSED_IN_A_PROBE' } : { type: 'none' },
      }),
      2000,
    );

  it.each([
    [200, true],
    [204, true],
    // HEAD on a route that takes only the POST a delivery sends: the route is there.
    [405, true],
    // The route is missing: every delivery to it would get the same answer.
    [404, false],
    [410, false],
    [401, false],
    [403, false],
    [429, false],
    [503, false],
  ])('answered %i, counts as up: %s', async (status, up) => {
    receiver.probeStatus = status;
    for (const adapter of ['webhook', 'isamenleving'] as const) {
      const result = await probe(adapter);
      expect({ adapter, up: result.up, detail: result.detail }).toEqual({
        adapter,
        up,
        detail: `HEAD HTTP ${status}`,
      });
    }
  });

  it('asks the route a referral is delivered to', async () => {
    receiver.probeStatus = 200;
    await probe('webhook');
    expect(receiver.probes.at(-1)).toEqual(expect.objectContaining({ method: 'HEAD', path: '/api' }));
    // Not the base URL, which an API of several routes may well answer 404.
    await probe('isamenleving');
    expect(receiver.probes.at(-1)).toEqual(expect.objectContaining({ method: 'HEAD', path: '/api/aanmeldingen' }));
  });
});

/**
 * A receiver written with Express, as docs/delivery.md's example is. Express answers HEAD only on a GET route, so a
 * POST-only route answered the probe 404 ("route missing"), and a destination paused while it was away was never
 * resumed by the probe, though it took every POST again.
 */
describe('the probe of a webhook receiver made with Express', () => {
  const SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
  const servers: http.Server[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  });

  /** Serves `app` on a free port of 127.0.0.1; its base URL. */
  async function serve(app: http.RequestListener): Promise<string> {
    const server = http.createServer(app);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  const probeWebhook = (url: string) =>
    getAdapter('webhook').probe(
      buildDestination(url, { adapter: 'webhook', auth: { type: 'hmac', secretEnv: 'UNUSED_IN_A_PROBE' } }),
      2000,
    );

  /** docs/delivery.md's Express receiver, as written there, compiled and run; its `app`. */
  function docsExampleApp(): http.RequestListener {
    const docs = readFileSync(path.join(__dirname, '../../docs/delivery.md'), 'utf8');
    const example = /```ts\n(import express[\s\S]*?)```/.exec(docs)?.[1];
    expect(example).toContain("app.post('/jeugdbrug'");
    const js = ts.transpileModule(`${example}\nexports.app = app;\n`, {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    }).outputText;
    const env = { ...process.env, JEUGDBRUG_WEBHOOK_SECRET: SECRET };
    const exported: { app?: http.RequestListener } = {};
    // The documentation's own code, run as written, with the secret it reads from the environment.
    const run = vm.runInThisContext(`(function (require, exports, process) {\n${js}\n})`) as (
      req: NodeJS.Require,
      exports: object,
      proc: object,
    ) => void;
    run(require, exported, { ...process, env });
    return exported.app!;
  }

  it("counts the documentation's example receiver as up", async () => {
    const url = await serve(docsExampleApp());
    const result = await probeWebhook(`${url}/jeugdbrug`);
    expect(result.up).toBe(true);
  });

  it('counts a POST-only route as up by its OPTIONS answer (Allow: POST), and a path it lacks as down', async () => {
    const app = express();
    app.post('/hook', (_req, res) => {
      res.status(200).end();
    });
    const url = await serve(app);
    expect(await probeWebhook(`${url}/hook`)).toEqual({ up: true, detail: 'HEAD HTTP 404, OPTIONS allows POST' });
    // The base URL is wrong: nothing there takes a POST, and every delivery would be refused.
    expect(await probeWebhook(`${url}/elsewhere`)).toEqual({ up: false, detail: 'HEAD HTTP 404' });
  });
});
