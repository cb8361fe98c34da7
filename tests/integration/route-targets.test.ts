import { declarationOf } from '../../src/http/route-target';
import { servedRoutesOf } from '../helpers/app-routes';
import type { ServedRoute } from '../helpers/express-routes';
import { useTestApp } from '../helpers/test-runtime';

// A refused request is recorded in the chain of the event its route names (refusal-audit.ts). Each route says what it
// names where it is defined (route-target.ts): a route with an id in its path that says nothing would have its
// refusals recorded in the caller's chain, out of sight of the practice whose event it named.
describe('what each route names, for the record of its refusals', () => {
  const app = useTestApp();
  let routes: ServedRoute[];

  beforeAll(() => {
    routes = servedRoutesOf(app);
  });

  it('has every route with a path parameter declare what it names, or that it names no event', () => {
    const withParameter = routes.filter((r) => r.route.includes('{'));
    expect(withParameter.length).toBeGreaterThan(10);
    expect(withParameter.filter((r) => declarationOf(r.handlers) === undefined).map((r) => r.route)).toEqual([]);
  });

  it('declares the event, delivery, status update or referral of each route that names one', () => {
    const declared = Object.fromEntries(
      routes.flatMap((r) => {
        const target = declarationOf(r.handlers);
        return target ? [[r.route, `${target.kind} by ${typeof target.key === 'string' ? target.key : 'body'}`]] : [];
      }),
    );
    expect(declared).toEqual({
      'GET /his/v1/events/{id}': 'event by id',
      'POST /policy/v1/$explain': 'event by body',
      'POST /admin/v1/events/{id}/redecide': 'event by id',
      'POST /admin/v1/events/{id}/remap': 'event by id',
      'POST /admin/v1/dead-letters/{id}/replay': 'delivery by id',
      'POST /admin/v1/deliveries/{id}/redeliver': 'delivery by id',
      'POST /admin/v1/feedback/{id}/replay': 'feedback by id',
      'GET /municipality/v1/referrals/{id}/status': 'referral by id',
      'POST /municipality/v1/referrals/{id}/status': 'referral by id',
      'POST /fhir/Task': 'referral by body',
      'GET /console/practice/events/{id}': 'event by id',
      'POST /console/operator/events/{id}/redecide': 'event by id',
      'POST /console/operator/dead-letters/{id}/replay': 'delivery by id',
      'POST /console/operator/deliveries/{id}/redeliver': 'delivery by id',
      'POST /console/operator/feedback/{id}/replay': 'feedback by id',
      'GET /console/municipality/referrals/{id}': 'referral by id',
      'POST /console/municipality/referrals/{id}/status': 'referral by id',
    });
  });
});
