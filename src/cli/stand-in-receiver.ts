/**
 * `npm run receiver`: stand-ins for the two outside systems of the shipped config/, on 127.0.0.1:9090
 * (RECEIVER_PORT): the municipality's FHIR endpoint under `/fhir` and the practice's HIS under `/his`. Prints what
 * arrives and keeps it (each idempotency key once, as a real receiver should), so you can look at its copy:
 *
 *   GET /fhir/ServiceRequest  the referrals the municipality received (a searchset Bundle)
 *   GET /his/Task             the status updates the practice received (a searchset Bundle)
 *   GET /received             everything that arrived, in order
 *
 * For trying `npm start` locally without a real municipality or HIS; `npm run demo` and the README test use it.
 * Also the `municipality` service of docker/compose.yaml (`RECEIVER_HOST=0.0.0.0`, in the image as
 * `node dist/src/cli/stand-in-receiver.js`).
 */
import http from 'node:http';

interface Arrival {
  readonly at: string;
  readonly method: string;
  readonly path: string;
  readonly key: string;
  readonly body: unknown;
}

interface Resource {
  readonly resourceType: string;
  readonly [key: string]: unknown;
}

const port = Number(process.env.RECEIVER_PORT ?? 9090);
const host = process.env.RECEIVER_HOST ?? '127.0.0.1';
const arrivals: Arrival[] = [];
const seen = new Set<string>();

/** The resources in what arrived: a FHIR Bundle's entries, or nothing for other JSON. */
function resourcesOf(body: unknown): Resource[] {
  const entries = (body as { entry?: { resource?: Resource }[] } | undefined)?.entry ?? [];
  return entries.map((e) => e.resource).filter((r): r is Resource => !!r && typeof r.resourceType === 'string');
}

function searchset(under: string, type: string): unknown {
  const found = arrivals
    .filter((a) => a.path.startsWith(under))
    .flatMap((a) => resourcesOf(a.body))
    .filter((r) => r.resourceType === type);
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: found.length,
    // No empty array when nothing matched: FHIR JSON has none.
    ...(found.length > 0 ? { entry: found.map((resource) => ({ resource })) } : {}),
  };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/fhir+json' });
  res.end(JSON.stringify(body));
}

http
  .createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (req.method === 'GET' || req.method === 'HEAD') {
        if (path === '/received') {
          return send(res, 200, arrivals);
        }
        if (path === '/fhir/ServiceRequest') {
          return send(res, 200, searchset('/fhir', 'ServiceRequest'));
        }
        // What the practice's HIS holds of a type: Tasks (status updates), EpisodeOfCare and Encounter (trajectories
        // registered in the municipality's system).
        const hisType = /^\/his\/([A-Z][A-Za-z]+)$/.exec(path)?.[1];
        if (hisType) {
          return send(res, 200, searchset('/his', hisType));
        }
        return send(res, 200, { resourceType: 'CapabilityStatement', status: 'active', kind: 'instance' });
      }
      const key = String(req.headers['idempotency-key'] ?? '');
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
      } catch {
        return send(res, 400, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'invalid' }] });
      }
      const duplicate = seen.has(key);
      if (!duplicate) {
        seen.add(key);
        arrivals.push({ at: new Date().toISOString(), method: req.method ?? 'POST', path, key, body });
      }
      const entries = (body as { entry?: { request?: { method?: string; url?: string } }[] }).entry ?? [];
      console.log(
        `${new Date().toISOString()} ${req.method} ${path} key=${key}${duplicate ? ' (duplicate, dropped)' : ''}: ${entries.map((e) => `${e.request?.method ?? ''} ${e.request?.url ?? ''}`).join(', ')}`,
      );
      send(res, 200, { resourceType: 'Bundle', type: 'transaction-response' });
    });
  })
  .listen(port, host, () =>
    console.log(`stand-in municipality on http://${host}:${port}/fhir, stand-in practice HIS on /his`),
  );
