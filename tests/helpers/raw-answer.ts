import http from 'node:http';

/** A request as `rawAnswer` sends it: `fetch`'s options, a path of its own, and a body that may come late. */
export type RawRequest = RequestInit & { path?: string; slowBody?: boolean };

/** An answer as sent, for comparing two servers': status, headers in order (as name and value), body text. */
export interface RawAnswer {
  readonly status: number | undefined;
  readonly headers: [string, string][];
  readonly text: string;
}

/** Headers unique to one answer: its time, request id and trace. */
const UNIQUE_HEADERS = new Set(['date', 'x-request-id', 'traceresponse']);

/**
 * Sends `init` to `base` + its path (else `path`) with node:http, which keeps the headers as sent (fetch would merge
 * and sort them), and returns the answer without the headers unique to it. `slowBody`: the headers first (with the
 * length the body will have), the body after a while, so that a server reads it as it arrives.
 */
export async function rawAnswer(base: string, path: string, init: RawRequest): Promise<RawAnswer> {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request(`${base}${init.path ?? path}`, {
      method: init.method,
      headers: init.headers as Record<string, string>,
    });
    req.on('response', resolve).on('error', reject);
    if (init.slowBody) {
      req.setHeader('content-length', Buffer.byteLength(init.body as string));
      req.flushHeaders();
      setTimeout(() => req.end(init.body as string | undefined), 50);
    } else {
      req.end(init.body as string | undefined);
    }
  });
  const headers: [string, string][] = [];
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    if (!UNIQUE_HEADERS.has(res.rawHeaders[i]!.toLowerCase())) {
      headers.push([res.rawHeaders[i]!, res.rawHeaders[i + 1]!]);
    }
  }
  let text = '';
  for await (const chunk of res) {
    text += String(chunk);
  }
  return { status: res.statusCode, headers, text };
}
