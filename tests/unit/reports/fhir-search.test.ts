import { OperationOutcomeError } from '@medplum/core';
import { httpStatusOf } from '../../../src/kernel/fhir/outcomes';
import type { AuditEvent } from '@medplum/fhirtypes';
import { publicBaseUrl } from '../../../src/http/public-base-url';
import { AUDIT_EVENT_SEARCH } from '../../../src/reports/audit-search/search-params';
import { CONSENT_SEARCH } from '../../../src/reports/consent-search/consent-search';
import { capabilityStatement } from '../../../src/reports/fhir-search/capability-statement';
import { decodePageToken, encodePageToken } from '../../../src/reports/fhir-search/page-token';
import {
  handlingOf,
  parseFhirRead,
  parseFhirSearch,
  type FhirSearch,
} from '../../../src/reports/fhir-search/parse-search';
import type { FhirResourceProvider } from '../../../src/reports/fhir-search/resource-provider';
import { toSearchset, withElements } from '../../../src/reports/fhir-search/searchset';
import { z } from 'zod';

function parse(query: string, handling: 'strict' | 'lenient' = 'strict'): FhirSearch {
  return parseFhirSearch(CONSENT_SEARCH, new URLSearchParams(query), handling);
}

/** The parameter a 400 names. */
function rejected(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      expect(err.outcome.issue?.[0]?.code).toBe('invalid');
      return err.outcome.issue?.[0]?.expression?.[0];
    }
    throw err;
  }
  throw new Error('accepted');
}

describe('parseFhirSearch', () => {
  it('reads filters with @medplum/core, by the standard parameter types', () => {
    const s = parse('patient:identifier=sys|123456782&status=active,inactive&date=ge2025-01-01&_id=x');
    expect(s.filters).toEqual([
      { code: 'patient', operator: 'identifier', value: 'sys|123456782' },
      { code: 'status', operator: 'eq', value: 'active,inactive' },
      { code: 'date', operator: 'ge', value: '2025-01-01' },
      { code: '_id', operator: 'eq', value: 'x' },
    ]);
    // A token is never read as a date prefix: `le110113` stays one code.
    const a = parseFhirSearch(AUDIT_EVENT_SEARCH, new URLSearchParams('type=le110113'));
    expect(a.filters).toEqual([{ code: 'type', operator: 'eq', value: 'le110113' }]);
  });

  it.each([
    ['', { count: 50, summaryCount: false, total: 'estimate', elements: undefined, sort: undefined }],
    ['_count=7', { count: 7 }],
    ['_count=100000', { count: 500 }],
    ['_summary=count&_count=5', { count: 0, summaryCount: true, total: 'accurate' }],
    ['_summary=false', { summaryCount: false }],
    ['_total=none', { total: 'none' }],
    ['_elements=status,dateTime', { elements: ['status', 'dateTime'] }],
    ['_sort=-date', { sort: { code: 'date', descending: true } }],
    ['_sort=date', { sort: { code: 'date', descending: false } }],
  ])('reads the result parameters of %s', (query, expected) => {
    expect(parse(query)).toEqual(expect.objectContaining(expected));
  });

  it.each([
    ['_count=ten', '_count'],
    ['_count=-1', '_count'],
    ['_count=1&_count=2', '_count'],
    ['_summary=true', '_summary'],
    ['_summary=data', '_summary'],
    ['_total=maybe', '_total'],
    ['_elements=meta.tag', '_elements'],
    ['_sort=status', '_sort'],
    ['_format=', '_format'],
    ['_format=json&_format=json', '_format'],
    ['status=', 'status'],
    ['date=today', 'date'],
    ['name=Jansen', 'name'],
    ['status:not=active', 'status:not'],
    ['_include=Consent:patient', '_include'],
  ])('answers %s with a 400 naming %s', (query, name) => {
    expect(rejected(() => parse(query))).toBe(name);
  });

  it('ignores unknown parameters when lenient, and leaves them out of what it applied', () => {
    const s = parse('name=Jansen&patient=123456782&_include=Consent:patient&_count=3', 'lenient');
    expect(s.ignored).toEqual(['name', '_include']);
    expect(s.applied.toString()).toBe('patient=123456782&_count=3');
    // Lenience is about unknown names; a malformed known one is still refused.
    expect(rejected(() => parse('name=x&_count=x', 'lenient'))).toBe('_count');
  });

  it('applies a _count above the maximum as the maximum, and says so in what it applied (the self link)', () => {
    const s = parse('patient=123456782&_count=999');
    expect(s.count).toBe(500);
    expect(s.applied.toString()).toBe('patient=123456782&_count=500');
    expect(parse('_count=7').applied.toString()).toBe('_count=7');
  });

  it('keeps the page token out of the applied parameters', () => {
    const s = parse('patient=123456782&_page=abc');
    expect(s.page).toBe('abc');
    expect(s.applied.toString()).toBe('patient=123456782');
  });
});

