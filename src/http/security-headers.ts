import type { RequestHandler } from 'express';
import helmet, { type HelmetOptions } from 'helmet';

/** What a middleware did to an answer's headers, in order: set a header, or remove one. */
type HeaderStep = readonly [name: string, value: string] | readonly [name: string];

/**
 * Helmet's headers, with one policy of our own for every answer: an API answer loads nothing and is never framed;
 * the pages this server renders (the console, /docs) replace it with theirs (`strictCsp`). One policy per answer,
 * and X-Frame-Options agreeing with its frame-ancestors.
 */
export const HELMET_OPTIONS: Readonly<HelmetOptions> = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"] },
  },
  frameguard: { action: 'deny' },
};

/**
 * Helmet's headers (HELMET_OPTIONS) for every answer. These options give the same headers to every request, so helmet
 * runs once, here, on a stand-in answer that records what it does, and each request gets those steps replayed: the
 * same headers, in the same order, without helmet's thirteen middleware calls per request. `security-headers.test.ts`
 * compares the two on real answers.
 */
export function securityHeaders(): RequestHandler {
  const steps = stepsOf(helmet(HELMET_OPTIONS));
  return (_req, res, next) => {
    for (const step of steps) {
      if (step.length === 2) {
        res.setHeader(step[0], step[1]);
      } else {
        res.removeHeader(step[0]);
      }
    }
    next();
  };
}

/** Runs `middleware` once on a stand-in request and answer; what it did to the headers. Throws if it did more. */
function stepsOf(middleware: (req: never, res: never, next: (err?: unknown) => void) => void): HeaderStep[] {
  const steps: HeaderStep[] = [];
  const res = {
    setHeader(name: string, value: unknown) {
      if (typeof value !== 'string') {
        throw new Error(`helmet set ${name} to a value other than text; it can no longer be recorded once`);
      }
      steps.push([name, value]);
    },
    removeHeader(name: string) {
      steps.push([name]);
    },
  };
  let passed = false;
  middleware({} as never, res as never, (err?: unknown) => {
    if (err) {
      throw err instanceof Error ? err : new Error('helmet refused its own options');
    }
    passed = true;
  });
  if (!passed) {
    throw new Error('helmet did not pass the request on at once; its headers can no longer be recorded once');
  }
  return steps;
}
