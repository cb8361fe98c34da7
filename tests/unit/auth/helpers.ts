import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { OperationOutcomeError } from '@medplum/core';
import { httpStatusOf } from '../../../src/kernel/fhir/outcomes';
import express, { type ErrorRequestHandler, type Express } from 'express';
import type { OperationOutcome } from '@medplum/fhirtypes';
import type { JWK } from 'jose';

/** A server started on 127.0.0.1, port 0. */
export interface TestServer {
  readonly url: string;
  close(): Promise<void>;
}

function listen(server: http.Server): Promise<TestServer> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise<void>((done, fail) => {
            server.closeAllConnections();
            server.close((err) => (err ? fail(err) : done()));
          }),
      });
    });
  });
}

/**
 * A tiny Express app with the routes `configure` adds, then a stand-in for the app's error handler that writes an
 * OperationOutcomeError's outcome with its status (the real handler is not part of the auth module).
 */
export function startApp(configure: (app: Express) => void): Promise<TestServer> {
  const app = express();
  configure(app);
  const onError: ErrorRequestHandler = (err, _req, res, _next) => {
    if (err instanceof OperationOutcomeError) {
      res.status(httpStatusOf(err.outcome)).json(err.outcome);
      return;
    }
    res.status(500).json({ unexpected: String(err) });
  };
  app.use(onError);
  return listen(http.createServer(app));
}

/** Serves `{ keys }` as a JWKS at `/jwks`, as an issuer would. */
export function startJwksServer(keys: readonly JWK[]): Promise<TestServer> {
  return listen(
    http.createServer((req, res) => {
      if (req.url === '/jwks') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
        return;
      }
      res.writeHead(404).end();
    }),
  );
}

/** A URL on which nothing listens: a port that was free a moment ago. */
export async function deadUrl(): Promise<string> {
  const server = await listen(http.createServer());
  await server.close();
  return server.url;
}

/** Runs `fn` and returns the OperationOutcomeError it throws or rejects with; fails the test when it does not. */
export async function outcomeErrorOf(fn: () => unknown): Promise<OperationOutcomeError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return err;
    }
    throw new Error(`expected an OperationOutcomeError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected an OperationOutcomeError, but nothing was thrown');
}

/** The `details.text` of every issue of an outcome, for compact assertions. */
export function issueTexts(outcome: OperationOutcome): (string | undefined)[] {
  return (outcome.issue ?? []).map((i) => i.details?.text);
}
