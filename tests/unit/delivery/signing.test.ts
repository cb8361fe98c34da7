import { signWebhook, verifyWebhookSignature } from '../../../mappings/municipality/webhook/signing';

const SECRET = 'whsec-test';
const BODY = '{"resourceType":"Bundle","type":"history"}';
const NOW = Date.parse('2026-11-20T10:00:00Z');
const TS = String(NOW / 1000);

describe('webhook signatures', () => {
  it('signs with HMAC-SHA256 over "<timestamp>.<body>" as sha256=<hex>', () => {
    // Independent vector: printf '%s' '1795168800.<BODY>' | openssl dgst -sha256 -hmac whsec-test
    expect(signWebhook(SECRET, TS, BODY)).toBe(
      'sha256=01d402e7be93a130b1c843236a19a2947288ccf7cf43953ae55f36994b69ceb5',
    );
    expect(signWebhook(SECRET, TS, BODY)).not.toBe(signWebhook(SECRET, String(NOW / 1000 + 1), BODY));
  });

  it.each([
    ['the signature of this body and timestamp', TS, BODY, signWebhook(SECRET, TS, BODY), true],
    ['a changed body', TS, `${BODY} `, signWebhook(SECRET, TS, BODY), false],
    ['a changed timestamp', String(NOW / 1000 - 1), BODY, signWebhook(SECRET, TS, BODY), false],
    ['another secret', TS, BODY, signWebhook('other', TS, BODY), false],
    ['no signature', TS, BODY, undefined, false],
    ['a truncated signature', TS, BODY, signWebhook(SECRET, TS, BODY).slice(0, 20), false],
    [
      'a timestamp ten minutes old',
      String(NOW / 1000 - 600),
      BODY,
      signWebhook(SECRET, String(NOW / 1000 - 600), BODY),
      false,
    ],
    ['a timestamp that is not a number', 'yesterday', BODY, signWebhook(SECRET, 'yesterday', BODY), false],
  ])('verifies %s: %s', (_what, ts, body, signature, valid) => {
    expect(verifyWebhookSignature(SECRET, ts, body, signature, { nowMs: NOW })).toBe(valid);
  });
});
