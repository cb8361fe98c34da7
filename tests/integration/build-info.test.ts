import fs from 'node:fs';
import type { CapabilityStatement } from '@medplum/fhirtypes';
import packageJson from '../../package.json';
import { openConsole } from '../helpers/console-client';
import { cleanupTestEnv, startTestApp, useTestApp } from '../helpers/test-runtime';

/** As `docker build --build-arg JEUGDBRUG_BUILD_COMMIT=$(git rev-parse HEAD)` bakes it into the image. */
const COMMIT = '3f2c9e1ab04d5c6e7f8091a2b3c4d5e6f7a8b9c0';
const LABEL = `${packageJson.version}+3f2c9e1ab04d`;

describe('which build is running, where an operator looks', () => {
  const app = useTestApp({ env: { JEUGDBRUG_BUILD_COMMIT: COMMIT.toUpperCase() } });

  it('names the version and commit in the CapabilityStatement, which FHIR clients read before logging in', async () => {
    const res = await app.request('/fhir/metadata', { key: null });
    expect(res.status).toBe(200);
    const statement = (await res.json()) as CapabilityStatement;
    expect(statement.software).toEqual({ name: 'jeugdbrug', version: LABEL });
  });

  it('exports jeugdbrug_build_info{version,commit,node,role} = 1, the *_build_info of every Prometheus exporter', async () => {
    const text = await (await fetch(`${app.url}/metrics`)).text();
    expect(text).toContain('# TYPE jeugdbrug_build_info gauge');
    const lines = text.split('\n').filter((l) => l.startsWith('jeugdbrug_build_info{'));
    expect(lines).toEqual([
      `jeugdbrug_build_info{version="${packageJson.version}",commit="${COMMIT}",node="${process.version}",role="all"} 1`,
    ]);
  });

  it('answers the liveness probe with the build, the same for every process of one image', async () => {
    const res = await app.request('/health/live', { key: null });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok', version: packageJson.version, commit: COMMIT });
  });

  it('gives the OpenAPI document the build as info.version', async () => {
    const doc = (await (await app.request('/openapi.json', { key: null })).json()) as { info: { version: string } };
    expect(doc.info.version).toBe(LABEL);
  });

  it('logs the version and commit in the first line of start-up, before anything can fail', () => {
    const first = JSON.parse(fs.readFileSync(app.testEnv.logFile, 'utf8').split('\n')[0]!) as Record<string, unknown>;
    expect(first).toMatchObject({
      msg: 'starting',
      version: packageJson.version,
      commit: COMMIT,
      node: process.version,
      role: 'all',
    });
  });

  it("shows an operator the build on the console's configuration page", async () => {
    const operator = await openConsole(app, 'operator');
    const page = await (await operator.get('/console/operator/configuration')).text();
    expect(page).toContain(`jeugdbrug ${packageJson.version}, commit ${COMMIT}`);
  });
});

describe('which build a worker is, which has no API', () => {
  it('says so on its METRICS_PORT: liveness and jeugdbrug_build_info', async () => {
    const worker = await startTestApp({ env: { JEUGDBRUG_BUILD_COMMIT: COMMIT, ROLE: 'worker', METRICS_PORT: '0' } });
    try {
      const live = await fetch(`${worker.url}/health/live`);
      expect(await live.json()).toEqual({ status: 'ok', version: packageJson.version, commit: COMMIT });
      const metrics = await (await fetch(`${worker.url}/metrics`)).text();
      expect(metrics).toContain(`jeugdbrug_build_info{version="${packageJson.version}",commit="${COMMIT}",`);
      // The alert JeugdbrugNoWorker pages when no process reports a role other than api (report-drill M3).
      expect(metrics).toContain(`node="${process.version}",role="worker"} 1`);
    } finally {
      await worker.close();
      await cleanupTestEnv(worker.testEnv);
    }
  });
});
