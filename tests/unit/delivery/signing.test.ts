import { createHmac } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { signWebhook } from '../../../mappings/municipality/webhook/signing';

const KEY = Buffer.from('a-32-byte-key-for-the-unit-tests');
const SECRET = `whsec_${KEY.toString('base64')}`;
const BODY = '{"resourceType":"Bundle","type":"history"}';
const ID = 'msg_2f1e';

describe('webhook signatures (Standard Webhooks)', () => {
  const at = new Date();
  const headers = signWebhook(SECRET, ID, at, BODY);

  it('signs v1 = base64 HMAC-SHA256 over "<id>.<timestamp>.<body>" with the decoded whsec_ key', () => {
    const ts = String(Math.floor(at.getTime() / 1000));
    expect(headers['webhook-id']).toBe(ID);
    expect(headers['webhook-timestamp']).toBe(ts);
    // Independent of the library: node:crypto over the specification's signed content.
    const mac = createHmac('sha256', KEY).update(`${ID}.${ts}.${BODY}`).digest('base64');
    expect(headers['webhook-signature']).toBe(`v1,${mac}`);
  });

  it('uses a secret without the whsec_ prefix as raw key bytes', () => {
    const raw = signWebhook('plain-secret', ID, at, BODY);
    expect(() => new Webhook('plain-secret', { format: 'raw' }).verify(BODY, raw)).not.toThrow();
  });

  it('refuses a whsec_ secret that is not base64', () => {
    expect(() => signWebhook('whsec_not base64!', ID, at, BODY)).toThrow();
  });

  it.each([
    ['the signed body and headers', BODY, {}, undefined],
    ['a changed body', `${BODY} `, {}, 'No matching signature'],
    ['a changed id', BODY, { 'webhook-id': 'msg_other' }, 'No matching signature'],
    ['a changed timestamp', BODY, { 'webhook-timestamp': String(Math.floor(at.getTime() / 1000) - 1) }, 'No matching'],
    ['a truncated signature', BODY, { 'webhook-signature': headers['webhook-signature']!.slice(0, 20) }, 'No matching'],
    ['no signature', BODY, { 'webhook-signature': '' }, 'Missing required headers'],
    [
      'a timestamp ten minutes old',
      BODY,
      signWebhook(SECRET, ID, new Date(at.getTime() - 600_000), BODY),
      'Message timestamp too old',
    ],
  ])('the specification library verifies %s accordingly', (_what, body, override, error) => {
    const verify = () => new Webhook(SECRET).verify(body, { ...headers, ...override }, { jsonParse: false });
    if (error) {
      expect(verify).toThrow(error);
    } else {
      expect(verify).not.toThrow();
    }
  });

  it('fails verification with another secret', () => {
    const other = `whsec_${Buffer.from('another-key-another-key-another!').toString('base64')}`;
    expect(() => new Webhook(other).verify(BODY, headers)).toThrow('No matching signature');
  });
});
