import http from 'node:http';

/** One answer of the product: status and body text. */
export interface Answer {
  readonly status: number;
  readonly body: string;
}

/**
 * POSTs a JSON body with an API key over a keep-alive agent. A hand-rolled client rather than fetch: the load
 * generator must cost the bench process little, and every connection must be reused.
 */
export function postJson(agent: http.Agent, url: string, key: string, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: `Bearer ${key}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
