import express, { Router, type ErrorRequestHandler, type RequestHandler } from 'express';
import { declaredTargetOf, names, namesNoEvent } from '../../../src/http/route-target';
import { serveApp } from '../../helpers/served-app';

/** Refuses every request, as a role check where a router is mounted does: before Express has picked a route. */
const refuse: RequestHandler = () => {
  throw Object.assign(new Error('refused'), { status: 403 });
};

/** What the refusal's record reads: the declared target of the route the refused request was for. */
const answerTarget: ErrorRequestHandler = (_err, req, res, _next) => {
  res.status(403).json(declaredTargetOf(req, (r) => r.body as unknown) ?? 'none');
};

function appWithRoutes(): express.Express {
  const inner = Router();
  inner.get('/events/:id', names('event', 'id'), (_req, res) => res.end());
  inner.post('/feedback/:id/replay', names('feedback', 'id'), (_req, res) => res.end());
  inner.get('/destinations/:id', namesNoEvent, (_req, res) => res.end());
  inner.get('/plain/:id', (_req, res) => res.end());
  const pages = Router();
  pages.get('/referrals/:id', names('referral', 'id'), (_req, res) => res.end());
  const outer = Router();
  outer.use('/pages', refuse, pages);
  // An error handler inside a mounted router, as the console's is: it sees the request below its mount path.
  outer.use(answerTarget);
  const app = express();
  app.use(express.json());
  app.use('/api/v1', refuse, inner);
  app.post('/explain', refuse, names('event', { body: (b) => (b as { eventId?: string }).eventId }), (_q, s) =>
    s.end(),
  );
  app.use('/console', outer);
  app.use(answerTarget);
  return app;
}

describe('the target a route declares, found for a request refused before routing', () => {
  let served: { url: string; close: () => void };
  beforeAll(async () => {
    served = await serveApp(appWithRoutes());
  });
  afterAll(() => served.close());

  it.each<[string, string, unknown, unknown]>([
    ['a path parameter, through a mounted router', 'GET /api/v1/events/e-1', undefined, { kind: 'event', key: 'e-1' }],
    ['the method the route has', 'POST /api/v1/feedback/f-1/replay', {}, { kind: 'feedback', key: 'f-1' }],
    ['no route for another method', 'GET /api/v1/feedback/f-1/replay', undefined, 'none'],
    ['a route that names no event', 'GET /api/v1/destinations/d-1', undefined, 'none'],
    ['a route that declares nothing', 'GET /api/v1/plain/p-1', undefined, 'none'],
    ['no route at all', 'GET /api/v1/nothing-here', undefined, 'none'],
    ['a key in the body', 'POST /explain', { eventId: 'e-2' }, { kind: 'event', key: 'e-2' }],
    ['a key decoded', 'GET /console/pages/referrals/sys%7Cref-1', undefined, { kind: 'referral', key: 'sys|ref-1' }],
    ['a key that cannot be decoded: none', 'GET /console/pages/referrals/%E0', undefined, 'none'],
  ])('reads %s', async (_what, request, json, expected) => {
    const [method, path] = request.split(' ') as [string, string];
    const res = await fetch(`${served.url}${path}`, {
      method,
      ...(json === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(json) }),
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual(expected);
  });
});
