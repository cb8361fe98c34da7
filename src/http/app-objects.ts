import { IncomingMessage, ServerResponse } from 'node:http';
import type { Express, Request, Response } from 'express';

/** The classes `http.createServer` makes each request's objects with (its `IncomingMessage` and `ServerResponse`). */
export interface AppObjectClasses {
  readonly IncomingMessage: typeof IncomingMessage;
  readonly ServerResponse: typeof ServerResponse;
}

const made = new WeakMap<Express, AppObjectClasses>();

/**
 * Classes under which Node's HTTP server makes a request and its response as `app`'s own objects: with the app's
 * request and response prototypes (Express's `req.app`, `req.ip`, `res.json`, …) from the start.
 *
 * Express gives Node's objects those prototypes as each request arrives (`Object.setPrototypeOf` in `app.handle`, as
 * a lean route does), and V8 gives an object whose prototype changes a hidden class (map) of its own, cached nowhere:
 * every request's objects had maps no other had, so each place in Express, Node's HTTP code and ours that reads or
 * writes a property of them missed its inline cache and looked the property up in the runtime, about 130 times per
 * `$explain`, and made maps for the garbage collector to trace. Made with the right prototypes, nothing changes them
 * (setting the prototype an object has is no change), and they share their maps.
 *
 * The app's prototypes become those of subclasses of Node's classes, whose prototypes inherit from the app's before,
 * so everything Express defines on them is found as before. Subclasses (`class … extends`) rather than functions that
 * construct Node's class with another `new.target`: V8 keeps the map it derives for a subclass, and would derive one
 * per object for a plain function. Made once per app; served with `requestListener(app)` or the app itself.
 */
export function appObjectClasses(app: Express): AppObjectClasses {
  let classes = made.get(app);
  if (!classes) {
    class AppRequest extends IncomingMessage {}
    class AppResponse extends ServerResponse {}
    Object.setPrototypeOf(AppRequest.prototype, app.request);
    Object.setPrototypeOf(AppResponse.prototype, app.response);
    app.request = AppRequest.prototype as unknown as Request;
    app.response = AppResponse.prototype as unknown as Response;
    // Typed as Node's own classes, which take a request of any subclass: these are served only their own requests.
    classes = { IncomingMessage: AppRequest, ServerResponse: AppResponse as typeof ServerResponse };
    made.set(app, classes);
  }
  return classes;
}
