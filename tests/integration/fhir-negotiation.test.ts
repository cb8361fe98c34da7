import type { CapabilityStatement, OperationOutcome, Task } from '@medplum/fhirtypes';
import { MUNICIPALITY } from '../helpers/builders';
import { buildReferralEvent } from '../helpers/builders';
import { TestReceiver } from '../helpers/receiver';
import { cleanupTestEnv, startTestApp, type TestApp } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

// Content negotiation as FHIR R4 (http.html#mime-type, #version-parameter) and HAPI have it: a format the server
// cannot produce, asked for by `_format` or by `Accept`, is 406 naming the one that asked; a body of a type it cannot
// read is 415 naming Content-Type; FHIR JSON is taken by every name in use, with fhirVersion 4.0 and nothing else.
describe('FHIR content negotiation on /fhir and the monitoring report', () => {
  let receiver: TestReceiver;
  let app: TestApp;

  beforeAll(async () => {
    receiver = await new TestReceiver().start();
    app = await startTestApp({ receiverUrl: receiver.url });
  });

  afterAll(async () => {
    await app.close();
    await receiver.stop();
    await cleanupTestEnv(app.testEnv);
  });

  const monitoring = `/municipality/v1/monitoring?period=2026-Q3&municipality=${MUNICIPALITY}`;
  const reads = [
    '/fhir/metadata',
    '/fhir/Measure/poh-jeugd-monitoring',
    '/fhir/AuditEvent?entity=Consent/negotiation&_count=1',
    '/fhir/Consent?patient=123456782',
    monitoring,
  ];
  const withParam = (path: string, param: string): string => `${path}${path.includes('?') ? '&' : '?'}${param}`;

  async function outcomeOf(res: Response): Promise<OperationOutcome> {
    expect(res.headers.get('content-type')).toContain('application/fhir+json');
    const outcome = (await res.json()) as OperationOutcome;
    expect(outcome.resourceType).toBe('OperationOutcome');
    return outcome;
  }

  /** A referral delivered to the municipality: the value of its identifier. */
  async function deliveredReferral(): Promise<string> {
    const referral = buildReferralEvent();
    const res = await app.request('/his/v1/events', { json: referral });
    const eventId = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    await waitFor('the referral delivered', async () => {
      const [row] = await app.rt.ctx.db.query<{ state: string }>('SELECT state FROM inbox WHERE id = $1', [eventId]);
      return row?.state === 'delivered' ? true : undefined;
    });
    return (referral.referral as { id: string }).id;
  }

  const taskFor = (value: string): string =>
    JSON.stringify({ resourceType: 'Task', status: 'received', intent: 'order', focus: { identifier: { value } } });

  describe('a format it cannot produce', () => {
    it('is 406 naming _format for _format=xml, text/turtle, fhir+xml or another fhirVersion, on every route', async () => {
      for (const path of reads) {
        for (const format of [
          'xml',
          'text/turtle',
          'application/fhir%2Bxml',
          'application/fhir%2Bjson;fhirVersion=3.0',
          'html',
        ]) {
          const res = await app.request(withParam(path, `_format=${format}`), { key: 'auditor' });
          expect([path, format, res.status]).toEqual([path, format, 406]);
          const outcome = await outcomeOf(res);
          expect(outcome.issue).toHaveLength(1);
          expect(outcome.issue[0]?.expression).toEqual(['_format']);
          expect(outcome.issue[0]?.code).toBe('not-supported');
          expect(outcome.issue[0]?.details?.text).toMatch(/application\/fhir\+json/);
        }
      }
      const create = await app.request('/fhir/Task?_format=xml', {
        key: 'municipality',
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: taskFor('unknown-referral'),
      });
      expect(create.status).toBe(406);
      expect((await outcomeOf(create)).issue[0]?.expression).toEqual(['_format']);
    });

    it('is 406 naming Accept on the monitoring report too, as on /fhir', async () => {
      for (const accept of ['application/fhir+xml', 'application/xml', 'text/turtle']) {
        const res = await app.request(monitoring, { key: 'auditor', headers: { accept } });
        expect([accept, res.status]).toEqual([accept, 406]);
        expect((await outcomeOf(res)).issue[0]?.expression).toEqual(['Accept']);
      }
      // CSV and every JSON name stay served; a browser's Accept (with */*) gets JSON.
      for (const accept of [
        'text/csv',
        'application/fhir+json',
        'application/json',
        'application/json+fhir',
        'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
      ]) {
        const res = await app.request(monitoring, { key: 'auditor', headers: { accept } });
        expect([accept, res.status]).toEqual([accept, 200]);
      }
    });

    it('keeps _format=json and every FHIR JSON name working, overriding an Accept without JSON', async () => {
      for (const path of reads) {
        for (const format of [
          'json',
          'application/fhir%2Bjson',
          'application/json',
          'application/fhir%2Bjson;fhirVersion=4.0.1',
        ]) {
          const res = await app.request(withParam(path, `_format=${format}`), {
            key: 'auditor',
            headers: { accept: 'application/fhir+xml' },
          });
          expect([path, format, res.status]).toEqual([path, format, 200]);
        }
      }
    });

    it('is still 400 for a _format given twice or empty: a malformed request, not a format', async () => {
      const twice = await app.request('/fhir/metadata?_format=json&_format=json', { key: null });
      expect(twice.status).toBe(400);
      expect((await outcomeOf(twice)).issue[0]?.expression).toEqual(['_format']);
    });
  });

  describe('fhirVersion', () => {
    it('is 406 stating the version served for 3.0 or 5.0 in Accept, on /fhir and the monitoring report', async () => {
      for (const path of reads) {
        for (const version of ['3.0', '5.0', '4.3']) {
          const res = await app.request(path, {
            key: 'auditor',
            headers: { accept: `application/fhir+json; fhirVersion=${version}` },
          });
          expect([path, version, res.status]).toEqual([path, version, 406]);
          const issue = (await outcomeOf(res)).issue[0];
          expect(issue?.expression).toEqual(['Accept']);
          expect(issue?.details?.text).toContain('fhirVersion=4.0');
        }
        for (const version of ['4.0', '4.0.1']) {
          const res = await app.request(path, {
            key: 'auditor',
            headers: { accept: `application/fhir+json; fhirVersion=${version}` },
          });
          expect([path, version, res.status]).toEqual([path, version, 200]);
        }
      }
    });
  });

  describe('the body of POST /fhir/Task', () => {
    const postTask = (contentType: string, body: string) =>
      app.request('/fhir/Task', {
        key: 'municipality',
        method: 'POST',
        headers: { 'content-type': contentType },
        body,
      });

    it('is read as FHIR JSON by the DSTU2 name application/json+fhir and with fhirVersion=4.0', async () => {
      for (const contentType of [
        'application/json+fhir',
        'application/json+fhir; charset=utf-8',
        'application/fhir+json; fhirVersion=4.0',
        'application/fhir+json;fhirVersion=4.0.1;charset=UTF-8',
      ]) {
        const value = await deliveredReferral();
        const res = await postTask(contentType, taskFor(value));
        expect([contentType, res.status]).toEqual([contentType, 201]);
        expect(((await res.json()) as Task).focus).toBeDefined();
      }
    });

    it('is 415 naming Content-Type for any other type, another fhirVersion included', async () => {
      const value = await deliveredReferral();
      for (const contentType of [
        'application/fhir+xml',
        'application/xml',
        'text/plain',
        'application/fhir+json; fhirVersion=3.0',
        'application/json+fhir; fhirVersion=5.0',
      ]) {
        const res = await postTask(contentType, taskFor(value));
        expect([contentType, res.status]).toEqual([contentType, 415]);
        const issue = (await outcomeOf(res)).issue[0];
        expect(issue?.expression).toEqual(['Content-Type']);
      }
    });
  });

  describe('the CapabilityStatement', () => {
    const statement = async (): Promise<CapabilityStatement> =>
      (await (await app.request('/fhir/metadata', { key: null })).json()) as CapabilityStatement;

    it('lists only formats _format takes, and says an unsupported one is 406', async () => {
      const cs = await statement();
      expect(cs.format?.length).toBeGreaterThan(0);
      for (const format of cs.format ?? []) {
        const res = await app.request(`/fhir/metadata?_format=${encodeURIComponent(format)}`, { key: null });
        expect([format, res.status]).toEqual([format, 200]);
      }
      const documentation = cs.rest?.[0]?.documentation ?? '';
      expect(documentation).not.toMatch(/_format=xml is 400/);
      expect(documentation).toMatch(/406/);
      expect(documentation).toMatch(/fhirVersion/);
    });

    it('lists for each search parameter a value the search takes', async () => {
      const cs = await statement();
      const task = cs.rest?.[0]?.resource?.find((r) => r.type === 'Task');
      const summary = task?.searchParam?.find((p) => p.name === '_summary');
      // _summary=false is taken as well as count (parse-search): the statement said "only 'count'".
      expect(summary?.documentation).toMatch(/false/);
      const value = await deliveredReferral();
      const focus = `focus:identifier=${encodeURIComponent(value)}`;
      for (const query of [
        '_summary=count',
        '_summary=false',
        '_total=accurate',
        '_elements=status',
        '_sort=-_lastUpdated',
      ]) {
        const res = await app.request(`/fhir/Task?${focus}&${query}`, { key: 'municipality' });
        expect([query, res.status]).toEqual([query, 200]);
      }
    });

    it('says what the Task create takes: the body types and the elements taken but not kept', async () => {
      const cs = await statement();
      const task = cs.rest?.[0]?.resource?.find((r) => r.type === 'Task');
      const create = task?.interaction?.find((i) => i.code === 'create')?.documentation ?? '';
      expect(create).toMatch(/priority, basedOn, partOf and groupIdentifier/);
      expect(create).toMatch(/return=OperationOutcome/);
    });
  });
});