describe('handlingOf', () => {
  it.each([
    [undefined, 'strict'],
    ['handling=lenient', 'lenient'],
    ['return=minimal, handling=strict', 'strict'],
    ['respond-async; handling=lenient', 'lenient'],
  ] as const)('reads %s as %s', (header, handling) => {
    expect(handlingOf(header)).toBe(handling);
  });

  it('refuses a handling it does not know, naming Prefer', () => {
    expect(rejected(() => handlingOf('handling=loose'))).toBe('Prefer');
  });
});

describe('page tokens', () => {
  const schema = z.object({ t: z.string(), i: z.string() }).strict();

  it('round-trips a key and refuses a token it did not make', () => {
    expect(decodePageToken(encodePageToken({ t: '2025', i: 'a' }), schema)).toEqual({ t: '2025', i: 'a' });
    expect(rejected(() => decodePageToken('not-a-token', schema))).toBe('_page');
    expect(rejected(() => decodePageToken(encodePageToken({ t: 1 }), schema))).toBe('_page');
  });
});

describe('searchset Bundles', () => {
  const event: AuditEvent = {
    resourceType: 'AuditEvent',
    id: 'e1',
    type: { code: 'rest' },
    recorded: '2025-01-01T00:00:00Z',
    agent: [],
    source: { observer: {} },
  };

  it('makes fullUrls and links absolute on the base, repeating the applied parameters', () => {
    const search = parse('patient=123456782&name=x&_count=1&_page=p1', 'lenient');
    const b = toSearchset(
      'https://jb.example/fhir',
      { ...search, resourceType: 'AuditEvent' },
      {
        resources: [event],
        total: 3,
        next: 'p2',
        previous: 'p0',
        tenants: [],
      },
    );
    expect(b.link).toEqual([
      { relation: 'self', url: 'https://jb.example/fhir/AuditEvent?patient=123456782&_count=1&_page=p1' },
      { relation: 'next', url: 'https://jb.example/fhir/AuditEvent?patient=123456782&_count=1&_page=p2' },
      { relation: 'previous', url: 'https://jb.example/fhir/AuditEvent?patient=123456782&_count=1&_page=p0' },
    ]);
    expect(b.entry?.[0]?.fullUrl).toBe('https://jb.example/fhir/AuditEvent/e1');
    // The ignored parameter is reported in an outcome entry after the matches.
    expect(b.entry?.map((e) => e.search?.mode)).toEqual(['match', 'outcome']);
    expect(b.total).toBe(3);
  });

  it('leaves entry out when there is none (FHIR JSON has no empty arrays): _summary=count, or no match', () => {
    const page = { resources: [event], total: 1, tenants: [] };
    const counted = toSearchset(
      'https://jb.example/fhir',
      { ...parse('_summary=count'), resourceType: 'AuditEvent' },
      page,
    );
    expect(counted.total).toBe(1);
    expect('entry' in counted).toBe(false);
    const none = toSearchset(
      'https://jb.example/fhir',
      { ...parse(''), resourceType: 'AuditEvent' },
      {
        resources: [],
        total: 0,
        tenants: [],
      },
    );
    expect('entry' in none).toBe(false);
  });

  it('subsets a resource to _elements, keeping the elements FHIR requires of it, and tags it', () => {
    expect(withElements(event, ['recorded', 'nothing'])).toEqual({
      resourceType: 'AuditEvent',
      id: 'e1',
      recorded: '2025-01-01T00:00:00Z',
      // AuditEvent.type, agent and source are 1..: kept whatever `_elements` names (report-xmuni 4).
      type: { code: 'rest' },
      agent: [],
      source: { observer: {} },
      meta: { tag: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' }] },
    });
    expect(withElements(event, undefined)).toBe(event);
  });
});

describe('parseFhirRead', () => {
  it('takes _elements, _pretty, _format and _summary=false, as a search does', () => {
    const read = (q: string, handling: 'strict' | 'lenient' = 'strict') =>
      parseFhirRead(new URLSearchParams(q), handling);
    expect(read('_elements=type,recorded&_pretty=true&_format=json&_summary=false')).toEqual({
      elements: ['type', 'recorded'],
      pretty: true,
      ignored: [],
    });
    expect(read('')).toEqual({ elements: undefined, pretty: false, ignored: [] });
    expect(read('foo=1&_count=2', 'lenient').ignored).toEqual(['foo', '_count']);
    expect(parse('_pretty=true').pretty).toBe(true);
  });

  it.each([
    ['foo=bar', 'foo'],
    ['_count=1', '_count'],
    ['_format=', '_format'],
    ['_pretty=1', '_pretty'],
    ['_summary=true', '_summary'],
    ['_elements=a.b', '_elements'],
    ['_pretty=true&_pretty=false', '_pretty'],
  ])('answers 400 naming the parameter of %s', (query, name) => {
    expect(rejected(() => parseFhirRead(new URLSearchParams(query)))).toBe(name);
  });
});

describe('a format the server cannot produce', () => {
  // 406, as FHIR (http.html#mime-type) and HAPI answer it: the request is well-formed, the format cannot be had.
  const notAcceptable = (fn: () => unknown): { status: number; expression?: string[]; text?: string } => {
    try {
      fn();
    } catch (err) {
      if (err instanceof OperationOutcomeError) {
        const issue = err.outcome.issue?.[0];
        return { status: httpStatusOf(err.outcome), expression: issue?.expression, text: issue?.details?.text };
      }
      throw err;
    }
    throw new Error('accepted');
  };

  it.each(['xml', 'text/turtle', 'application/fhir+xml', 'application/fhir+json; fhirVersion=3.0'])(
    'answers _format=%s with a 406 naming _format and the version served, in a search and a read',
    (format) => {
      const query = new URLSearchParams({ _format: format });
      for (const answer of [notAcceptable(() => parse(query.toString())), notAcceptable(() => parseFhirRead(query))]) {
        expect(answer).toEqual({
          status: 406,
          expression: ['_format'],
          text: expect.stringContaining('fhirVersion=4.0'),
        });
      }
    },
  );
});

describe('capabilityStatement', () => {
  it('lists each provider with read, search-type and its parameters with their standard definitions', () => {
    const provider = { spec: AUDIT_EVENT_SEARCH } as FhirResourceProvider;
    const cs = capabilityStatement([provider], [], {
      fhirBase: 'https://jb.example/fhir',
      version: '1.2.3',
      corsEnabled: false,
      date: '2026-01-01T00:00:00Z',
    });
    const r = cs.rest?.[0]?.resource?.[0];
    expect(r?.type).toBe('AuditEvent');
    expect(r?.searchParam?.find((p) => p.name === 'date')).toEqual(
      expect.objectContaining({ type: 'date', definition: 'http://hl7.org/fhir/SearchParameter/AuditEvent-date' }),
    );
    expect(r?.searchParam?.find((p) => p.name === '_sort')?.documentation).toBe('date | -date');
    expect(cs.implementation?.url).toBe('https://jb.example/fhir');
  });

  it('lists the other interactions on their types, with the route each is', () => {
    const cs = capabilityStatement(
      [],
      [
        { resourceType: 'Measure', code: 'read', id: 'm1', documentation: 'the only Measure' },
        { resourceType: 'Task', code: 'create', documentation: 'a status' },
      ],
      { fhirBase: 'https://jb.example/fhir', version: '1', corsEnabled: false, date: '2026-01-01T00:00:00Z' },
    );
    expect(cs.rest?.[0]?.resource?.map((r) => [r.type, r.interaction, r.searchParam])).toEqual([
      ['Measure', [{ code: 'read', documentation: 'GET Measure/m1: the only Measure' }], undefined],
      ['Task', [{ code: 'create', documentation: 'POST Task: a status' }], undefined],
    ]);
  });
});

describe('publicBaseUrl', () => {
  it.each([
    [
      { PUBLIC_BASE_URL: 'https://jb.example/', HOST: '0.0.0.0', PORT: 8080 },
      'http://0.0.0.0:4000',
      'https://jb.example',
    ],
    [{ HOST: '127.0.0.1', PORT: 0 }, 'http://127.0.0.1:4000', 'http://127.0.0.1:4000'],
    [{ HOST: '0.0.0.0', PORT: 8080 }, 'http://0.0.0.0:8080', 'http://localhost:8080'],
    [{ HOST: '0.0.0.0', PORT: 8080 }, undefined, 'http://localhost:8080'],
    [{ HOST: '::1', PORT: 8080 }, undefined, 'http://[::1]:8080'],
  ])('for %j listening at %s is %s', (config, listening, expected) => {
    expect(publicBaseUrl(config, listening)).toBe(expected);
  });
});
