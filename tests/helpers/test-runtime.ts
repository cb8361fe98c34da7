import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from '../../src/kernel/config';
import { buildRegistry, type Registry } from '../../src/event/registry';
import type { Destination } from '../../src/contracts/destination';
import { createApiKeyEntry, writeApiKeyFile, type ApiKeyEntry } from '../../src/access/api-keys';
import type { Role } from '../../src/access/principal';
import { createLogger } from '../../src/kernel/logger';
import { startRuntime, type Runtime } from '../../src/runtime';
import {
  buildAgreement,
  buildDestination,
  buildNamedAgreements,
  MUNICIPALITY,
  OTHER_PRACTICE_AGB,
  PRACTICE_AGB,
} from './builders';
import { TEST_REDIS_URL, trackQueuePrefix } from './queue-prefixes';
import { TestReceiver } from './receiver';

export { TEST_REDIS_URL };
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';

export type KeyName =
  | 'practice'
  | 'otherPractice'
  | 'municipality'
  | 'otherMunicipality'
  | 'auditor'
  | 'operator'
  // An operator of the other practice only: what it may list and act on ends at its practice scope.
  | 'otherOperator'
  /** An operator of the other practice and municipality GM0344 only ("ops-gelderland" of the README, elsewhere). */
  | 'otherMunicipalityOperator'
  /** A practice's privacy officer: an auditor of the practice alone, no municipality. */
  | 'practiceAuditor'
  /** The privacy officer of municipality GM0344 (`otherMunicipality`): an auditor of that municipality alone. */
  | 'otherMunicipalityAuditor';

/** Isolation for one test file: its own PostgreSQL schema, queue prefix, data directory and API keys. */
export interface TestEnv {
  readonly schema: string;
  readonly prefix: string;
  readonly dataDir: string;
  readonly apiKeysFile: string;
  readonly keys: Record<KeyName, string>;
  readonly logFile: string;
  /** The environment a product process needs to join this test's storage and queues. */
  readonly env: Record<string, string>;
}

/**
 * `n` random lower-case letters, for test schemas and queue prefixes: no-personal-data.test.ts scans all of Redis for
 * nine digits that pass the BSN check, and a hex id (another test file's queue prefix, `{t348485700e}`) held such a
 * run now and then.
 */
export function randomLetters(n: number): string {
  return [...randomBytes(n)].map((b) => String.fromCharCode(97 + (b % 26))).join('');
}

/**
 * A queue prefix of this test file's own (`{t…}`, random letters), noted so that the file fails when it leaves a key
 * under it in the shared Redis (queue-keys-environment.ts). Every prefix a test makes comes from here.
 */
export function newQueuePrefix(id = randomLetters(10)): string {
  const prefix = `{t${id}}`;
  trackQueuePrefix(prefix);
  return prefix;
}

export function createTestEnv(extra: Record<string, string> = {}): TestEnv {
  const id = randomLetters(10);
  const schema = `t_${id}`;
  const prefix = newQueuePrefix(id);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'jeugdbrug-test-'));
  const apiKeysFile = path.join(dataDir, 'api-keys.json');
  const grants: Record<KeyName, { role: Role; practices?: string[]; municipalities?: string[] }> = {
    practice: { role: 'practice', practices: [PRACTICE_AGB] },
    otherPractice: { role: 'practice', practices: [OTHER_PRACTICE_AGB] },
    municipality: { role: 'municipality', municipalities: [MUNICIPALITY] },
    otherMunicipality: { role: 'municipality', municipalities: ['GM0344'] },
    auditor: { role: 'auditor', practices: ['*'], municipalities: ['*'] },
    operator: { role: 'operator', practices: ['*'], municipalities: ['*'] },
    otherOperator: { role: 'operator', practices: [OTHER_PRACTICE_AGB], municipalities: ['*'] },
    otherMunicipalityOperator: { role: 'operator', practices: [OTHER_PRACTICE_AGB], municipalities: ['GM0344'] },
    practiceAuditor: { role: 'auditor', practices: [PRACTICE_AGB] },
    otherMunicipalityAuditor: { role: 'auditor', municipalities: ['GM0344'] },
  };
  let entries: ApiKeyEntry[] = [];
  const keys = {} as Record<KeyName, string>;
  for (const [name, grant] of Object.entries(grants) as [KeyName, (typeof grants)[KeyName]][]) {
    const created = createApiKeyEntry({ ...grant, id: name.toLowerCase() }, entries);
    entries = created.entries;
    keys[name] = created.key;
  }
  writeApiKeyFile(apiKeysFile, entries);
  const env: Record<string, string> = {
    DATABASE_URL: TEST_DATABASE_URL,
    DATABASE_SCHEMA: schema,
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: prefix,
    DATA_DIR: dataDir,
    API_KEYS_FILE: apiKeysFile,
    DEMO_KEYS: 'false',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'info',
    INBOX_KEYS: `test:${randomBytes(32).toString('base64')}`,
    // Fast retries so failure tests finish in seconds; the production policy is in queues.ts.
    DELIVERY_BACKOFF_BASE_MS: '100',
    DELIVERY_BACKOFF_MAX_MS: '500',
    DELIVERY_MAX_ATTEMPTS: '4',
    DELIVERY_TIMEOUT_MS: '2000',
    RECONCILE_INTERVAL_MS: '3600000',
    RECONCILE_GRACE_MS: '0',
    JOB_LOCK_MS: '2000',
    ...extra,
  };
  return { schema, prefix, dataDir, apiKeysFile, keys, logFile: path.join(dataDir, 'app.log'), env };
}

