import { purgeExpired } from '../../src/event/retention';
import { buildReferralEvent } from '../helpers/builders';
import { openConsole, type ConsoleClient } from '../helpers/console-client';
import { useAppWithReceiver } from '../helpers/test-runtime';
import { waitFor } from '../helpers/wait-for';

/**
 * A receiver's answer is as often as not personal data: error pages echo the request, FHIR servers return what they
 * stored. It is kept encrypted like the payload and removed with it; operators see its status, type, size and an
 * OperationOutcome's issue codes, never its text.
 */
describe("a receiver's answer that echoes the referral", () => {
  const h = useAppWithReceiver();
  let operator: ConsoleClient;

  beforeAll(async () => {
    operator = await openConsole(h.app, 'operator');
  });

  interface Letter {
    id: string;
    inboxId: string;
    lastStatus: number;
    answer: { contentType: string | null; size: number; issues?: unknown[] } | null;
  }

  /** Sends a referral, waits until it is a dead letter, and returns it with the BSNs it carried. */
  async function deadLetterOf(): Promise<{ letter: Letter; bsns: string[]; listed: string }> {
    const event = buildReferralEvent();
    const bsns = [(event.child as { bsn: string }).bsn, ...(event.guardians as { bsn: string }[]).map((g) => g.bsn)];
    const res = await h.app.request('/his/v1/events', { json: event });
    const id = ((await res.json()) as { receipts: { id: string }[] }).receipts[0]!.id;
    return waitFor(`event ${id} to be a dead letter`, async () => {
      const listed = await (await h.app.request('/admin/v1/dead-letters', { key: 'operator' })).text();
      const letter = (JSON.parse(listed) as { deadLetters: Letter[] }).deadLetters.find((d) => d.inboxId === id);
      return letter && { letter, bsns, listed };
    });
  }

  async function storedRow(id: string): Promise<{ row: string; sealed: Buffer | null; keyId: string | null }> {
    const [row] = await h.app.rt.ctx.db.query<{ row: string; sealed: Buffer | null; keyId: string | null }>(
      `SELECT d::text AS row, response_sealed AS sealed, response_key_id AS "keyId" FROM delivery d WHERE id = $1`,
      [id],
    );
    return row!;
  }

  it('shows operators its status, type and size, and no BSN, in the API and the console; stores it encrypted', async () => {
    h.receiver.mode = { kind: 'echo', status: 500, as: 'json' };
    const { letter, bsns, listed } = await deadLetterOf();
    const page = await (await operator.get('/console/operator/dead-letters')).text();
    for (const bsn of bsns) {
      expect(listed).not.toContain(bsn);
      expect(page).not.toContain(bsn);
    }
    expect(letter.lastStatus).toBe(500);
    expect(letter.answer).toEqual({ contentType: 'application/json', size: expect.any(Number) });
    expect(letter.answer!.size).toBeGreaterThan(200);
    expect(page).toContain('application/json');

    const stored = await storedRow(letter.id);
    for (const bsn of bsns) {
      expect(stored.row).not.toContain(bsn);
      expect(stored.sealed!.includes(bsn)).toBe(false);
    }
    // Encrypted, not dropped: with the inbox key the answer is there as it came.
    const opened = h.app.rt.ctx.cipher.decrypt(stored.keyId!, stored.sealed!) as string;
    expect(opened).toContain(bsns[0]);
  });

  it("shows an OperationOutcome's issues by severity, code and a plain path, never their text", async () => {
    h.receiver.mode = {
      kind: 'echo',
      status: 400,
      as: 'outcome',
      issue: [
        { severity: 'error', code: 'required', expression: ['Patient.identifier[0].value'] },
        { severity: 'warning', code: 'value', expression: ["Patient.identifier.where(value='123456782')"] },
        { severity: 'Jansen', code: '123456782' },
      ],
    };
    const { letter, bsns, listed } = await deadLetterOf();
    expect(letter.answer).toEqual({
      contentType: 'application/fhir+json',
      size: expect.any(Number),
      issues: [
        { severity: 'error', code: 'required', expression: ['Patient.identifier[0].value'] },
        { severity: 'warning', code: 'value' },
        {},
      ],
    });
    expect(listed).not.toContain('could not process');
    const page = await (await operator.get('/console/operator/dead-letters')).text();
    const words = page.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
    expect(words).toContain('error required Patient.identifier[0].value');
    expect(words).toContain('warning value');
    expect(words).toContain('melding zonder erkende code');
    for (const bsn of bsns) {
      expect(listed).not.toContain(bsn);
      expect(page).not.toContain(bsn);
    }
  });

  it('is removed with the payload once the retention period has passed', async () => {
    h.receiver.mode = { kind: 'echo', status: 422, as: 'json' };
    const { letter } = await deadLetterOf();
    expect((await storedRow(letter.id)).sealed).not.toBeNull();
    const report = await purgeExpired(h.app.rt.ctx, new Date(Date.now() + 31 * 24 * 3600_000));
    expect(report.payloadsCleared).toBeGreaterThan(0);
    const after = await storedRow(letter.id);
    expect([after.sealed, after.keyId]).toEqual([null, null]);
  });
});
