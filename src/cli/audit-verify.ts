import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { loadConfig } from '../kernel/config';
import { openDb, type Db } from '../kernel/db';
import { ExportFileVerifier, type ExportVerdict } from '../reports/audit-export/export';
import { listChainTenants, verifyTenant } from '../audit/verify';
import type { KeyObject } from 'node:crypto';
import {
  CHECKPOINT_FILE,
  checkExportSignedHead,
  CheckpointFile,
  keysFromJwks,
  openSignedHeads,
  publicKeysOf,
  verifySignedChain,
  type SignedTenantVerdict,
} from '../audit/signed-heads';
import { parseCsv } from '../kernel/csv';
import { AuditWriter } from '../audit/writer';
import { recordChainIntegrity, wholeVerificationStart } from '../audit/chain-integrity';

/**
 * `npm run audit-verify -- <command>`: checks the audit trail without the running product.
 *
 *   verify [--tenant <agb>] [--checkpoints <file>] [--keys <jwks.json>] [--hash-chain-only]
 *                                           recompute one chain (or every chain) in the database named by
 *                                           DATABASE_URL / DATABASE_SCHEMA (or the embedded one under DATA_DIR),
 *                                           and check it against every signed checkpoint in
 *                                           DATA_DIR/audit-checkpoints.ndjson, or in the given file (a witness's
 *                                           copy), verified with DATA_DIR's keys or the given JWK Set. Without
 *                                           either file only the hash chain is checked, which a consistent rewrite
 *                                           passes: `"ok": null`, `"checkedAgainstSignedCheckpoint": false` and
 *                                           exit 3, unless --hash-chain-only says that is what is wanted (then
 *                                           `ok` is the hash chain's verdict)
 *   verify-export <file> [--expect-head <hash>] [--keys <jwks.json>] [--accept-old-export]
 *                                           check an export file (NDJSON or CSV) offline; with --expect-head, also
 *                                           that it ends in a head hash obtained elsewhere; with --keys (the JWK Set
 *                                           of GET /audit/v1/keys), also the export's signature (without --keys:
 *                                           `signatureChecked: false` and a warning on stderr)
 *
 *   --help, -h, help                        print the usage on stdout
 *
 * `verify` records each verdict where the running product reads it (audit_chain_integrity), as the API's verification
 * does: a chain found broken is signed by no process until verified intact, and the auditor console says so.
 *
 * Prints one JSON verdict per chain or file; exits 0 when everything verifies (and for --help), 1 when something
 * does not, 2 on a usage error (the usage then goes to stderr), 3 when the chains' hash chain holds but nothing
 * signed was there to check them against (no --hash-chain-only). A chain whose break an auditor acknowledged
 * verifies with `acknowledgedBreak` in its verdict and a line on stderr; an export stating one likewise.
 */

const USAGE = `usage:
  audit-verify verify [--tenant <agb>] [--checkpoints <file>] [--keys <jwks.json>] [--hash-chain-only]
  audit-verify verify-export <file> [--expect-head <hash>] [--keys <jwks.json>] [--accept-old-export]
  audit-verify --help`;

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

/**
 * The public keys and checkpoint file to check the chains against: those given, else DATA_DIR's, when this machine
 * has signed checkpoints. A checkpoint file given that does not exist is an error, not a silent pass.
 */
function signedHeadsOf(
  env: Record<string, string | undefined>,
  given: { checkpoints?: string | undefined; keys?: string | undefined },
): { publicKeys: ReadonlyMap<string, KeyObject>; file: CheckpointFile } | undefined {
  const config = loadConfig(env);
  const file = given.checkpoints ?? path.join(config.dataDir, CHECKPOINT_FILE);
  if (given.checkpoints === undefined && !fs.existsSync(file)) {
    return undefined;
  }
  if (!fs.existsSync(file)) {
    throw new Error(`checkpoint file ${file} not found`);
  }
  const publicKeys =
    given.keys === undefined
      ? publicKeysOf(openSignedHeads(config.AUDIT_SIGNING_KEYS, config.dataDir).keys)
      : keysFromJwks(JSON.parse(fs.readFileSync(given.keys, 'utf8')) as unknown);
  // The file and its monthly archives beside it (`<name>-YYYY-MM.ndjson`), as the product reads them.
  return { publicKeys, file: new CheckpointFile(file, publicKeys) };
}

