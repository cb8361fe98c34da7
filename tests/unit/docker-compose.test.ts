import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import packageJson from '../../package.json';
import { configSchema } from '../../src/kernel/config';
import { START_NODE_FLAGS } from '../helpers/product-process';

/**
 * No Docker engine runs where the tests run, so the compose files are checked by reading them: what each would get
 * wrong at `docker compose up` (a setting the product does not know, a worker whose health check asks a port it
 * does not open, a destination pointing at the container itself) fails here instead.
 */

interface Service {
  build?: { context: string; dockerfile: string; args?: Record<string, string> };
  environment?: Record<string, string>;
  volumes?: string[];
  healthcheck?: { test: string[] };
  command?: string[];
}

const DOCKER = path.join(__dirname, '../../docker');
const COMPOSE_FILES = fs.readdirSync(DOCKER).filter((f) => /^compose.*\.ya?ml$/.test(f));
const servicesOf = (file: string): Record<string, Service> =>
  (parse(fs.readFileSync(path.join(DOCKER, file), 'utf8'), { merge: true }) as { services: Record<string, Service> })
    .services;
/** The services running the product (built from the image, started with its default command). */
const productServices = (file: string): [string, Service][] =>
  Object.entries(servicesOf(file)).filter(([, s]) => s.environment?.ROLE !== undefined);

const SETTINGS = new Set(Object.keys(configSchema.shape));

describe.each(COMPOSE_FILES)('docker/%s', (file) => {
  it('runs an API and workers', () => {
    const roles = productServices(file).map(([, s]) => s.environment?.ROLE);
    expect(roles).toEqual(expect.arrayContaining(['api', 'worker']));
  });

  it('sets only settings the product knows (OTEL_* are OpenTelemetry’s own)', () => {
    for (const [, s] of productServices(file)) {
      const unknown = Object.keys(s.environment ?? {}).filter((k) => !SETTINGS.has(k) && !k.startsWith('OTEL_'));
      expect(unknown).toEqual([]);
    }
  });

  it("gives each worker a health check on its own METRICS_PORT, since it opens no API port for the image's", () => {
    for (const [, s] of productServices(file).filter(([, s]) => s.environment?.ROLE === 'worker')) {
      const port = s.environment?.METRICS_PORT;
      expect(port).toMatch(/^\d+$/);
      expect(s.healthcheck?.test.join(' ')).toContain(`127.0.0.1:${port}/health/live`);
    }
  });

  it('passes the commit to every image it builds, which says "unknown" when the shell did not set it', () => {
    const built = Object.values(servicesOf(file)).filter((s) => s.build !== undefined);
    expect(built.length).toBeGreaterThan(2);
    for (const s of built) {
      expect(s.build).toMatchObject({ dockerfile: 'docker/Dockerfile' });
      expect(s.build?.args).toEqual({ JEUGDBRUG_BUILD_COMMIT: '${JEUGDBRUG_BUILD_COMMIT:-}' });
    }
  });

  it('delivers to a service of the stack, not to 127.0.0.1, which is the container itself', () => {
    const services = servicesOf(file);
    for (const [, s] of productServices(file)) {
      const overlays = (s.volumes ?? []).filter((v) => v.startsWith('./config/'));
      expect(overlays.map((v) => v.split(':')[1])).toEqual(['/config/destinations', '/config/practices']);
      expect(s.environment?.PUBLIC_BASE_URL).toBeDefined();
    }
    for (const dir of ['destinations', 'practices']) {
      for (const f of fs.readdirSync(path.join(DOCKER, 'config', dir))) {
        const text = fs.readFileSync(path.join(DOCKER, 'config', dir, f), 'utf8');
        const hosts = [...text.matchAll(/https?:\/\/([^:/"]+)/g)].map((m) => m[1]!);
        expect(hosts.length).toBeGreaterThan(0);
        for (const host of hosts) {
          expect(Object.keys(services)).toContain(host);
        }
      }
    }
  });
});

describe('docker/Dockerfile', () => {
  const dockerfile = fs.readFileSync(path.join(DOCKER, 'Dockerfile'), 'utf8');
  // ARG, ENV and LABEL hold for the stage they are in: the image is the last one.
  const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const instructions = runtime
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .filter((l) => /^[A-Z]+ /.test(l));

  it('bakes the commit it is built from into the image, where the product reads it as a setting', () => {
    expect(instructions).toContain('ARG JEUGDBRUG_BUILD_COMMIT=');
    expect(instructions).toContain('ENV JEUGDBRUG_BUILD_COMMIT=${JEUGDBRUG_BUILD_COMMIT}');
    expect(SETTINGS.has('JEUGDBRUG_BUILD_COMMIT')).toBe(true);
  });

  it("runs the server with npm start's Node flags, which the tests and benches start the product with", () => {
    const cmd = instructions.find((l) => l.startsWith('CMD '));
    expect(JSON.parse(cmd!.slice('CMD '.length))).toEqual(['node', ...START_NODE_FLAGS, 'dist/src/main.js']);
    expect(packageJson.scripts.start).toBe(`exec node ${START_NODE_FLAGS.join(' ')} --import tsx src/main.ts`);
  });

  it("labels the image with the OCI version (package.json's) and revision", () => {
    expect(instructions).toContain(`ARG JEUGDBRUG_VERSION=${packageJson.version}`);
    const label = instructions.find((l) => l.startsWith('LABEL '));
    expect(label).toContain('org.opencontainers.image.version="${JEUGDBRUG_VERSION}"');
    expect(label).toContain('org.opencontainers.image.revision="${JEUGDBRUG_BUILD_COMMIT}"');
  });
});
