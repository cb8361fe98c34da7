import type { RequestHandler } from 'express';

/**
 * CORS is off unless origins are configured: the API is for systems, not browsers. A listed origin gets the
 * headers and its preflight is answered; any other origin gets none, so the browser refuses the response.
 */
export function corsFor(origins: string | undefined): RequestHandler {
  const allowed = new Set((origins ?? '').split(',').filter(Boolean));
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (!origin || !allowed.has(origin)) {
      next();
      return;
    }
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Vary', 'Origin');
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'GET, POST');
      res.setHeader('Access-Control-Allow-Headers', 'Authorization, Content-Type, X-API-Key');
      res.setHeader('Access-Control-Max-Age', '600');
      res.status(204).end();
      return;
    }
    next();
  };
}
