import fs from 'node:fs';
import readline from 'node:readline';
import { loadConfig } from '../kernel/config';
import { openDb, type Db } from '../kernel/db';
import { ExportFileVerifier } from '../reports/audit-export/export';
import { listChainTenants, verifyTenant, type TenantVerdict } from '../audit/verify';

/**
 * `npm run audit-verify -- <command>`: checks the audit trail without the running product.
 *
 *   verify [--tenant <agb>]                 recompute one chain (or every chain) in the database named by
 *                                           DATABASE_URL / DATABASE_SCHEMA (or the embedded one under DATA_DIR)
 *   verify-export <file> [--expect-head <hash>]
 *                                           check an export file (NDJSON or CSV) offline; with --expect-head, also
 *                                           that it ends in a head hash obtained elsewhere
 *
 * Prints one JSON verdict per chain or file; exits 0 when everything verifies, 1 when something does not, 2 on a
 * usage error.
 */

const USAGE = `usage:
  audit-verify verify [--tenant <agb>]
  audit-verify verify-export <file> [--expect-head <hash>]`;

export interface CliIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  readonly env: Record<string, string | undefined>;
  /** Opens the database; replaceable in tests. */
  readonly openDb?: (env: Record<string, string | undefined>) => Promise<Db>;
}

function option(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

async function openFromEnv(env: Record<string, string | undefined>): Promise<Db> {
  const config = loadConfig(env);
  return openDb({
    databaseUrl: config.DATABASE_URL,
    schema: config.DATABASE_SCHEMA,
    poolSize: 2,
    dataDir: config.dataDir,
  });
}

/** Runs one command; returns the exit code. */
export async function runAuditCli(args: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args;
  switch (command) {
    case 'verify': {
      const tenant = option(rest, '--tenant');
      if (rest.includes('--tenant') && !tenant) {
        io.err(USAGE);
        return 2;
      }
      const db = await (io.openDb ?? openFromEnv)(io.env);
      try {
        const tenants = tenant ? [tenant] : await listChainTenants(db);
        const verdicts: TenantVerdict[] = [];
        for (const t of tenants) {
          const v = await verifyTenant(db, t);
          verdicts.push(v);
          io.out(JSON.stringify(v));
        }
        return verdicts.every((v) => v.ok) ? 0 : 1;
      } finally {
        await db.close();
      }
    }
    case 'verify-export': {
      const file = rest[0];
      if (!file || file.startsWith('--')) {
        io.err(USAGE);
        return 2;
      }
      // Line by line: an export of five years of a practice's log need not fit in memory.
      const verifier = new ExportFileVerifier(option(rest, '--expect-head'));
      const lines = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
      for await (const line of lines) {
        verifier.line(line);
      }
      const verdict = verifier.finish();
      io.out(JSON.stringify({ file, ...verdict }));
      return verdict.ok ? 0 : 1;
    }
    case undefined:
    default:
      io.err(USAGE);
      return 2;
  }
}

if (require.main === module) {
  runAuditCli(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    env: process.env,
  }).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`audit-verify: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(2);
    },
  );
}
