import type { Response } from 'express';

/**
 * Sends a JSON answer to a POST as `res.json` would (same body, `Content-Type` and `Content-Length`), without the
 * ETag and freshness check Express adds to every answer: a POST's answer is never requested again conditionally, and
 * hashing every answer for an ETag no one uses was a measurable part of a small request's CPU.
 */
export function sendPostAnswer(res: Response, body: unknown): void {
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  // Node sets Content-Length itself when the whole body is written at once.
  res.end(JSON.stringify(body));
}
