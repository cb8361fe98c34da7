import { useTestApp } from '../helpers/test-runtime';

interface Outcome {
  issue: { code: string; expression: string[]; details: { text: string } }[];
}

/**
 * During a rolling upgrade a HIS behind one load balancer can bring a `next` link or a `pollFrom` made by one build to
 * a process of another (report-xops 4). The 400 must say so, and what to do, rather than "not from this server": it is
 * the same server on another build.
 */
describe('GET /his/v1/events with a token this build cannot read', () => {
  const app = useTestApp({ env: { ROLE: 'api' } });

  // A c918e81 next link's token ({"r":…,"i":…}) and a token no build of jeugdbrug made.
  const foreign = [
    ['_page', Buffer.from(JSON.stringify({ r: '2026-01-01T00:00:00Z', i: 'x' })).toString('base64url')],
    ['_page', 'bm90LWEtdG9rZW4'],
    ['_pollFrom', Buffer.from(JSON.stringify({ y: 1 })).toString('base64url')],
  ] as const;

  it.each(foreign)(
    'answers a %s it cannot read with 400 saying to start again from the first page',
    async (name, token) => {
      const res = await app.request(`/his/v1/events?${name}=${token}`);
      expect(res.status).toBe(400);
      const outcome = (await res.json()) as Outcome;
      expect(outcome.issue[0]!.expression).toEqual([name]);
      expect(outcome.issue[0]!.details.text).toMatch(
        /made by another build of jeugdbrug, or not by it: start again from the first page/,
      );
    },
  );
});
