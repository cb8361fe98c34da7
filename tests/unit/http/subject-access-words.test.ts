import { generateKeyPairSync } from 'node:crypto';
import { subjectAccessDocument } from '../../../src/http/subject-access-document';
import type { ChildOverview } from '../../../src/reports/child-overview/overview';

const key = { kid: 'k1', privateKey: generateKeyPairSync('ed25519').privateKey };
const base = { chain: '01234567', practice: { kind: 'practice' as const, code: '01234567' }, seq: 1 };
const municipality = { kind: 'municipality' as const, code: 'GM0226', name: 'Gemeente Heerenveen' };

const overview: ChildOverview = {
  patient: { system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: '123456782' },
  generatedAt: '2026-12-07T12:00:00.000Z',
  entries: [
    ...(
      [
        ['permit', 'permitted-by-consent'],
        ['deny', 'consent-withdrawn'],
        ['deny', 'consent-denied'],
      ] as const
    ).map(([action, reason], i) => ({
      ...base,
      at: `2026-12-0${i + 1}T10:00:00.000Z`,
      auditEvent: `AuditEvent/d${i}`,
      kind: 'decision' as const,
      action,
      stage: 'map' as const,
      reasons: [reason],
      recipient: municipality,
      purpose: 'referral',
      agreement: undefined,
      consents: [],
      consentVersions: [],
      event: `inbox/e${i}`,
    })),
    {
      ...base,
      at: '2026-12-05T10:00:00.000Z',
      auditEvent: 'AuditEvent/s',
      kind: 'disclosure',
      action: 'disclose',
      recipient: undefined,
      destination: undefined,
      purpose: 'subject-access',
      sent: 'data',
      dataTypes: ['child_overview'],
      resources: ['child_overview/abc'],
      refersTo: [],
      agreement: undefined,
      consents: [],
      consentVersions: [],
      reasonConsents: [],
      reasonConsentVersions: [],
      event: undefined,
    },
  ],
  accesses: [],
  truncated: false,
  omitted: { entries: 0, accesses: 0 },
};

// report-xprivacy L1: the hand-over, "in Dutch words", said `aan , … doel: subject-access` for its own disclosure and
// showed the policy's reason codes (`permitted-by-consent`, `consent-withdrawn`) on decision rows.
describe('the hand-over in Dutch words', () => {
  const text = subjectAccessDocument(overview, [], 'csv', key).body;

  it('names the requester and the purpose of its own disclosure in words', () => {
    expect(text).not.toContain('subject-access');
    expect(text).not.toMatch(/"aan "|aan ,/);
    expect(text).toContain('inzageverzoek (AVG art. 15)');
  });

  it('says decision reasons in words, never as codes', () => {
    for (const code of ['permitted-by-consent', 'consent-withdrawn', 'consent-denied']) {
      expect(text).not.toContain(code);
    }
    expect(text).toMatch(/toegestaan op grond van toestemming/i);
    expect(text).toMatch(/de toestemming is ingetrokken/i);
  });
});

// report-xprivacy L2: consents were named by the registry's UUID only; the FG had to cross-read /fhir/Consent to say
// which consent (the practice's own id), who gave it and when, and who withdrew it.
describe("the hand-over names consents by the practice's id, who gave and withdrew them, and when", () => {
  const child = 'Patient/p-a';
  const consents = new Map([
    [
      'uuid-a',
      {
        resourceType: 'Consent' as const,
        id: 'uuid-a',
        identifier: [{ system: 'urn:agb:01234567:consent', value: 'cons-a' }],
        status: 'active' as const,
        scope: {},
        category: [],
        patient: { reference: child },
        dateTime: '2026-12-01T08:00:00Z',
        performer: [{ reference: child }, { reference: 'RelatedPerson/rp-m' }],
        extension: [
          {
            url: 'https://jeugdbrug.nl/fhir/StructureDefinition/consent-withdrawn-by',
            valueReference: { reference: 'RelatedPerson/rp-m' },
          },
          {
            url: 'https://jeugdbrug.nl/fhir/StructureDefinition/consent-withdrawn-at',
            valueDateTime: '2026-12-06T09:00:00Z',
          },
        ],
      },
    ],
  ]);
  const citing: ChildOverview = {
    ...overview,
    entries: overview.entries.map((e) => (e.kind === 'decision' ? { ...e, consents: ['uuid-a'] } : e)),
  };
  const text = subjectAccessDocument(citing, [], 'csv', key, new Date(), consents).body;

  it('says the practice id, the givers and the withdrawer in words, not the registry id', () => {
    expect(text).toContain('toestemming cons-a (gegeven door het kind en een ouder of voogd op');
    expect(text).toContain('ingetrokken door een ouder of voogd op');
    expect(text).not.toContain('uuid-a');
  });
});
