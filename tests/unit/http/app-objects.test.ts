import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import express from 'express';
import { appObjectClasses } from '../../../src/http/app-objects';
import { addLeanRoute, requestListener } from '../../../src/http/lean-route';

/**
 * Express gives each request and response its app's prototypes (`Object.setPrototypeOf` in `app.handle`, and in a
 * lean route), and V8 gives an object whose prototype changes a map (hidden class) of its own: every property of a
 * request and its response was then looked up afresh at every place the code reads it. Made as the app's own objects
 * by the server (`appObjectClasses`), they need no change. These tests count the changes that take place.
 */
describe('a request and its response are made as the app’s own objects', () => {
  const servers: http.Server[] = [];
  afterAll(() => servers.forEach((s) => s.close()));

  function appWithLeanRoute(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    const answer: express.RequestHandler = (req, res) => {
      res.setHeader('X-Seen', `${req.method} ${req.path}`);
      res.json({ app: req.app === app, ip: req.ip, json: typeof res.json, body: req.url });
    };
    app.post('/lean', answer);
    app.get('/routed', answer);
    const onError: express.ErrorRequestHandler = (_err, _req, res, _next) => {
      res.status(500).end();
    };
    addLeanRoute(app, {
      takes: (req) => req.url === '/lean',
      path: '/lean',
      everyRequest: [],
      handlers: [answer],
      errorHandler: onError,
    });
    return app;
  }

  async function serve(app: express.Express, withClasses: boolean): Promise<string> {
    const listener = requestListener(app);
    const server = withClasses ? http.createServer(appObjectClasses(app), listener) : http.createServer(listener);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** What `act` answered, and how many times a request's or response's prototype was changed while it ran. */
  async function changesDuring(act: () => Promise<Response>): Promise<{ changes: number; answer: unknown }> {
    const setPrototypeOf = Object.setPrototypeOf.bind(Object);
    let changes = 0;
    const spy = jest.spyOn(Object, 'setPrototypeOf').mockImplementation((o: object, proto: object | null) => {
      const isHttpObject = o instanceof http.IncomingMessage || o instanceof http.ServerResponse;
      if (isHttpObject && Object.getPrototypeOf(o) !== proto) {
        changes++;
      }
      return setPrototypeOf(o, proto) as unknown;
    });
    try {
      const res = await act();
      const answer = { status: res.status, seen: res.headers.get('x-seen'), body: await res.json() };
      return { changes, answer };
    } finally {
      spy.mockRestore();
    }
  }

  it.each([
    ['the lean route', 'POST', '/lean'],
    ["the app's router", 'GET', '/routed'],
  ])('through %s: none changed, the same answer', async (_name, method, path) => {
    const app = appWithLeanRoute();
    const made = await serve(app, true);
    const plain = await serve(appWithLeanRoute(), false);
    const asMade = await changesDuring(() => fetch(`${made}${path}`, { method }));
    const asPlain = await changesDuring(() => fetch(`${plain}${path}`, { method }));
    expect(asMade.changes).toBe(0);
    // The count can fail: Node's own objects are changed, a request and its response.
    expect(asPlain.changes).toBe(2);
    expect(asMade.answer).toEqual(asPlain.answer);
    expect(asMade.answer).toMatchObject({ status: 200, body: { app: true, ip: '127.0.0.1', json: 'function' } });
  });

  it('gives an app the same classes every time', () => {
    const app = appWithLeanRoute();
    const first = appObjectClasses(app);
    expect(appObjectClasses(app)).toBe(first);
    expect(Object.getPrototypeOf(new first.IncomingMessage(new net.Socket()))).toBe(app.request);
  });
});
