/**
 * Manages API keys in api-keys.json, which holds only their hashes.
 *
 *   npm run api-key -- create --role practice --practice 01234567 [--municipality GM0226] [--id his-a] [--file f]
 *   npm run api-key -- create --role auditor|operator [--practice AGB|'*']... [--municipality GMxxxx|'*']...
 *   npm run api-key -- list [--file f]
 *   npm run api-key -- revoke --id his-a [--file f]
 *
 * The file defaults to $API_KEYS_FILE when set, else $DATA_DIR/api-keys.json (the server's default too). `create`
 * prints the key once, alone on stdout so it can be piped into a secret store; it cannot be recovered afterwards.
 * An auditor or operator key given neither --practice nor --municipality gets every practice and municipality
 * (`'*'`, as the demo keys have), and the message says so: without any scope it would be refused everywhere.
 *
 * `create` and `revoke` are recorded in the audit trail's system chain (`apiKeyChanged`): which key, its role and
 * scope, by whom (`--by`, else the operating-system user) on which machine. The CLI writes that AuditEvent itself,
 * into the PostgreSQL database of DATABASE_URL (and DATABASE_SCHEMA), as the server would. The embedded database
 * (no DATABASE_URL) belongs to the running server's process: then it says on stderr that nothing was recorded.
 * Before recording, it applies this build's migrations as a start does, so keys created before the first start are
 * recorded too. A creation the trail cannot record is undone (exit 1, no key shown); a revocation stays, and the
 * message says to run it again once the database is reachable, which records it.
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { apiKeyChanged } from '../audit/audit-events';
import { AuditWriter } from '../audit/writer';
import { loadConfig } from '../kernel/config';
import { openDb } from '../kernel/db';
import { migrate } from '../kernel/migrate';
import { SYSTEM_TENANT } from '../reports/audit-scope';
import {
  createApiKeyEntry,
  readApiKeyFile,
  revokeApiKeyEntry,
  writeApiKeyFile,
  type ApiKeyEntry,
} from '../access/api-keys';
import { ALL, isRole } from '../access/principal';
import { forgetDemoKey } from '../access/demo-keys';

/** Where the CLI writes: stdout for data (the key, the list), stderr for messages. */
export interface CliIo {
  out(line: string): void;
  err(line: string): void;
  /** Told of a key created or revoked once the file holds it, for the audit trail (`auditKeyChange`). */
  changed?(change: KeyChange, file: string): void;
}

/** A key created or revoked: what the audit trail records of it. No key material. */
export interface KeyChange {
  readonly change: 'create' | 'revoke';
  readonly keyId: string;
  /** Role and scope, as `list` shows them. */
  readonly access: string;
  /** Who did it: `--by`, else the operating-system user. */
  readonly by: string;
}

const USAGE = `usage:
  api-key create --role <practice|municipality|auditor|operator> [--practice AGB]... [--municipality GMxxxx]... [--id ID] [--file FILE] [--by WHO]
  api-key list [--file FILE]
  api-key revoke --id ID [--file FILE] [--by WHO]
  api-key --help

  practice keys need --practice, municipality keys --municipality. Auditor and operator keys given neither get
  every practice and municipality ('*'); narrow them with --practice and --municipality.
  create and revoke are recorded in the audit trail (DATABASE_URL) as done by --by, else the operating-system user.`;

/** Runs one CLI command and returns the exit code; never calls process.exit, so tests can drive it. */
export function runApiKeyCli(
  argv: readonly string[],
  io: CliIo,
  env: Readonly<Record<string, string | undefined>> = process.env,
): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        role: { type: 'string' },
        practice: { type: 'string', multiple: true },
        municipality: { type: 'string', multiple: true },
        id: { type: 'string' },
        file: { type: 'string' },
        by: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    io.err(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help || positionals[0] === 'help') {
    io.out(USAGE);
    return 0;
  }
  // The same variable the server reads, so that a key created without --file lands where the server looks.
  const file = values.file ?? keysFileOf(env);
  const by = values.by?.trim() || `os-user:${osUser(env)}`;
  try {
    switch (positionals[0] ?? '') {
      case 'create': {
        if (!isRole(values.role)) {
          io.err(`--role is required: practice, municipality, auditor or operator\n${USAGE}`);
          return 2;
        }
        // An auditor or operator with no scope at all could read and do nothing: it means "all", and is told so.
        const everything =
          (values.role === 'auditor' || values.role === 'operator') && !values.practice && !values.municipality;
        const { key, entry, entries } = createApiKeyEntry(
          {
            role: values.role,
            practices: everything ? [ALL] : values.practice,
            municipalities: everything ? [ALL] : values.municipality,
            id: values.id,
          },
          readApiKeyFile(file),
        );
        writeApiKeyFile(file, entries);
        io.changed?.({ change: 'create', keyId: entry.id, access: describe(entry), by }, file);
        io.err(`Created API key ${entry.id} (${describe(entry)}) in ${file}. Store it now; it is not shown again.`);
        // The server polls the file (every 2 s): a request sent at once may still be refused.
        io.err('A running server reads the file again by itself: the key is active within a few seconds.');
        if (everything) {
          io.err(`It acts for every practice and municipality ('*'); give --practice and --municipality to narrow it.`);
        }
        io.out(key);
        return 0;
      }
      case 'list':
        for (const e of readApiKeyFile(file)) {
          io.out(`${e.id}\t${describe(e)}\t${e.created ?? '-'}\t${e.disabled ? 'revoked' : 'active'}`);
        }
        return 0;
      case 'revoke': {
        if (!values.id) {
          io.err(`--id is required\n${USAGE}`);
          return 2;
        }
        const before = readApiKeyFile(file);
        writeApiKeyFile(file, revokeApiKeyEntry(before, values.id));
        const revoked = before.find((e) => e.id === values.id);
        io.changed?.({ change: 'revoke', keyId: values.id, access: revoked ? describe(revoked) : '', by }, file);
        io.err(`Revoked API key ${values.id} in ${file}. A running server has it refused within a few seconds.`);
        const demoKeys = forgetDemoKey(file, values.id);
        if (demoKeys) {
          io.err(`Took its line out of ${demoKeys}.`);
        }
        return 0;
      }
      default:
        io.err(USAGE);
        return 2;
    }
  } catch (err) {
    io.err((err as Error).message);
    return 1;
  }
}

