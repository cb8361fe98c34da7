import type { Logger } from 'pino';
import { DatabaseError } from 'pg';
import { DependencyUnavailableError, isOutageError, OutageLog, withTimeout } from '../../../src/kernel/outage';

const withCode = (code: string, message = 'x'): Error => Object.assign(new Error(message), { code });

describe('isOutageError: a dependency away is an outage (503), anything else is not', () => {
  it.each<[string, unknown]>([
    ['PostgreSQL admin shutdown (57P01)', withCode('57P01', 'terminating connection due to administrator command')],
    ['PostgreSQL starting up (57P03)', withCode('57P03', 'the database system is starting up')],
    ['a connection exception (08006)', withCode('08006')],
    ['connection refused', withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')],
    ['pg: Connection terminated unexpectedly', new Error('Connection terminated unexpectedly')],
    ['pg-pool: connect timeout', new Error('timeout exceeded when trying to connect')],
    ['ioredis: Connection is closed.', new Error('Connection is closed.')],
    ['several addresses refused (AggregateError)', new AggregateError([withCode('ECONNREFUSED')], '')],
    ['our own Redis timeout', new DependencyUnavailableError('redis', 'enqueue map: no answer within 1000 ms')],
  ])('is an outage: %s', (_name, err) => {
    expect(isOutageError(err)).toBe(true);
  });

  it.each<[string, unknown]>([
    ['a unique violation (23505)', withCode('23505', 'duplicate key value violates unique constraint')],
    ['invalid byte sequence (22021)', withCode('22021', 'invalid byte sequence for encoding "UTF8": 0x00')],
    ['a syntax error (42601)', withCode('42601')],
    ['a plain bug', new TypeError('Cannot read properties of undefined')],
    ['nothing', undefined],
  ])('is not an outage: %s', (_name, err) => {
    expect(isOutageError(err)).toBe(false);
  });

  it('turns a call that does not answer in time into a DependencyUnavailableError', async () => {
    await expect(withTimeout(new Promise(() => undefined), 10, 'redis', 'ping')).rejects.toThrow(
      DependencyUnavailableError,
    );
    await expect(withTimeout(Promise.resolve(7), 1000, 'redis', 'ping')).resolves.toBe(7);
  });
});

describe('OutageLog.connectionError: a connection failing again and again is one outage', () => {
  /** An OutageLog whose Redis answers when `redisUp` says so, and the messages it logged. */
  function outageLog(redisUp: () => boolean) {
    const lines: string[] = [];
    const record = (_fields: unknown, msg: string) => lines.push(msg);
    const log = { error: record, info: record, warn: record } as unknown as Logger;
    const probes = {
      database: () => Promise.resolve(),
      redis: () => (redisUp() ? Promise.resolve() : Promise.reject(new Error('Connection is closed.'))),
    };
    return { outages: new OutageLog(log, probes, 10), lines };
  }
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
  const settle = () => new Promise((r) => setTimeout(r, 50));

  it('logs the start once however many errors come, and the end once the dependency answers', async () => {
    let up = false;
    const { outages, lines } = outageLog(() => up);
    for (let i = 0; i < 50; i++) {
      expect(outages.connectionError('redis', refused)).toBe(true);
    }
    await settle();
    expect(outages.connectionError('redis', refused)).toBe(true);
    expect(lines).toEqual(['dependency outage started']);
    up = true;
    await settle();
    expect(lines).toEqual(['dependency outage started', 'dependency outage ended']);
    outages.close();
  });

  it('logs nothing when the dependency still answers (one connection dropped)', async () => {
    const { outages, lines } = outageLog(() => true);
    expect(outages.connectionError('redis', refused)).toBe(true);
    await settle();
    expect(lines).toEqual([]);
    outages.close();
  });

  it('leaves any other error to the caller', () => {
    const { outages, lines } = outageLog(() => false);
    expect(outages.connectionError('redis', new Error('Missing lock for job 7'))).toBe(false);
    expect(lines).toEqual([]);
    outages.close();
  });
});

describe('OutageLog: a pool with no connection free is busy, not a database that is down', () => {
  /** An OutageLog whose database answers on a connection of its own when `databaseUp` says so. */
  function outageLog(databaseUp: boolean) {
    const lines: string[] = [];
    const record = (_fields: unknown, msg: string) => lines.push(msg);
    const log = { error: record, info: record, warn: record } as unknown as Logger;
    const probes = {
      database: () => (databaseUp ? Promise.resolve() : Promise.reject(new Error('connect ECONNREFUSED'))),
      redis: () => Promise.resolve(),
    };
    return { outages: new OutageLog(log, probes, 10), lines };
  }
  // pg-pool's words when no connection came free in time.
  const poolWait = new Error('timeout exceeded when trying to connect');
  const settle = () => new Promise((r) => setTimeout(r, 50));

  it.each([
    ['a request that waited for a connection', (o: OutageLog) => o.noticed(poolWait)],
    ['a readiness ping that did not answer', (o: OutageLog) => o.down('database', poolWait)],
  ])('logs the database as busy, once, after %s while the server answers', async (_what, fail) => {
    const { outages, lines } = outageLog(true);
    fail(outages);
    await settle();
    fail(outages);
    await settle();
    expect(lines).toEqual(['dependency busy']);
    outages.close();
  });

  it('logs an outage when the server does not answer either', async () => {
    const { outages, lines } = outageLog(false);
    outages.noticed(poolWait);
    await settle();
    expect(lines).toEqual(['dependency outage started']);
    outages.close();
  });

  it('logs nothing for a dropped connection while the server answers', async () => {
    const { outages, lines } = outageLog(true);
    outages.noticed(Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' }));
    await settle();
    expect(lines).toEqual([]);
    outages.close();
  });
});

describe('OutageLog.jobInterrupted: a job a Redis outage interrupted is the outage’s consequence, not a bug', () => {
  function outageLog(redisUp: () => boolean) {
    const record = () => undefined;
    const log = { error: record, info: record, warn: record } as unknown as Logger;
    const probes = {
      database: () => Promise.resolve(),
      redis: () => (redisUp() ? Promise.resolve() : Promise.reject(new Error('Connection is closed.'))),
    };
    return new OutageLog(log, probes, 10);
  }
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
  const missingKey = new Error('Missing key for job map-0d9f. moveToFinished');
  const missingLock = new Error('Missing lock for job map-0d9f. moveToDelayed');
  const settle = (ms = 50) => new Promise((r) => setTimeout(r, ms));

  it('is not, without an outage: a lost lock then means a job outran its lock, which is worth an error', () => {
    const outages = outageLog(() => true);
    expect(outages.jobInterrupted(missingKey, 60_000)).toBe(false);
    expect(outages.jobInterrupted(missingLock, 60_000)).toBe(false);
    outages.close();
  });

  it('is, during a Redis outage and for a while after its end; other errors are not', async () => {
    let up = false;
    const outages = outageLog(() => up);
    outages.connectionError('redis', refused);
    await settle();
    expect(outages.jobInterrupted(missingLock, 200)).toBe(true);
    expect(outages.jobInterrupted(new Error('could not renew lock for job deliver-1-0'), 200)).toBe(true);
    up = true;
    await settle();
    expect(outages.jobInterrupted(missingKey, 200)).toBe(true);
    expect(outages.jobInterrupted(new Error('Cannot read properties of undefined'), 200)).toBe(false);
    await settle(250);
    expect(outages.jobInterrupted(missingKey, 200)).toBe(false);
    outages.close();
  });

  it('is not after an outage of PostgreSQL: those jobs keep their keys and locks in Redis', async () => {
    let up = false;
    const log = { error: () => undefined, info: () => undefined, warn: () => undefined } as unknown as Logger;
    const outages = new OutageLog(
      log,
      { database: () => (up ? Promise.resolve() : Promise.reject(refused)), redis: () => Promise.resolve() },
      10,
    );
    outages.down('database', refused);
    expect(outages.jobInterrupted(missingLock, 60_000)).toBe(false);
    up = true;
    await settle();
    outages.close();
  });
});

describe('OutageLog.deferred: work left to the reconciler during an outage is counted into it, not logged each', () => {
  /** An OutageLog whose Redis answers when `redisUp` says so, and the lines it logged with their fields. */
  function outageLog(redisUp: () => boolean) {
    const lines: { msg: string; fields: Record<string, unknown> }[] = [];
    const record = (fields: Record<string, unknown>, msg: string) => lines.push({ msg, fields });
    const log = { error: record, info: record, warn: record } as unknown as Logger;
    const probes = {
      database: () => Promise.resolve(),
      redis: () => (redisUp() ? Promise.resolve() : Promise.reject(new Error('Connection is closed.'))),
    };
    return { outages: new OutageLog(log, probes, 10), lines };
  }
  const noAnswer = new DependencyUnavailableError('redis', 'enqueue map: no answer within 1000 ms');
  const settle = () => new Promise((r) => setTimeout(r, 50));

  it('says in the outage’s end line how many enqueues failed during it, and logs none of them on its own', async () => {
    let up = false;
    const { outages, lines } = outageLog(() => up);
    for (let i = 0; i < 5; i++) {
      outages.deferred('redis', noAnswer);
    }
    await settle();
    for (let i = 0; i < 3; i++) {
      outages.deferred('redis', noAnswer);
    }
    up = true;
    await settle();
    expect(lines.map((l) => l.msg)).toEqual(['dependency outage started', 'dependency outage ended']);
    expect(lines[1]!.fields).toEqual(expect.objectContaining({ dependency: 'redis', enqueuesDeferred: 8 }));
    // The next outage counts from 0.
    up = false;
    outages.deferred('redis', noAnswer);
    await settle();
    up = true;
    await settle();
    expect(lines.map((l) => l.msg)).toHaveLength(4);
    expect(lines[3]!.fields).toEqual(expect.objectContaining({ enqueuesDeferred: 1 }));
    outages.close();
  });

  it('logs enqueues that failed while Redis still answers at most once a minute, with how many', async () => {
    const { outages, lines } = outageLog(() => true);
    for (let i = 0; i < 4; i++) {
      outages.deferred('redis', noAnswer);
      await settle();
    }
    expect(lines.map((l) => [l.msg, l.fields.enqueuesDeferred])).toEqual([
      ['enqueue failed; the reconciler will retry', 1],
    ]);
    outages.close();
  });
});

// report-drill L2: the line said `"error":"error"` (pg's DatabaseError names itself so) or `"error":"Error"`, which
// no log search can use; the code tells a PostgreSQL shutdown (57P01) from a refused connection (ECONNREFUSED).
describe('the outage line names the error by its code, else its class; the message stays in reason', () => {
  const away = () => Promise.reject(new Error('Connection is closed.'));
  async function firstLine(dependency: 'database' | 'redis', err: unknown): Promise<Record<string, unknown>> {
    const lines: Record<string, unknown>[] = [];
    const record = (fields: Record<string, unknown>) => lines.push(fields);
    const log = { error: record, info: record, warn: record } as unknown as Logger;
    const outages = new OutageLog(log, { database: away, redis: away }, 3_600_000);
    outages.down(dependency, err);
    // The dependency is asked, does not answer, and the outage starts.
    await new Promise((r) => setTimeout(r, 50));
    outages.close();
    return lines[0]!;
  }

  it.each<[string, 'database' | 'redis', unknown, string, string]>([
    [
      'PostgreSQL shutting down',
      'database',
      new DatabaseError('terminating connection due to administrator command', 0, 'error'),
      '57P01',
      'terminating connection due to administrator command',
    ],
    [
      'a refused connection',
      'redis',
      withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:6379'),
      'ECONNREFUSED',
      'connect ECONNREFUSED 127.0.0.1:6379',
    ],
    [
      'several addresses refused',
      'database',
      Object.assign(new AggregateError([withCode('ECONNREFUSED')], ''), { code: 'ECONNREFUSED' }),
      'ECONNREFUSED',
      '',
    ],
    [
      'our own timeout, which has no code',
      'redis',
      new DependencyUnavailableError('redis', 'ping: no answer within 1000 ms'),
      'DependencyUnavailableError',
      'ping: no answer within 1000 ms',
    ],
    [
      'pg’s own words without a code',
      'database',
      new Error('Connection terminated unexpectedly'),
      'Error',
      'Connection terminated unexpectedly',
    ],
  ])('%s', async (_name, dependency, err, error, reason) => {
    if (err instanceof DatabaseError) {
      err.code = '57P01';
    }
    expect(await firstLine(dependency, err)).toEqual({ dependency, error, reason });
  });
});
