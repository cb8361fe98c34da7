import { buildReferralEvent } from '../helpers/builders';
import { useTestApp } from '../helpers/test-runtime';

describe('a request with a credential is authenticated before its body is read', () => {
  const app = useTestApp();

  const unknownKey = 'jb_nosuchkey_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
  // Not JSON: parsed, it is a 400; refused before parsing, the 401 of the credential.
  const malformed = `{"events": [${'1,'.repeat(200_000)}`;

  const post = (headers: Record<string, string>, body: string) =>
    app.request('/his/v1/events', {
      method: 'POST',
      key: null,
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });

  it('answers an invalid API key with 401, not the 400 of parsing the large malformed body it sent', async () => {
    const res = await post({ authorization: `Bearer ${unknownKey}` }, malformed);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
  });

  it('answers an invalid key with 401, not 413, for a body over BODY_LIMIT', async () => {
    const res = await post({ authorization: `Bearer ${unknownKey}` }, `[${'"x",'.repeat(300_000)}"x"]`);
    expect(res.status).toBe(401);
  });

  it('answers an invalid X-API-Key with 401 before reading its body too', async () => {
    const res = await post({ 'x-api-key': unknownKey }, malformed);
    expect(res.status).toBe(401);
  });

  it('still parses the body of an authenticated request: malformed JSON is a 400 naming the body', async () => {
    const res = await post({ authorization: `Bearer ${app.testEnv.keys.practice}` }, malformed);
    expect(res.status).toBe(400);
    const outcome = (await res.json()) as { issue: { expression?: string[] }[] };
    expect(outcome.issue[0]?.expression).toEqual(['body']);
  });

  it('reads up to BODY_LIMIT for a valid key in X-API-Key as for one in Authorization (not the 16 kB of none)', async () => {
    const event = buildReferralEvent({ padding: 'x'.repeat(40_000) });
    const res = await post({ 'x-api-key': app.testEnv.keys.practice }, JSON.stringify(event));
    expect(res.status).not.toBe(413);
    expect(res.status).toBeLessThan(500);
  });

  describe('form bodies (POST _search, the audit search) follow the same order', () => {
    const postForm = (path: string, headers: Record<string, string>, body: string) =>
      app.request(path, {
        method: 'POST',
        key: null,
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body,
      });
    // A NUL byte in a parameter: parsed, it is the 400 of the text check; refused before parsing, the 401.
    const unstorable = `patient=a%00b&${'x=1&'.repeat(1000)}`;
    // Over FORM_BODY_LIMIT (64 kB): parsed, a 413.
    const overLimit = `patient=${'1'.repeat(70_000)}`;

    it.each([
      ['an invalid key in Authorization', { authorization: `Bearer ${unknownKey}` }],
      ['an invalid X-API-Key', { 'x-api-key': unknownKey }],
    ])('answers %s with 401 before reading a form body: not the 400 of its text check', async (_what, headers) => {
      for (const path of ['/fhir/Consent/_search', '/audit/v1/overview']) {
        const res = await postForm(path, headers, unstorable);
        expect({ path, status: res.status }).toEqual({ path, status: 401 });
      }
    });

    it('answers an invalid key with 401, not 413, for a form body over its 64 kB limit', async () => {
      const res = await postForm('/fhir/Consent/_search', { authorization: `Bearer ${unknownKey}` }, overLimit);
      expect(res.status).toBe(401);
    });

    it('still reads and checks the form body of an authenticated request: a NUL byte is a 400 naming it', async () => {
      const res = await postForm('/fhir/Consent/_search', { 'x-api-key': app.testEnv.keys.practice }, unstorable);
      expect(res.status).toBe(400);
      const outcome = (await res.json()) as { issue: { expression?: string[] }[] };
      expect(outcome.issue[0]?.expression).toEqual(['patient']);
    });

    it('answers an authenticated form body over 64 kB with a 413 naming the form limit', async () => {
      const res = await postForm('/fhir/Consent/_search', { 'x-api-key': app.testEnv.keys.practice }, overLimit);
      expect(res.status).toBe(413);
      expect(JSON.stringify(await res.json())).toContain('64kb');
    });

    it('searches with a valid key and a form body as before', async () => {
      const res = await postForm(
        '/fhir/Consent/_search',
        { authorization: `Bearer ${app.testEnv.keys.practice}` },
        'patient=999999990',
      );
      expect(res.status).toBe(200);
      expect(((await res.json()) as { resourceType: string }).resourceType).toBe('Bundle');
    });
  });

  it('accepts an event sent with a valid key as before', async () => {
    const res = await post(
      { authorization: `Bearer ${app.testEnv.keys.practice}` },
      JSON.stringify(buildReferralEvent()),
    );
    expect(res.status).toBe(202);
  });
});
