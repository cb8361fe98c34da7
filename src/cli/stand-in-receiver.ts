/**
 * `npm run receiver`: a stand-in municipality FHIR endpoint on 127.0.0.1:9090/fhir (the shipped demo
 * destination), printing what arrives. For trying `npm start` locally without a real municipality, and the
 * `municipality` service of docker/compose.yaml (`RECEIVER_HOST=0.0.0.0`, in the image as
 * `node dist/src/cli/stand-in-receiver.js`).
 */
import http from 'node:http';

const port = Number(process.env.RECEIVER_PORT ?? 9090);
const host = process.env.RECEIVER_HOST ?? '127.0.0.1';
const seen = new Set<string>();
http
  .createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const key = String(req.headers['idempotency-key'] ?? '');
      const bundle = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
        entry?: { request?: { url?: string } }[];
      };
      const duplicate = seen.has(key);
      seen.add(key);
      console.log(
        `${new Date().toISOString()} ${req.method} ${req.url} key=${key}${duplicate ? ' (duplicate, dropped)' : ''}: ${(bundle.entry ?? []).map((e) => e.request?.url).join(', ')}`,
      );
      res.writeHead(200, { 'content-type': 'application/fhir+json' });
      res.end(JSON.stringify({ resourceType: 'Bundle', type: 'transaction-response' }));
    });
  })
  .listen(port, host, () => console.log(`stand-in municipality listening on http://${host}:${port}/fhir`));
