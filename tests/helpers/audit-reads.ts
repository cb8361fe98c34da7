import type { TestApp } from './test-runtime';

/** An AuditEvent row as tests of recorded reads look at it: where it went, what it names, and its resource. */
export interface RecordedRead {
  readonly id: string;
  readonly tenant: string;
  readonly subtype: string;
  readonly entities: string[];
  readonly resource: { entity?: { query?: string }[] };
}

/** The request a read recorded (its BALP Query entity, base64), as text; '' when it has none. */
export function queryOf(r: RecordedRead | undefined): string {
  return Buffer.from(r?.resource.entity?.find((e) => e.query !== undefined)?.query ?? '', 'base64').toString();
}

/** Every row whose agents include `agent` (`system|value`) and that matches `where` (SQL), oldest first per chain. */
export async function recordedReads(app: TestApp, agent: string, where = 'true'): Promise<RecordedRead[]> {
  await app.rt.ctx.audit.flush();
  return app.rt.ctx.db.query<RecordedRead>(
    `SELECT id, tenant, subtype, entities, resource::json AS resource FROM audit_event
     WHERE agents @> ARRAY[$1] AND (${where}) ORDER BY tenant, seq`,
    [agent],
  );
}