/** The file the server reads its keys from. */
function keysFileOf(env: Readonly<Record<string, string | undefined>>): string {
  return env.API_KEYS_FILE || path.join(env.DATA_DIR || './data', 'api-keys.json');
}

/** The role, then each scope: "role municipality; municipalities GM0202" (the role's name is no scope's). */
function describe(e: ApiKeyEntry): string {
  const scope = [
    e.practices?.length ? `practices ${e.practices.join(',')}` : '',
    e.municipalities?.length ? `municipalities ${e.municipalities.join(',')}` : '',
  ].filter(Boolean);
  return [`role ${e.role}`, ...scope].join('; ');
}

/** The operating-system user running the CLI (sudo's caller when run through sudo). */
function osUser(env: Readonly<Record<string, string | undefined>>): string {
  try {
    return env.SUDO_USER || os.userInfo().username;
  } catch {
    return env.USER || 'unknown';
  }
}

/**
 * Records a key change in the system chain of the database of DATABASE_URL, migrating it first (a fresh database,
 * before any process started, gets its schema as at a start). Without one (the embedded database,
 * held by the running server) nothing can be recorded: false, and the caller says so.
 */
export async function auditKeyChange(
  change: KeyChange,
  env: Readonly<Record<string, string | undefined>>,
): Promise<boolean> {
  const config = loadConfig(env);
  if (!config.DATABASE_URL) {
    return false;
  }
  const db = await openDb({
    databaseUrl: config.DATABASE_URL,
    schema: config.DATABASE_SCHEMA,
    poolSize: 1,
    dataDir: config.dataDir,
  });
  try {
    // Keys are often created before the first start: this build's migrations, applied as a start applies them
    // (serialised with starting processes), create the chain the record goes to.
    await migrate(db);
    const writer = new AuditWriter(db);
    await writer.append(
      SYSTEM_TENANT,
      apiKeyChanged({
        actor: { userId: change.by, person: true, accessPoint: os.hostname() },
        change: change.change,
        keyId: change.keyId,
        access: change.access,
      }),
    );
    await writer.flush();
    return true;
  } finally {
    await db.close();
  }
}

/**
 * The command line: the change to the file, then its record in the audit trail. A creation the audit trail cannot
 * record is undone before its key is shown, so no key exists that the trail does not know of; a revocation stays
 * (refusing a key never waits for the trail), and the message says how to record it once the database is back.
 */
async function main(): Promise<number> {
  const io: CliIo = {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  };
  // Held back until the change is recorded: a key, and the lines saying it exists, only for a recorded creation.
  const held: { to: 'out' | 'err'; line: string }[] = [];
  let change: KeyChange | undefined;
  let file = '';
  const code = runApiKeyCli(process.argv.slice(2), {
    out: (line) => held.push({ to: 'out', line }),
    err: (line) => held.push({ to: 'err', line }),
    changed: (c, f) => ((change = c), (file = f)),
  });
  const release = () => held.forEach((h) => io[h.to](h.line));
  if (code !== 0 || change === undefined) {
    release();
    return code;
  }
  const what = `${change.change === 'create' ? 'creation' : 'revocation'} of API key ${change.keyId}`;
  try {
    if (await auditKeyChange(change, process.env)) {
      release();
      io.err(`Recorded the ${what} in the audit trail (system chain) as done by ${change.by}.`);
      return 0;
    }
    release();
    io.err(
      `Not recorded in the audit trail: no DATABASE_URL (the embedded database belongs to the running server). ` +
        `Note the ${what} by ${change.by} in your own change log.`,
    );
    return 0;
  } catch (err) {
    const why = `the audit trail could not record it: ${(err as Error).message}`;
    const fix = 'Check that PostgreSQL at DATABASE_URL (and DATABASE_SCHEMA) is reachable';
    if (change.change === 'create') {
      writeApiKeyFile(
        file,
        readApiKeyFile(file).filter((e) => e.id !== change?.keyId),
      );
      io.err(
        `API key ${change.keyId} was not created: ${why}. Nothing was changed and no key was handed out. ` +
          `${fix}, then run the same command again.`,
      );
    } else {
      release();
      io.err(
        `The ${what} is done (the key is refused), but ${why}. ${fix}, then run ` +
          `'npm run api-key -- revoke --id ${change.keyId}' again (with the same --by): it records the revocation.`,
      );
    }
    return 1;
  }
}

if (require.main === module) {
  void main().then((code) => (process.exitCode = code));
}
