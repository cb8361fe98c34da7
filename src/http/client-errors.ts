import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { OperationOutcome } from '@medplum/fhirtypes';

/**
 * What Node answers itself, before Express sees a request (headers or URL over `--max-http-header-size`, 16 KB by
 * default; bytes that are no HTTP; headers too slow; an `Expect` other than 100-continue), answered as every other
 * error is: a FHIR OperationOutcome.
 * Node's own answer is a bare status line with no body.
 */
export function answerClientErrors(server: Server): void {
  // An `Expect` other than 100-continue: Node answers a bare 417 unless told how (then the request is not served).
  server.on('checkExpectation', (_req: IncomingMessage, res: ServerResponse) => {
    const outcome: OperationOutcome = {
      resourceType: 'OperationOutcome',
      id: 'expectation-failed',
      issue: [
        {
          severity: 'error',
          code: 'not-supported',
          details: { text: 'Expect: only 100-continue is understood; send the request without this header' },
          expression: ['Expect'],
        },
      ],
    };
    res.writeHead(417, {
      'Content-Type': 'application/fhir+json',
      'Cache-Control': 'no-store',
      Connection: 'close',
    });
    res.end(JSON.stringify(outcome));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const [status, code, text]: [number, 'too-long' | 'timeout' | 'structure', string] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'too-long', 'The request line and headers are larger than the limit of 16 KB (a URL this long?)']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'timeout', 'The request (its headers and body) did not arrive in time']
          : [400, 'structure', 'The request is not well-formed HTTP'];
    const outcome: OperationOutcome = {
      resourceType: 'OperationOutcome',
      issue: [{ severity: 'error', code, details: { text } }],
    };
    const body = JSON.stringify(outcome);
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/fhir+json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });
}
