import { dataAccess, PRINCIPAL_ROLE_SYSTEM, type AuditActor } from '../../../src/audit/audit-events';

const read = (actor: AuditActor) => dataAccess({ actor, interaction: 'read', outcome: '0', query: '/x' }).agent[0]!;

describe('the agent that made a request', () => {
  it.each<[string, AuditActor, string, string | undefined]>([
    ['a HIS on the API', { userId: 'api-key:his', role: 'practice', accessPoint: '10.0.0.1' }, '110150', 'practice'],
    [
      'an auditor signed in to the console',
      { userId: 'api-key:aud', role: 'auditor', person: true, accessPoint: '10.0.0.2' },
      'humanuser',
      'auditor',
    ],
    ['the worker', { userId: 'system/worker', accessPoint: 'jeugdbrug-worker' }, 'dataprocessor', undefined],
  ])('records %s with its agent type and role', (_who, actor, type, role) => {
    const agent = read(actor);
    expect(agent.type?.coding?.[0]?.code).toBe(type);
    expect(agent.role).toEqual(role ? [{ coding: [{ system: PRINCIPAL_ROLE_SYSTEM, code: role }] }] : undefined);
  });
});
