import pino from 'pino';
import { loggedReason, logEventStates } from '../../../src/event/event-log';

// The log holds ids, states and reason codes; who is missing from a decision, named by the practice's own ids of
// the child and the guardians, stays in PostgreSQL.
describe('the reason an event-state log line carries', () => {
  it.each([
    [
      'consent-missing-child, consent-missing-guardian: no consent from the child c-2; no consent from guardian g1 ' +
        '(mother, has authority) (under Agreement demo-overbetuwe v1)',
      'consent-missing-child, consent-missing-guardian',
    ],
    [
      'denied at delivery: consent-withdrawn: consent k13-c withdrawn by the child k13',
      'denied at delivery: consent-withdrawn',
    ],
    [
      'decided again: consent-missing-child: no consent from the child c-2 (under Agreement demo-overbetuwe v1)',
      'decided again: consent-missing-child',
    ],
    ['gm0226: HTTP 422', 'gm0226: HTTP 422'],
    ['recorded in the consent registry', 'recorded in the consent registry'],
    ['cancelled by the practice before it was sent', 'cancelled by the practice before it was sent'],
  ])('logs %j as %j', (reason, logged) => {
    expect(loggedReason(reason)).toBe(logged);
  });

  it('writes the codes only into the line of the state the event enters', () => {
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    logEventStates(log, {
      eventId: 'e-1',
      traceId: 't-1',
      stage: 'map',
      states: ['mapped', 'denied'],
      reason: 'consent-missing-child: no consent from the child his-child-77 (under Agreement a v1)',
    });
    const [mapped, denied] = lines.map((l) => JSON.parse(l) as { state: string; reason?: string });
    expect(mapped).not.toHaveProperty('reason');
    expect(denied).toMatchObject({ state: 'denied', reason: 'consent-missing-child' });
    expect(lines.join('')).not.toContain('his-child-77');
  });
});
