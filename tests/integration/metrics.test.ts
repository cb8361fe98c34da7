import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { buildReferralEvent, PRACTICE_AGB } from '../helpers/builders';
import { EVENT_STATES } from '../../src/event/states';
import { cleanupTestEnv, startTestApp, useAppWithReceiver } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/** Runs Prometheus's promtool (Debian's `prometheus` package): its exit status and what it printed. */
function promtool(...args: string[]): { status: number | null; out: string } {
  const run = spawnSync('promtool', args, { encoding: 'utf8' });
  if (run.error) {
    throw new Error(`promtool not found (${run.error.message}): install Debian's prometheus package`);
  }
  return { status: run.status, out: run.stdout + run.stderr };
}

/** `name{labels} value` lines of the Prometheus text format, and the `# TYPE` and `# HELP` of each family. */
function parse(text: string): {
  samples: { name: string; labels: string; value: number }[];
  types: Map<string, string>;
  help: Map<string, string>;
} {
  const samples: { name: string; labels: string; value: number }[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    const helpLine = /^# HELP (\S+) (.*)$/.exec(line);
    if (helpLine) {
      help.set(helpLine[1]!, helpLine[2]!);
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m) {
      samples.push({ name: m[1]!, labels: m[2] ?? '', value: Number(m[3]) });
    }
  }
  return { samples, types, help };
}

