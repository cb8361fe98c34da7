import type { RequestHandler } from 'express';

/**
 * The handlers as one, run in order as Express runs the layers of a `use` with several (a handler's error, thrown,
 * rejected or passed to `next`, skips the rest and goes to `next`). One layer where there were several: Express's
 * router matches the path, trims the mount path and allocates its callbacks once per layer a request passes, and the
 * middleware every request passes (app.ts) was a measurable part of a small request's CPU that way.
 */
export function inSequence(...handlers: readonly RequestHandler[]): RequestHandler {
  return (req, res, next) => {
    let i = 0;
    const step = (err?: unknown): void => {
      if (err) {
        next(err);
        return;
      }
      const handler = handlers[i++];
      if (!handler) {
        next();
        return;
      }
      try {
        const returned: unknown = handler(req, res, step);
        if (returned instanceof Promise) {
          returned.catch((e: unknown) => next(e ?? new Error('Rejected promise')));
        }
      } catch (e) {
        next(e);
      }
    };
    step();
  };
}