/** Runs one command; returns the exit code. */
export async function runAuditCli(args: readonly string[], io: CliIo): Promise<number> {
  // Anywhere in the arguments, as api-key takes it: `audit-verify verify --help` asks, it does not verify.
  if (args[0] === 'help' || args.includes('--help') || args.includes('-h')) {
    io.out(USAGE);
    return 0;
  }
  const [command, ...rest] = args;
  switch (command) {
    case 'verify': {
      const tenant = option(rest, '--tenant');
      const checkpoints = option(rest, '--checkpoints');
      const keys = option(rest, '--keys');
      if (['--tenant', '--checkpoints', '--keys'].some((o) => rest.includes(o) && !option(rest, o))) {
        io.err(USAGE);
        return 2;
      }
      const hashChainOnly = rest.includes('--hash-chain-only');
      const signed = signedHeadsOf(io.env, { checkpoints, keys });
      // Warnings come before the verdicts: the last line of the output stays JSON, also with stderr merged into it.
      if (!signed) {
        io.err(
          `audit-verify: ${hashChainOnly ? 'note' : 'warning'}: no signed checkpoints (no --checkpoints, no ` +
            `${CHECKPOINT_FILE} in DATA_DIR): the hash chain alone is checked, which a consistent rewrite passes; ` +
            (hashChainOnly
              ? 'as asked (--hash-chain-only)'
              : 'treat the chains as unverified ("ok": null, exit 3); give the checkpoint file, or --hash-chain-only'),
        );
      }
      const db = await (io.openDb ?? openFromEnv)(io.env);
      // A change of verdict goes to the system chain (a Security Alert), as the running product writes it.
      const writer = new AuditWriter(db);
      try {
        const tenants = tenant ? [tenant] : await listChainTenants(db);
        const verdicts: { ok: boolean }[] = [];
        const retentionDays = loadConfig(io.env).AUDIT_RETENTION_DAYS;
        for (const t of tenants) {
          const whole = await wholeVerificationStart(db);
          // Without checkpoints the hash chain alone is checked: a consistent rewrite passes that, so say so.
          const v: SignedTenantVerdict = signed
            ? await verifySignedChain(db, t, signed.publicKeys, signed.file, { retentionDays })
            : { ...(await verifyTenant(db, t)), signedCheckpoint: null };
          // Known to every process, as the API's verification is: a chain found broken is signed by none and the
          // console says so; found intact against the product's own signed checkpoints and keys, it is signed again.
          // Intact by the hash chain alone vouches for nothing, nor against a file or keys the caller chose (a
          // witness's old copy, an empty file, any JWK set): those clear nothing.
          const own = signed && checkpoints === undefined && keys === undefined;
          await recordChainIntegrity(db, t, v, 'verify', { whole: own ? whole : undefined, audit: writer }).catch(
            (err: unknown) =>
              io.err(
                `audit-verify: warning: chain ${t}: its verdict could not be recorded for the running product ` +
                  `(${err instanceof Error ? err.message : String(err)})`,
              ),
          );
          const notChecked = 'checkpointsNotChecked' in v ? v.checkpointsNotChecked : undefined;
          if (notChecked) {
            io.err(
              `audit-verify: warning: chain ${t}: ${notChecked.count} signed checkpoint(s) (seq ${notChecked.fromSeq} ` +
                `to ${notChecked.toSeq}) are signed with key(s) ${notChecked.kids.join(', ')}, not configured: not ` +
                'checked; give the old keys (AUDIT_SIGNING_KEYS after the current one, or --keys) to check them',
            );
          }
          if (v.acknowledgedBreak) {
            const a = v.acknowledgedBreak;
            io.err(
              `audit-verify: chain ${t}: a break at row ${a.brokenAtSeq} (${a.problem}) was acknowledged by ` +
                `${a.acknowledgedBy} at ${a.acknowledgedAt}; rows up to ${a.headSeq} are flagged, checked from there`,
            );
          }
          verdicts.push(v);
          // Intact by the hash chain alone is not "verified": `ok` says so unless that is all that was asked.
          io.out(
            JSON.stringify(
              signed || hashChainOnly || !v.ok
                ? { ...v, checkedAgainstSignedCheckpoint: !!signed }
                : { ...v, ok: null, hashChainOk: true, checkedAgainstSignedCheckpoint: false },
            ),
          );
        }
        if (!verdicts.every((v) => v.ok)) {
          return 1;
        }
        return signed || hashChainOnly ? 0 : 3;
      } finally {
        await writer.flush();
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
      const keysFile = option(rest, '--keys');
      let meta: unknown;
      const lines = readline.createInterface({ input: fs.createReadStream(file, 'utf8'), crlfDelay: Infinity });
      for await (const line of lines) {
        verifier.line(line);
        meta = metaOfLine(line) ?? meta;
      }
      const verdict = verifier.finish();
      if (keysFile === undefined) {
        // The rows link up, but anyone can write such a file: the verdict and a warning say nothing vouches for it.
        if (verdict.ok) {
          io.err(
            'audit-verify: warning: the signature was not checked (no --keys): anyone can write a file whose rows ' +
              'link up; give --keys with the JSON of GET /audit/v1/keys',
          );
        }
        reportAcknowledgedBreak(io, verdict);
        io.out(JSON.stringify({ file, ...verdict, signatureChecked: false }));
        return verdict.ok ? 0 : 1;
      }
      // The signed head proves who produced the export: checked with the public keys of GET /audit/v1/keys.
      const signedHead = checkExportSignedHead(meta ?? {}, JSON.parse(fs.readFileSync(keysFile, 'utf8')) as unknown);
      // An export signed at its end only (version 1 or 2) is checked against the text every signed checkpoint signs:
      // anyone holding a checkpoint could cut rows from a newer export's start and label it so. It passes only when
      // the auditor says it is one of the build before's (`--accept-old-export`).
      const endOnly = signedHead.ok && signedHead.covers === 'end';
      const acceptOld = rest.includes('--accept-old-export');
      // `ok` is the whole verdict, as without --keys; `chainOk` says whether the rows themselves hold.
      const ok = verdict.ok && signedHead.ok && (!endOnly || acceptOld);
      if (verdict.ok && endOnly) {
        io.err(
          'audit-verify: ' +
            (acceptOld ? 'warning' : 'refused') +
            ': this export (version 1 or 2, made before exports signed their start) has a signature that covers its ' +
            'end only: rows cut from its start would not show; export the period again' +
            (acceptOld ? '' : ', or pass --accept-old-export for an export of the build before'),
        );
      }
      reportAcknowledgedBreak(io, verdict);
      io.out(JSON.stringify({ file, ...verdict, ok, chainOk: verdict.ok, signatureChecked: true, signedHead }));
      return ok ? 0 : 1;
    }
    case undefined:
    default:
      io.err(USAGE);
      return 2;
  }
}

/** An export stating an acknowledged break verifies, and says so: never silently. */
function reportAcknowledgedBreak(io: CliIo, verdict: ExportVerdict): void {
  if (verdict.ok && verdict.acknowledgedBreak) {
    const a = verdict.acknowledgedBreak;
    io.err(
      `audit-verify: this export holds a known break, acknowledged by ${a.acknowledgedBy} at ${a.acknowledgedAt}: ` +
        `${a.problem} (rows ${a.brokenFromSeq} to ${a.brokenAtSeq}); rows up to ${a.headSeq} are not vouched for` +
        (verdict.acknowledgedBrokenRows?.length ? `; found broken: ${verdict.acknowledgedBrokenRows.join(', ')}` : ''),
    );
  }
}

/** The export's metadata: the first NDJSON line, or the CSV trailer's JSON cell. */
function metaOfLine(line: string): unknown {
  const json = line.startsWith('#chain,')
    ? parseCsv(line, ',')[0]?.fields[1]
    : line.startsWith('{"format"')
      ? line
      : undefined;
  if (json === undefined) {
    return undefined;
  }
  try {
    return JSON.parse(json) as unknown;
  } catch {
    return undefined;
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