/**
 * The tests' registry with both test practices named in their agreements (`buildNamedAgreements`), and `destinations`:
 * the auditor console names their chains by those names, and a destination's by its municipality's.
 */
export function namedPracticesRegistry(destinations: readonly Destination[] = []): Registry {
  return buildRegistry({ agreements: buildNamedAgreements(), destinations });
}

export interface TestApp {
  readonly rt: Runtime;
  readonly url: string;
  readonly testEnv: TestEnv;
  /** fetch against the app with the named key (or none). */
  request(pathname: string, init?: RequestInit & { key?: KeyName | null; json?: unknown }): Promise<Response>;
  close(): Promise<void>;
}

interface StartOptions {
  receiverUrl?: string;
  registry?: Registry;
  env?: Record<string, string>;
  testEnv?: TestEnv;
}

/** Starts the product in this process (ROLE=all by default) on this test's storage and queues. */
export async function startTestApp(opts: StartOptions): Promise<TestApp> {
  const testEnv = opts.testEnv ?? createTestEnv(opts.env);
  const config = loadConfig({ ...testEnv.env, ...opts.env });
  const registry =
    opts.registry ??
    buildRegistry({
      agreements: [buildAgreement()],
      destinations: opts.receiverUrl ? [buildDestination(opts.receiverUrl)] : [],
    });
  const logger = createLogger(config.LOG_LEVEL, fs.createWriteStream(testEnv.logFile, { flags: 'a' }));
  const rt = await startRuntime(config, { registry, logger });
  const url = rt.url ?? '';
  return {
    rt,
    url,
    testEnv,
    request(pathname, init = {}) {
      const { key = 'practice', json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (key) {
        headers.set('authorization', `Bearer ${testEnv.keys[key]}`);
      }
      if (json !== undefined) {
        headers.set('content-type', 'application/json');
      }
      return fetch(`${url}${pathname}`, {
        ...rest,
        headers,
        ...(json !== undefined ? { method: rest.method ?? 'POST', body: JSON.stringify(json) } : {}),
      });
    },
    async close() {
      await rt.shutdown();
    },
  };
}

/** Drops the test's schema, queue keys and data directory. */
export async function cleanupTestEnv(testEnv: TestEnv): Promise<void> {
  fs.rmSync(testEnv.dataDir, { recursive: true, force: true });
  await dropSchema(testEnv.schema);
  await deleteQueueKeys(testEnv.prefix);
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
}

/** Deletes every Redis key under a queue prefix (in the tests' shared Redis unless `redisUrl` names another). */
export async function deleteQueueKeys(prefix: string, redisUrl = TEST_REDIS_URL): Promise<void> {
  const redis = new Redis(redisUrl);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) {
      await redis.del(...keys);
    }
  } while (cursor !== '0');
  redis.disconnect();
}

/**
 * For a describe block: the product on this block's own storage and queues, started before its tests and stopped
 * (storage cleaned up) after them. Options that read what an earlier `beforeAll` set (a receiver's url) are given as
 * a function, called when the app starts. The app's members are read inside the tests.
 */
export function useTestApp(opts: StartOptions | (() => StartOptions) = {}): TestApp {
  let started: TestApp | undefined;
  beforeAll(async () => {
    started = await startTestApp(typeof opts === 'function' ? opts() : opts);
  });
  afterAll(async () => {
    await started?.close();
    if (started) {
      await cleanupTestEnv(started.testEnv);
    }
  });
  const app = (): TestApp => {
    if (!started) {
      throw new Error('useTestApp: the app is not started yet (read it inside a test)');
    }
    return started;
  };
  return {
    get rt() {
      return app().rt;
    },
    get url() {
      return app().url;
    },
    get testEnv() {
      return app().testEnv;
    },
    request: (pathname, init) => app().request(pathname, init),
    close: () => app().close(),
  };
}

/**
 * For a describe block: a stand-in municipality receiver and the product delivering to it, started before the
 * block's tests and stopped (storage cleaned up) after them. Read `app` and `receiver` inside the tests.
 */
export function useAppWithReceiver(): { readonly app: TestApp; readonly receiver: TestReceiver } {
  let app: TestApp | undefined;
  let receiver: TestReceiver | undefined;
  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({ receiverUrl: receiver.url });
  });
  afterAll(async () => {
    await app?.close();
    await receiver?.stop();
    if (app) {
      await cleanupTestEnv(app.testEnv);
    }
  });
  return {
    get app(): TestApp {
      if (!app) {
        throw new Error('useAppWithReceiver: the app is not started yet (read it inside a test)');
      }
      return app;
    },
    get receiver(): TestReceiver {
      if (!receiver) {
        throw new Error('useAppWithReceiver: the receiver is not started yet (read it inside a test)');
      }
      return receiver;
    },
  };
}
