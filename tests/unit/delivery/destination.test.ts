import { destinationSchema } from '../../../mappings/municipality/index';
import { buildRegistry } from '../../../src/event/registry';

const parsePracticeEndpoints = (practices: unknown[]) =>
  buildRegistry({ agreements: [], destinations: [], practices }).practices;

const base = { id: 'gm0226', municipality: 'GM0226', adapter: 'fhir-rest', baseUrl: 'https://fhir.example.nl/r4' };

describe('destination configuration', () => {
  it('keeps the existing minimal form valid, authentication defaulting to none', () => {
    const d = destinationSchema.parse(base);
    expect(d.auth).toEqual({ type: 'none' });
    expect(d.rateLimit).toBeUndefined();
    expect(d.pauseAfterFailures).toBeUndefined();
  });

  it.each([
    ['bearer', { ...base, auth: { type: 'bearer', tokenEnv: 'GM0226_TOKEN' } }],
    [
      'oauth2 client credentials',
      {
        ...base,
        auth: {
          type: 'oauth2-client-credentials',
          tokenUrl: 'https://login.example.nl/token',
          clientId: 'jeugdbrug',
          clientSecretEnv: 'GM0226_SECRET',
          scope: 'system/*.write',
        },
      },
    ],
    ['a signed webhook', { ...base, adapter: 'webhook', auth: { type: 'hmac', secretEnv: 'GM0226_HOOK' } }],
    ['iSamenleving with a rate limit', { ...base, adapter: 'isamenleving', rateLimit: { max: 10, durationMs: 1000 } }],
    [
      'retry overrides, a pause threshold and a probe interval',
      {
        ...base,
        retry: { maxAttempts: 30, backoffBaseMs: 60000, backoffMaxMs: 7200000 },
        pauseAfterFailures: 5,
        probeIntervalMs: 10000,
      },
    ],
  ])('accepts %s', (_what, input) => {
    expect(destinationSchema.safeParse(input).success).toBe(true);
  });

  it.each([
    ['an unknown adapter', { ...base, adapter: 'soap' }, 'adapter'],
    ['a webhook without a signing secret', { ...base, adapter: 'webhook' }, 'auth.type'],
    ['hmac on a FHIR destination', { ...base, auth: { type: 'hmac', secretEnv: 'X' } }, 'auth.type'],
    [
      'a secret in the file instead of an environment variable name',
      { ...base, auth: { type: 'bearer', tokenEnv: 'not a name!' } },
      'auth.tokenEnv',
    ],
    [
      'oauth2 without a client secret variable',
      { ...base, auth: { type: 'oauth2-client-credentials', tokenUrl: 'https://x.nl/t', clientId: 'c' } },
      'auth.clientSecretEnv',
    ],
    ['a rate limit of zero', { ...base, rateLimit: { max: 0, durationMs: 1000 } }, 'rateLimit.max'],
    ['an unknown key (a typo)', { ...base, pauseAfterFailure: 3 }, ''],
  ])('rejects %s, naming the field', (_what, input, field) => {
    const parsed = destinationSchema.safeParse(input);
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path.join('.')).toBe(field);
  });
});

describe('practice HIS endpoints', () => {
  it('accepts fhir-rest and signed webhook endpoints, one per AGB', () => {
    const parsed = parsePracticeEndpoints([
      { agb: '01234567', adapter: 'fhir-rest', baseUrl: 'https://his.example.nl/fhir' },
      {
        agb: '07654321',
        adapter: 'webhook',
        baseUrl: 'https://his2.example.nl/hook',
        auth: { type: 'hmac', secretEnv: 'HOOK' },
      },
    ]);
    expect(parsed.map((p) => p.auth.type)).toEqual(['none', 'hmac']);
  });

  it.each([
    [
      'a duplicate AGB',
      [
        { agb: '01234567', adapter: 'fhir-rest', baseUrl: 'https://a.nl' },
        { agb: '01234567', adapter: 'fhir-rest', baseUrl: 'https://b.nl' },
      ],
      /Duplicate practice endpoint: 01234567/,
    ],
    [
      'the iSamenleving adapter',
      [{ agb: '01234567', adapter: 'isamenleving', baseUrl: 'https://a.nl' }],
      /practice\[0\]: adapter/,
    ],
    ['an AGB of 7 digits', [{ agb: '1234567', adapter: 'fhir-rest', baseUrl: 'https://a.nl' }], /practice\[0\]: agb/],
  ])('rejects %s', (_what, input, message) => {
    expect(() => parsePracticeEndpoints(input)).toThrow(message);
  });
});
