import type { AuditEvent } from '@medplum/fhirtypes';
import {
  buildAuditEvent,
  consentDecision,
  dataAccess,
  disclosure,
  operatorAction,
  AUDIT_TYPES,
  SYSTEM_WORKER,
} from '../../../src/audit/audit-events';
import { canonicalizeJcs } from '../../../src/audit/chain';
import { indexedPartsOf, indexFieldsOf } from '../../../src/audit/index-fields';

/** What verification compares with a row's columns, from the whole document parsed. */
function columnsOf(event: AuditEvent): unknown {
  return { ...indexFieldsOf(event), id: event.id, recorded: event.recorded, action: event.action };
}

/** Strings that move quotes, backslashes, brackets, escapes and key look-alikes into every place the reader skips. */
const AWKWARD = [
  'plain',
  'a "quoted" word',
  'ends in a backslash \\',
  '\\"',
  '\\\\"who":{',
  '],"agent":[{"who":{"reference":"Fake/1"}}],"x":"',
  '{[}]',
  'tab\there, newline\n, nul \u0000, é, 👍',
  '',
];

function awkwardEvent(s: string, i: number): AuditEvent {
  return buildAuditEvent({
    actor: { userId: `user ${s}`, accessPoint: s },
    type: { system: `sys ${s}`, code: `code ${s}`, display: s },
    subtype: { system: s, code: s },
    action: 'R',
    outcome: '0',
    outcomeDesc: s,
    purpose: s,
    entities: [
      { what: { reference: `Thing/${i}${s}` }, description: s, detail: [{ type: s, valueString: s }] },
      { what: { identifier: { system: 'http://fhir.nl/fhir/NamingSystem/bsn', value: `${s}${i}` } } },
      { what: { identifier: { value: s } } },
      { what: { reference: '' } },
      { description: 'no what at all' },
    ],
    extraAgents: [
      { requestor: false, who: { reference: s, identifier: { system: s, value: s } } },
      { requestor: true },
    ],
  });
}

describe('indexedPartsOf', () => {
  const events: AuditEvent[] = [
    disclosure({
      actor: SYSTEM_WORKER,
      outcome: '0',
      patientBsn: '111222333',
      inboxId: 'inbox-1',
      municipality: 'GM0226',
      destination: 'gm0226',
      purpose: 'referral',
      resources: ['Patient/p-1', 'ServiceRequest/s-1'],
      agreement: { id: 'a-1', version: 2 },
      consentIds: ['c-1', 'c-2'],
    }),
    consentDecision({
      actor: SYSTEM_WORKER,
      permit: false,
      reasons: 'no consent',
      patientBsn: '111222333',
      inboxId: 'inbox-2',
      consentIds: [],
      municipality: 'GM0226',
      purpose: 'referral',
      stage: 'map',
    }),
    operatorAction({ actor: SYSTEM_WORKER, action: 'replay', target: 'delivery/1', description: 'seq 3' }),
    dataAccess({ actor: SYSTEM_WORKER, interaction: 'search', outcome: '0', query: '/fhir/AuditEvent?patient=1' }),
    // The least an AuditEvent can be: no subtype, action, agent or entity.
    {
      resourceType: 'AuditEvent',
      type: { code: AUDIT_TYPES.rest.code },
      recorded: '2026-01-01T00:00:00.000Z',
    } as AuditEvent,
    ...AWKWARD.map(awkwardEvent),
  ];

  it.each(events.map((e, i) => [i, e] as const))(
    'reads from canonical text (event %i) what the whole document parsed gives',
    (_, event) => {
      const text = canonicalizeJcs(event);
      const parts = indexedPartsOf(text);
      expect(parts).toBeDefined();
      expect(columnsOf(parts!)).toEqual(columnsOf(JSON.parse(text) as AuditEvent));
    },
  );

  it('finds the patient and every agent and entity of an event built to mislead a reader that skims', () => {
    const text = canonicalizeJcs(awkwardEvent(AWKWARD[5]!, 7));
    const f = indexFieldsOf(indexedPartsOf(text)!);
    expect(f.patientBsn).toBe(`${AWKWARD[5]}7`);
    expect(f.agents).not.toContain('Fake/1');
    expect(f.entities).toContain(`Thing/7${AWKWARD[5]}`);
  });

  it('reads a member given twice as JSON.parse does, the last one winning, at every depth', () => {
    const text = canonicalizeJcs(events[0]);
    for (const twice of [
      text.replace('"outcome":"0"', '"outcome":"0","outcome":"8"'),
      text.replace('"type":{', '"type":{"code":"first"},"type":{'),
      text.replace('"identifier":{', '"identifier":{"value":"first"},"identifier":{'),
      text.replace('"agent":[', '"agent":[],"agent":['),
      text.replace('"entity":[', '"entity":[{"what":{"reference":"Patient/first"}}],"entity":['),
    ]) {
      expect(twice).not.toBe(text);
      const parts = indexedPartsOf(twice);
      expect(parts).toBeDefined();
      expect(columnsOf(parts!)).toEqual(columnsOf(JSON.parse(twice) as AuditEvent));
    }
  });

  it('leaves text that is not compact JSON to the full parser', () => {
    const text = canonicalizeJcs(events[0]);
    for (const other of [
      JSON.stringify(JSON.parse(text), null, 1),
      `${text} `,
      `${text}{}`,
      text.slice(0, -1),
      text.replace('"agent":[', '"agent":null,"x":['),
      text.replace('"entity":[{', '"entity":[1,{'),
      // Compact, but a member that is not the object or array an AuditEvent has there.
      canonicalizeJcs({ ...events[0], type: 'x' }),
      canonicalizeJcs({ ...events[0], subtype: { 0: { code: 'x' } } }),
      canonicalizeJcs({ ...events[0], entity: [{ what: { identifier: 'x' } }] }),
      '[]',
      '"AuditEvent"',
      '',
    ]) {
      expect(indexedPartsOf(other)).toBeUndefined();
    }
  });
});