/** `{a="1",b="2"}` as an object. */
function labelsOf(text: string): Record<string, string> {
  return Object.fromEntries([...text.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

/** The PromQL expressions of the Grafana dashboard shipped in docker/. */
function dashboardExpressions(): string[] {
  const dashboard = JSON.parse(
    fs.readFileSync(path.resolve(__dirname, '../../docker/grafana-dashboard.json'), 'utf8'),
  ) as { panels: { targets: { expr: string }[] }[] };
  return dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
}

interface AlertRule {
  alert?: unknown;
  expr?: unknown;
  for?: unknown;
  labels?: { severity?: unknown };
  annotations?: { summary?: unknown; description?: unknown };
}

/** The alerting rules of the Prometheus rule file shipped in docker/. */
function alertRules(): AlertRule[] {
  const file = parseYaml(fs.readFileSync(path.resolve(__dirname, '../../docker/prometheus-alerts.yaml'), 'utf8')) as {
    groups: { name: string; rules: AlertRule[] }[];
  };
  return file.groups.flatMap((g) => g.rules);
}

/** The metric families an expression reads (a histogram's `_bucket`, `_count` and `_sum` as the histogram). */
function metricsIn(expr: string): string[] {
  return (expr.match(/\b(jeugdbrug|process|nodejs)_[a-z0-9_]+/g) ?? []).map((name) =>
    name.replace(/_(bucket|count|sum)$/, ''),
  );
}

/**
 * The product's metrics the dashboard leaves out on purpose, each with the reason. Every other `jeugdbrug_` metric
 * has a panel, so a metric added without one fails the test below until it gets a panel or a line here.
 */
const NOT_CHARTED: Readonly<Record<string, string>> = {};

describe('/metrics', () => {
  const h = useAppWithReceiver();

  const submitUntil = async (state: string): Promise<string> => {
    const res = await h.app.request('/his/v1/events', { json: buildReferralEvent() });
    const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await waitFor(`event ${id} ${state}`, async () => {
      const v = (await (await h.app.request(`/his/v1/events/${id}`)).json()) as { state: string };
      return v.state === state;
    });
    return id;
  };

  const scrape = async () => {
    const res = await fetch(`${h.app.url}/metrics`);
    expect(res.status).toBe(200);
    return parse(await res.text());
  };

  it('reports Node/process defaults, HTTP durations by route, events by state, dead letters, destination health and audit chains', async () => {
    await submitUntil('delivered');
    h.receiver.mode = { kind: 'status', status: 400 };
    await submitUntil('dead');
    h.receiver.mode = { kind: 'ok' };
    const verify = await h.app.request(`/audit/v1/verify?tenant=${PRACTICE_AGB}`, { key: 'auditor' });
    expect(verify.status).toBe(200);

    const { samples, types } = await scrape();
    const value = (name: string, labels: string) =>
      samples.find((s) => s.name === name && s.labels.includes(labels))?.value;

    for (const name of [
      'process_cpu_user_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
    ]) {
      expect(samples.some((s) => s.name === name)).toBe(true);
    }
    expect(value('nodejs_eventloop_lag_seconds', '')).toBeGreaterThanOrEqual(0);

    expect(
      value('jeugdbrug_http_request_duration_seconds_count', 'method="POST",route="/his/v1/events",status="202"'),
    ).toBe(2);
    expect(
      value('jeugdbrug_http_request_duration_seconds_count', 'route="/his/v1/events/:id",status="200"'),
    ).toBeGreaterThan(0);
    expect(value('jeugdbrug_events', 'state="delivered"')).toBe(1);
    expect(value('jeugdbrug_events', 'state="dead"')).toBe(1);
    expect(value('jeugdbrug_dead_letters', 'destination="gm0226"')).toBe(1);
    // Every state has a series, at 0 when no event is in it, so `== 0` alerts get an answer.
    expect(EVENT_STATES.filter((state) => value('jeugdbrug_events', `state="${state}"`) === undefined)).toEqual([]);
    expect(value('jeugdbrug_events', 'state="failed"')).toBe(0);
    // Failed deliveries per municipality: the 400 above was one, refused for good.
    const failed = samples.filter((s) => s.name === 'jeugdbrug_jobs_failed_total' && s.labels.includes('deliver'));
    expect(failed.map((s) => [labelsOf(s.labels), s.value])).toEqual(
      expect.arrayContaining([
        [{ stage: 'deliver', retry: 'false', destination: 'gm0226' }, 1],
        [{ stage: 'deliver', retry: 'true', destination: 'gm0226' }, 0],
      ]),
    );
    expect(failed).toHaveLength(2);
    expect(value('jeugdbrug_destination_up', 'destination="gm0226"')).toBe(1);
    expect(value('jeugdbrug_destination_consecutive_failures', 'destination="gm0226"')).toBeGreaterThanOrEqual(0);
    expect(value('jeugdbrug_audit_chain_length', `tenant="${PRACTICE_AGB}"`)).toBeGreaterThan(4);
    expect(value('jeugdbrug_audit_verify_ok', `tenant="${PRACTICE_AGB}"`)).toBe(1);
    expect(value('jeugdbrug_audit_verify_timestamp_seconds', `tenant="${PRACTICE_AGB}"`)).toBeGreaterThan(1.7e9);

    // Prometheus naming conventions: snake_case with the application prefix, counters end in _total, units are base
    // units named as a suffix; label values are route patterns, never paths with ids in them.
    for (const [name, type] of types) {
      if (name.startsWith('jeugdbrug_')) {
        expect(name).toMatch(/^jeugdbrug_[a-z][a-z0-9_]*[a-z0-9]$/);
        expect({ name, counterEndsInTotal: type !== 'counter' || name.endsWith('_total') }).toEqual({
          name,
          counterEndsInTotal: true,
        });
        expect(name).not.toMatch(/_(ms|milliseconds|minutes|kb|mb)(_|$)/);
      }
    }
    expect(samples.filter((s) => /[0-9a-f]{8}-[0-9a-f]{4}-/.test(s.labels))).toEqual([]);
  });

  it('serves every metric the Grafana dashboard and the alert rules in docker/ query', async () => {
    const queried = new Set(
      [...dashboardExpressions(), ...alertRules().map((rule) => String(rule.expr))].flatMap(metricsIn),
    );
    expect(queried.size).toBeGreaterThan(10);
    const { types } = await scrape();
    expect([...queried].filter((name) => !types.has(name))).toEqual([]);
  });

  it('has every jeugdbrug metric on the dashboard, unless it is listed as not charted with a reason', async () => {
    const { types } = await scrape();
    const product = [...types.keys()].filter((name) => name.startsWith('jeugdbrug_'));
    // The metrics of the last releases, so that a registry that lost them cannot pass this test empty-handed.
    expect(product).toEqual(
      expect.arrayContaining([
        'jeugdbrug_auth_failures_total',
        'jeugdbrug_build_info',
        'jeugdbrug_db_connections_waiting',
        'jeugdbrug_db_connection_wait_seconds',
        'jeugdbrug_db_connection_wait_timeouts_total',
      ]),
    );
    const charted = new Set(dashboardExpressions().flatMap(metricsIn));
    expect({
      neitherChartedNorListed: product.filter((name) => !charted.has(name) && !(name in NOT_CHARTED)),
      listedButCharted: Object.keys(NOT_CHARTED).filter((name) => charted.has(name)),
      listedButNoMetric: Object.keys(NOT_CHARTED).filter((name) => !types.has(name)),
    }).toEqual({ neitherChartedNorListed: [], listedButCharted: [], listedButNoMetric: [] });
  });

  it('ships alert rules that Prometheus can load: a name, an expression, a severity and a summary each', () => {
    const rules = alertRules();
    expect(rules.length).toBeGreaterThan(5);
    const incomplete = rules.filter(
      (rule) =>
        typeof rule.alert !== 'string' ||
        !/^[A-Z][A-Za-z0-9]+$/.test(rule.alert) ||
        typeof rule.expr !== 'string' ||
        metricsIn(rule.expr).length === 0 ||
        !['page', 'ticket'].includes(String(rule.labels?.severity)) ||
        typeof rule.annotations?.summary !== 'string' ||
        (rule.for !== undefined && (typeof rule.for !== 'string' || !/^\d+[smh]$/.test(rule.for))),
    );
    expect(incomplete).toEqual([]);
    const names = rules.map((rule) => rule.alert);
    expect(new Set(names).size).toBe(names.length);
    // The metrics added lately, and the ones the README tells operators to alert on, have a rule.
    const alerted = new Set(rules.flatMap((rule) => metricsIn(String(rule.expr))));
    expect(
      [
        'jeugdbrug_auth_failures_total',
        'jeugdbrug_build_info',
        'jeugdbrug_db_connections_waiting',
        'jeugdbrug_db_connection_wait_timeouts_total',
        'jeugdbrug_metrics_source_up',
        'jeugdbrug_api_keys_file_invalid',
        'jeugdbrug_audit_verify_ok',
        // HIS events refused with 429 (status="queue-full"): intake has stopped for every practice.
        'jeugdbrug_events_received_total',
        // Intake refused with 503 (PostgreSQL or Redis away, the pool exhausted): nothing is stored meanwhile.
        'jeugdbrug_intake_refused_total',
      ].filter((name) => !alerted.has(name)),
    ).toEqual([]);
  });

  // What Prometheus itself says of the file (Debian's `prometheus` package; `.ci/run` installs it when missing): the
  // PromQL of every rule parses, which the checks above do not read.
  it('ships alert rules that promtool checks without error', () => {
    const run = promtool('check', 'rules', path.resolve(__dirname, '../../docker/prometheus-alerts.yaml'));
    expect(run).toEqual({
      status: 0,
      out: expect.stringContaining(`SUCCESS: ${alertRules().length} rules found`),
    });
  });

  // The rules' behaviour over time: which alert fires when, for the incidents played in the test file.
  it('ships alert rules that pass their promtool unit tests', () => {
    const run = promtool('test', 'rules', path.resolve(__dirname, '../alerts/prometheus-alerts.test.yaml'));
    expect(run).toEqual({
      status: 0,
      out: expect.stringContaining('SUCCESS'),
    });
  });

  it('has the dashboard and the alerts take max or min, never the sum, of the figures every process reports alike', async () => {
    // Read from PostgreSQL or Redis at scrape time: the API and every worker with METRICS_PORT report the same
    // value, so a sum over the scraped processes would count each event, dead letter or job once per process.
    const { help } = await scrape();
    const shared = [...help]
      .filter(([, text]) => text.endsWith('at scrape time: the same in every process)'))
      .map(([name]) => name);
    expect(shared).toEqual(
      expect.arrayContaining(['jeugdbrug_events', 'jeugdbrug_dead_letters', 'jeugdbrug_queue_jobs']),
    );
    const summed = [...dashboardExpressions(), ...alertRules().map((rule) => String(rule.expr))].filter((expr) =>
      shared.some((name) => new RegExp(`\\bsum\\s*(by\\s*\\([^)]*\\)\\s*)?\\(\\s*${name}\\b`).test(expr)),
    );
    expect(summed).toEqual([]);
  });
});

describe('/metrics of a fresh installation', () => {
  let app: Awaited<ReturnType<typeof startTestApp>>;
  beforeAll(async () => {
    app = await startTestApp({ receiverUrl: 'http://127.0.0.1:9/' });
  });
  afterAll(async () => {
    await app?.close();
    if (app) {
      await cleanupTestEnv(app.testEnv);
    }
  });
  /** The series of `name` in one scrape: labels and value. */
  const series = async (name: string) => {
    const res = await fetch(`${app.url}/metrics`);
    expect(res.status).toBe(200);
    return parse(await res.text())
      .samples.filter((s) => s.name === name)
      .map((s) => [labelsOf(s.labels), s.value] as const);
  };

  it('reports 0 dead letters for every configured destination and known practice, rather than no series', async () => {
    const dead = await series('jeugdbrug_dead_letters');
    expect(dead.map(([labels, value]) => [labels.destination, value])).toEqual([
      ['gm0226', 0],
      [`practice-${PRACTICE_AGB}`, 0],
    ]);
  });

  it('has a series at 0 for the failures of every queue, the pauses of each destination and the backlogs’ ages', async () => {
    // A rate over failures has a first sample, and a panel says 0 rather than "No data".
    const failed = await series('jeugdbrug_jobs_failed_total');
    expect(failed).toEqual(
      expect.arrayContaining(
        ['true', 'false'].flatMap((retry) => [
          [{ stage: 'map', retry }, 0],
          [{ stage: 'deliver', retry, destination: 'gm0226' }, 0],
          [{ stage: 'feedback', retry }, 0],
        ]),
      ),
    );
    expect(failed).toHaveLength(6);
    expect(await series('jeugdbrug_destination_paused')).toEqual([
      [{ destination: 'gm0226', by: 'operator' }, 0],
      [{ destination: 'gm0226', by: 'auto' }, 0],
    ]);
    expect(await series('jeugdbrug_oldest_pending_delivery_age_seconds')).toEqual([[{ destination: 'gm0226' }, 0]]);
    expect(await series('jeugdbrug_oldest_undecided_event_age_seconds')).toEqual([[{}, 0]]);
    // Intake refused, by route kind and reason: every one at 0 until a request is refused.
    const refused = await series('jeugdbrug_intake_refused_total');
    expect(refused).toHaveLength(15);
    expect(refused.filter(([, value]) => value !== 0)).toEqual([]);
    expect(refused.map(([labels]) => labels)).toEqual(
      expect.arrayContaining([
        { route: 'his-events', reason: 'queue-full' },
        { route: 'referral-status', reason: 'database' },
        { route: 'trajectory-events', reason: 'redis' },
        { route: 'his-events', reason: 'database-busy' },
        { route: 'his-events', reason: 'other' },
      ]),
    );
  });
});

describe('/metrics of an API process whose workers are away', () => {
  it('says how long the event waiting longest for its decision has waited', async () => {
    const app = await startTestApp({ receiverUrl: 'http://127.0.0.1:9/', env: { ROLE: 'api' } });
    try {
      const undecidedAge = async () => {
        const text = await (await fetch(`${app.url}/metrics`)).text();
        return Number(/^jeugdbrug_oldest_undecided_event_age_seconds (\S+)$/m.exec(text)?.[1]);
      };
      expect(await undecidedAge()).toBe(0);
      expect((await app.request('/his/v1/events', { json: buildReferralEvent() })).status).toBe(202);
      await new Promise((r) => setTimeout(r, 1500));
      // No worker maps it: it stays received, and its wait shows.
      const age = await undecidedAge();
      expect(age).toBeGreaterThanOrEqual(1);
      expect(age).toBeLessThan(60);
    } finally {
      await app.close();
      await cleanupTestEnv(app.testEnv);
    }
  });
});

describe('a worker process with METRICS_PORT', () => {
  let worker: Awaited<ReturnType<typeof startTestApp>>;
  beforeAll(async () => {
    worker = await startTestApp({ env: { ROLE: 'worker', METRICS_PORT: '0' } });
  });
  afterAll(async () => {
    await worker?.close();
    if (worker) {
      await cleanupTestEnv(worker.testEnv);
    }
  });

  it('serves its own /metrics (job counters, Node defaults) and /health, and no API', async () => {
    expect(worker.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const metrics = await fetch(`${worker.url}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toContain('# TYPE jeugdbrug_jobs_processed_total counter');
    expect(text).toContain('# TYPE process_resident_memory_bytes gauge');
    expect((await fetch(`${worker.url}/health/ready`)).status).toBe(200);
    expect((await fetch(`${worker.url}/his/v1/events`, { method: 'POST' })).status).toBe(404);
  });

  // A worker showed the API's intake gauges at 0: a dashboard taking max over processes read the worker's 0 while no
  // API reported, and a limit of 0 beside a sample of 0 looked like a full queue. It keeps neither, so it has neither.
  it('leaves out the gauges only an API process keeps: the intake sample and limit, the API key file', async () => {
    const { types } = parse(await (await fetch(`${worker.url}/metrics`)).text());
    expect(
      [
        'jeugdbrug_intake_queue_jobs',
        'jeugdbrug_intake_queue_limit',
        'jeugdbrug_api_keys_file_invalid',
        'jeugdbrug_intake_refused_total',
      ].filter((name) => types.has(name)),
    ).toEqual([]);
    // Its own figures are there (the check above reads a scrape that has them).
    expect(types.get('jeugdbrug_queue_jobs')).toBe('gauge');
  });
});
