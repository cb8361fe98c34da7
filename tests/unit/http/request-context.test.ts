import type { Request, Response } from 'express';
import { setPrincipal } from '../../../src/access/authenticate';
import { createPrincipal } from '../../../src/access/principal';
import { actorOf } from '../../../src/http/request-context';
import { eventReceived } from '../../../src/audit/audit-events';

const practice = createPrincipal({
  id: 'api-key:his-1',
  role: 'practice',
  practices: ['01234567'],
  municipalities: [],
  via: 'api-key',
});
const auditor = createPrincipal({
  id: 'api-key:aud',
  role: 'auditor',
  practices: [],
  municipalities: [],
  via: 'api-key',
});

/** A request as actorOf reads it: its URL and client address, and the principal the authenticator set. */
function request(url: string, ip: string | undefined, principal?: typeof practice): [Request, Response] {
  const res = { locals: {} } as Response;
  if (principal) {
    setPrincipal(res, principal);
  }
  return [{ originalUrl: url, ip } as Request, res];
}

describe('the audit actor of a request', () => {
  it('names the principal, whom it acts for, the client address and whether a person is behind it', () => {
    expect(actorOf(...request('/policy/v1/$explain', '10.0.0.7', practice))).toEqual({
      userId: 'api-key:his-1',
      role: 'practice',
      person: false,
      onBehalfOf: { kind: 'practice', code: '01234567' },
      accessPoint: '10.0.0.7',
    });
    expect(actorOf(...request('/console/practices', '10.0.0.7', auditor))).toEqual({
      userId: 'api-key:aud',
      role: 'auditor',
      person: true,
      onBehalfOf: undefined,
      accessPoint: '10.0.0.7',
    });
    expect(actorOf(...request('/health/ready', undefined))).toEqual({
      userId: 'anonymous',
      role: undefined,
      person: false,
      onBehalfOf: undefined,
      accessPoint: 'unknown',
    });
  });

  it('is one frozen actor for a principal’s requests from one address, so its agents are built once', () => {
    const first = actorOf(...request('/policy/v1/$explain', '10.0.0.7', practice));
    expect(actorOf(...request('/his/v1/events', '10.0.0.7', practice))).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    // Another address, the console, another principal: each an actor of its own, with what sets it apart.
    expect(actorOf(...request('/policy/v1/$explain', '10.0.0.8', practice)).accessPoint).toBe('10.0.0.8');
    expect(actorOf(...request('/console/audit', '10.0.0.7', practice)).person).toBe(true);
    expect(actorOf(...request('/policy/v1/$explain', '10.0.0.7', auditor)).userId).toBe('api-key:aud');
    expect(actorOf(...request('/console/audit', '10.0.0.7', practice))).not.toBe(first);
  });
});

describe('the responsible party of a municipality key for more than one municipality', () => {
  it('is each municipality of the key, so that each one’s audit search finds what the key did', () => {
    const twoMunicipalities = createPrincipal({
      id: 'api-key:gm-ab',
      role: 'municipality',
      practices: [],
      municipalities: ['GM0226', 'GM0344'],
      via: 'api-key',
    });
    const actor = actorOf(...request('/fhir/Task', '10.0.0.9', twoMunicipalities));
    const event = eventReceived({
      actor,
      inboxId: '3f1c3f0e-0000-4000-8000-000000000001',
      eventType: 'x',
      patientBsn: '234567892',
    });
    const responsible = event.agent
      .filter((a) => a.type?.coding?.some((c) => c.code === 'RESP'))
      .map((a) => a.who?.identifier?.value);
    expect(responsible).toEqual(['GM0226', 'GM0344']);
  });
});
