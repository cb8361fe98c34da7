import express, { type ErrorRequestHandler, type RequestHandler } from 'express';
import { inSequence } from '../../../src/http/in-sequence';
import { serveApp } from '../../helpers/served-app';

/** Records its name on the request and goes on, at once or (`later`) on a later turn. */
const step =
  (name: string, later = false): RequestHandler =>
  (req, _res, next) => {
    const ran = ((req as { ran?: string[] }).ran ??= []);
    ran.push(name);
    if (later) {
      setImmediate(next);
    } else {
      next();
    }
  };

const answerRan: RequestHandler = (req, res) => {
  res.json({ ran: (req as { ran?: string[] }).ran, error: null });
};
const answerError: ErrorRequestHandler = (err: Error, req, res, _next) => {
  res.status(500).json({ ran: (req as { ran?: string[] }).ran, error: err.message });
};

function appWith(...handlers: RequestHandler[]): express.Express {
  const app = express();
  app.use(inSequence(...handlers));
  app.get('/', answerRan);
  app.use(answerError);
  return app;
}

describe('handlers run in sequence as one layer', () => {
  it.each<[string, RequestHandler[], { ran: string[]; error: string | null }]>([
    ['in order, to the route', [step('a'), step('b', true), step('c')], { ran: ['a', 'b', 'c'], error: null }],
    ['none', [], { ran: undefined as unknown as string[], error: null }],
    [
      'up to one that passes an error',
      [step('a'), (_q, _s, next) => next(new Error('passed')), step('c')],
      { ran: ['a'], error: 'passed' },
    ],
    [
      'up to one that throws, after one that went on at once',
      [
        step('a'),
        () => {
          throw new Error('thrown');
        },
        step('c'),
      ],
      { ran: ['a'], error: 'thrown' },
    ],
    [
      'up to an async one that rejects',
      [step('a', true), async () => Promise.reject(new Error('rejected')), step('c')],
      { ran: ['a'], error: 'rejected' },
    ],
  ])('%s', async (_what, handlers, expected) => {
    const served = await serveApp(appWith(...handlers));
    try {
      const res = await fetch(served.url);
      expect(await res.json()).toEqual(JSON.parse(JSON.stringify(expected)));
      expect(res.status).toBe(expected.error ? 500 : 200);
    } finally {
      served.close();
    }
  });
});
