import { createHash, sign, verify, type KeyObject } from 'node:crypto';
import { html, type SafeHtml } from './console/html';
import { formatTime, reasonsInWords } from './console/i18n';
import { csvCell } from '../reports/audit-export/export';
import type { ChainIntegrityState } from '../reports/chain-integrity/answer-integrity';
import type { AccessEntry, ChildOverview, Organisation } from '../reports/child-overview/overview';
import type { Consent } from '@medplum/fhirtypes';
import { withdrawalRecordedAt, withdrawnParties } from '../policy/compiled-consent';

/**
 * The child's overview as a document a privacy officer hands to the child or its parents in answer to an access
 * request (AVG art. 15): who received what, when, on what basis (purpose, agreement, consent), and who read it, in
 * words, as CSV or as a printable HTML page (print to PDF from the browser). It states which chains and rows it
 * covers and what is known of their integrity now, and ends with a signature block: the SHA-256 of every byte before
 * it, signed with the audit signing key (Ed25519, the key `GET /audit/v1/keys` publishes), so that a copy can be
 * checked later (`verifySubjectAccessDocument`) and a changed one is found out.
 *
 * The format, byte for byte (UTF-8): the document is `signed part` + `signature block`, and nothing after it.
 * - The signed part is the whole CSV (CRLF lines) up to its signature block, or the HTML page up to and including its
 *   table, leaving the body and the page open (the block closes them, so the page ends once).
 * - The signature block is exactly what `signatureBlock` makes from the signature {sha256, kid, signedAt, sig}:
 *   CSV: the cell `# Ondertekend door jeugdbrug op <time> (sleutel <kid>); SHA-256 van alles hierboven: <sha256>`,
 *   CRLF, the cell `jeugdbrug-signature: <signature as JSON>`, CRLF. HTML: `<footer><p>` the same words `</p><!--
 *   jeugdbrug-signature: <JSON, HTML-escaped> --></footer>`, `</body>`, `</html>`, each followed by LF.
 * - sha256 is the hex SHA-256 of the signed part; sig is Ed25519 over `jeugdbrug-child-overview/1`, kid, signedAt and
 *   sha256, one a line (LF), base64url.
 * A copy verifies only if its last signature mark parses, it ends with exactly the block that signature makes (a byte
 * added after it, or other words in it, is refused), the signed part hashes to sha256, and sig verifies with kid.
 */

/** A moment in Dutch words and Dutch time (7 dec 2026, 06:31:55), as the console shows it. */
const dutchTime = (at: string | undefined): string => formatTime('nl', at);

export type SubjectAccessFormat = 'csv' | 'html';

/** What the signature covers: labelled apart from a chain head's and an export's, so none can stand for another. */
const SIGNING_LABEL = 'jeugdbrug-child-overview/1';
/** The last line of the document starts with this (CSV) or holds it in a comment (HTML). */
const SIGNATURE_MARK = 'jeugdbrug-signature:';
/** The signature block's first words. */
const SIGNED_WORDS = 'Ondertekend door jeugdbrug op';

export interface DocumentSignature {
  readonly sha256: string;
  readonly kid: string;
  readonly signedAt: string;
  /** Ed25519 over `SIGNING_LABEL`, kid, signedAt and sha256, one a line; base64url. */
  readonly sig: string;
}

export interface SubjectAccessDocument {
  readonly body: string;
  readonly signature: DocumentSignature;
  /** The file name to offer (no BSN: names end up in download folders and mail). */
  readonly fileName: string;
}

/** One line of the document: when, what happened, by or to whom, which data, on what basis, and where it is. */
interface Line {
  readonly at: string;
  readonly what: string;
  readonly who: string;
  readonly data: string;
  readonly basis: string;
  readonly source: string;
}

const PURPOSE_WORDS: Readonly<Record<string, string>> = {
  referral: 'verwijzing naar jeugdhulp',
  'contact-registration': 'registratie van contact',
  monitoring: 'monitoring (geanonimiseerde cijfers)',
  'subject-access': 'inzageverzoek (AVG art. 15)',
};

const DATA_WORDS: Readonly<Record<string, string>> = {
  Patient: 'persoonsgegevens van het kind',
  ServiceRequest: 'verwijzing',
  Consent: 'toestemming',
  Task: 'status van de verwijzing',
  EpisodeOfCare: 'zorgtraject',
  Encounter: 'contact',
  Condition: 'probleem of diagnose',
  Observation: 'bevinding',
  RelatedPerson: 'gegevens van een ouder of voogd',
  Practitioner: 'gegevens van de verwijzer',
  Organization: 'gegevens van de praktijk',
  MeasureReport: 'cijfers',
  child_overview: 'dit overzicht',
  inbox: 'bericht van de praktijk',
  trajectory_event: 'bericht over het traject',
};

const ACCESS_WORDS: Readonly<Record<string, string>> = {
  create: 'vastgelegd',
  read: 'ingezien',
  'search-type': 'gezocht en ingezien',
};

function organisation(o: Organisation | undefined): string {
  if (!o) {
    return '';
  }
  const kind = o.kind === 'practice' ? 'huisartspraktijk' : 'gemeente';
  return o.name ? `${o.name} (${kind}, ${o.code})` : `${kind} ${o.code}`;
}

function purpose(code: string | undefined): string {
  return code ? `doel: ${PURPOSE_WORDS[code] ?? code}` : '';
}

function dataOf(references: readonly string[]): string {
  const types = [...new Set(references.map((r) => r.split('/')[0] ?? r))];
  return types.map((t) => DATA_WORDS[t] ?? t).join(', ');
}

/** The consents of the child as the registry holds them now, by registry id (`consentsOfChild`). */
export type ConsentsById = ReadonlyMap<string, Consent>;

/** Who a consent's performer reference is: the child (the consent's patient) or a parent or guardian. */
function partyOf(c: Consent, reference: string | undefined): string {
  return reference !== undefined && reference === c.patient?.reference ? 'het kind' : 'een ouder of voogd';
}

/**
 * A consent by the practice's own id, who gave it and when, and who withdrew it and when, as the registry holds it
 * now; by its registry id alone when the registry has it not (or not in the caller's scope).
 */
function consentInWords(id: string, consents: ConsentsById): string {
  const c = consents.get(id);
  if (!c) {
    return id;
  }
  const own = c.identifier?.[0]?.value ?? id;
  const givers = [...new Set((c.performer ?? []).map((p) => partyOf(c, p.reference)))].join(' en ');
  const given = `gegeven${givers ? ` door ${givers}` : ''}${c.dateTime ? ` op ${dutchTime(c.dateTime)}` : ''}`;
  const by = [...new Set(withdrawnParties(c).map((reference) => partyOf(c, reference)))].join(' en ');
  const at = withdrawalRecordedAt(c);
  const withdrawn =
    by !== '' || c.status === 'inactive'
      ? `; ingetrokken${by ? ` door ${by}` : ''}${at ? ` op ${dutchTime(at)}` : ''}`
      : '';
  return `${own} (${given}${withdrawn})`;
}

function basisOf(
  e: {
    purpose: string | undefined;
    agreement?: { id: string; version: number | undefined } | undefined;
    consents?: readonly string[];
  },
  consents: ConsentsById,
): string {
  return [
    purpose(e.purpose),
    e.agreement
      ? `verwerkingsafspraak ${e.agreement.id}${e.agreement.version === undefined ? '' : ` versie ${e.agreement.version}`}`
      : '',
    e.consents && e.consents.length > 0
      ? `toestemming ${e.consents.map((id) => consentInWords(id, consents)).join(', ')}`
      : '',
  ]
    .filter((p) => p !== '')
    .join('; ');
}

function accessLine(a: AccessEntry): Omit<Line, 'at' | 'source'> {
  const refused = a.outcome !== '0';
  const verb = refused ? 'geweigerd: inzage gevraagd' : (ACCESS_WORDS[a.action] ?? a.action);
  const by = [a.user ? `gebruiker ${a.user}` : '', a.onBehalfOf ? `namens ${organisation(a.onBehalfOf)}` : '']
    .filter((p) => p !== '')
    .join(' ');
  return { what: `Gegevens ${verb}`, who: by, data: dataOf(a.what), basis: '' };
}

/** The overview's entries and accesses as lines in words, oldest first. */
function linesOf(overview: ChildOverview, consents: ConsentsById): Line[] {
  const lines: Line[] = [];
  for (const e of [...overview.entries, ...overview.accesses]) {
    const source = `${e.practice ? organisation(e.practice) : 'systeem'}, rij ${e.seq}`;
    let line: Omit<Line, 'at' | 'source'>;
    switch (e.kind) {
      case 'disclosure':
        line =
          e.sent === 'withdrawal-notice'
            ? {
                what: 'Bericht verstuurd dat de toestemming is ingetrokken',
                who: `aan ${organisation(e.recipient)}`,
                data: dataOf(e.refersTo),
                basis: basisOf({ purpose: e.purpose, agreement: e.agreement, consents: e.reasonConsents }, consents),
              }
            : {
                what: 'Gegevens verstrekt',
                // A hand-over of this overview goes to whoever asked (the child or a parent), no organisation.
                who: e.recipient ? `aan ${organisation(e.recipient)}` : 'aan de aanvrager van het inzageverzoek',
                data: dataOf(e.resources),
                basis: basisOf(e, consents),
              };
        break;
      case 'decision':
        line = {
          what: e.action === 'permit' ? 'Besluit: verstrekking toegestaan' : 'Besluit: verstrekking geweigerd',
          who: `voor ${organisation(e.recipient)}`,
          data: e.reasons.map((r) => reasonsInWords('nl', r)).join('; '),
          basis: basisOf(e, consents),
        };
        break;
      case 'receipt':
        line = {
          what: 'Gegevens ontvangen',
          who: `van ${organisation(e.sender)}`,
          data: dataOf(e.what),
          basis: purpose(e.purpose),
        };
        break;
      case 'activity':
        line = {
          what: `Handeling door beheer: ${e.action}${e.outcome === '0' ? '' : ' (mislukt)'}`,
          who: e.user ? `gebruiker ${e.user}` : '',
          data: dataOf(e.what),
          basis: '',
        };
        break;
      case 'access':
        line = accessLine(e);
        break;
    }
    lines.push({ at: e.at, source, ...line });
  }
  return lines.sort((a, b) => a.at.localeCompare(b.at));
}

function integrityWords(s: ChainIntegrityState): string {
  switch (s.state) {
    case 'ok':
      return `intact bij de laatste volledige controle (${dutchTime(s.checkedAt ?? '')})`;
    case 'broken':
      return (
        `BESCHADIGD${s.brokenAtSeq === undefined ? '' : ` vanaf rij ${s.brokenAtSeq}`}` +
        `${s.brokenSince ? `, gevonden ${dutchTime(s.brokenSince)}` : ''}: ` +
        'dit overzicht kan onvolledig of onjuist zijn'
      );
    case 'not-fully-verified':
      return 'nog niet volledig gecontroleerd';
    case 'acknowledged-break':
      return (
        `BREUK ERKEND in rij ${s.brokenFromSeq ?? '?'} tot ${s.brokenAtSeq ?? '?'} ` +
        `(erkend ${dutchTime(s.acknowledgedAt ?? '')}): de rijen tot en met ${s.acknowledgedHeadSeq ?? '?'} ` +
        'zijn niet gewaarborgd, dit overzicht kan onvolledig of onjuist zijn'
      );
  }
}

/** Per chain: its name, the rows the document lists from it, and its integrity now. */
function coverage(overview: ChildOverview, integrity: readonly ChainIntegrityState[]): string[] {
  const rows = new Map<string, { name: string; seqs: number[] }>();
  for (const e of [...overview.entries, ...overview.accesses]) {
    const c = rows.get(e.chain) ?? { name: e.practice ? organisation(e.practice) : 'systeem', seqs: [] };
    c.seqs.push(e.seq);
    rows.set(e.chain, c);
  }
  return integrity.map((s) => {
    const c = rows.get(s.chain);
    const listed = c
      ? `${c.seqs.length} ${c.seqs.length === 1 ? 'rij' : 'rijen'} (rij ${Math.min(...c.seqs)} t/m ${Math.max(...c.seqs)})`
      : 'geen rijen over dit kind gevonden';
    return `Logboek ${c?.name ?? s.chain}: ${listed}; ${integrityWords(s)}`;
  });
}

/** The note for a child of 16 or older (on the day of the request): the child decides, not the parents. */
export const CHILD_DECIDES_NOTE =
  'Het kind is 16 jaar of ouder: onder de WGBO beslist het kind zelf over zijn gegevens, en die zijn ook tegenover ' +
  'de ouders vertrouwelijk; geef dit overzicht aan het kind, of aan een ouder alleen met toestemming van het kind';

/** What the document says about the child beyond the log: `childDecides` when it is 16 or older on the day. */
export interface ChildNote {
  readonly childDecides?: boolean;
}

function preamble(overview: ChildOverview, integrity: readonly ChainIntegrityState[], child: ChildNote): string[] {
  return [
    `Overzicht van verstrekkingen en inzage (AVG art. 15) voor het kind met BSN ${overview.patient.value}`,
    ...(child.childDecides ? [CHILD_DECIDES_NOTE] : []),
    `Opgesteld op ${dutchTime(overview.generatedAt)}, uit het beveiligde logboek van jeugdbrug`,
    ...coverage(overview, integrity),
    ...(overview.truncated
      ? [
          `Niet volledig: de oudste ${overview.omitted.entries} verstrekkingen en besluiten en ` +
            `${overview.omitted.accesses} inzages zijn weggelaten (te veel rijen); vraag het volledige overzicht op`,
        ]
      : []),
  ];
}

const COLUMNS = ['Datum en tijd', 'Wat', 'Wie', 'Welke gegevens', 'Grondslag', 'Bron in het logboek'] as const;

function csvBody(
  overview: ChildOverview,
  integrity: readonly ChainIntegrityState[],
  consents: ConsentsById,
  child: ChildNote,
): string {
  const row = (cells: readonly string[]) => `${cells.map(csvCell).join(',')}\r\n`;
  return [
    ...preamble(overview, integrity, child).map((p) => row([`# ${p}`])),
    row(COLUMNS),
    ...linesOf(overview, consents).map((l) => row([dutchTime(l.at), l.what, l.who, l.data, l.basis, l.source])),
  ].join('');
}

function htmlBody(
  overview: ChildOverview,
  integrity: readonly ChainIntegrityState[],
  consents: ConsentsById,
  child: ChildNote,
): string {
  const [title, ...intro] = preamble(overview, integrity, child);
  const page: SafeHtml = html`<!doctype html>
    <html lang="nl">
      <head>
        <meta charset="utf-8" />
        <title>${title}</title>
        <style>
          body {
            font-family: sans-serif;
            font-size: 11pt;
            margin: 2em;
          }
          table {
            border-collapse: collapse;
            width: 100%;
          }
          th,
          td {
            border: 1px solid #888;
            padding: 0.3em;
            text-align: left;
            vertical-align: top;
          }
          footer {
            margin-top: 2em;
            font-size: 8pt;
            word-break: break-all;
          }
          @media print {
            body {
              margin: 0;
            }
          }
        </style>
      </head>
      <body>
        <h1>${title}</h1>
        <ul>
          ${intro.map((p) => html`<li>${p}</li>`)}
        </ul>
        <table>
          <thead>
            <tr>
              ${COLUMNS.map((c) => html`<th scope="col">${c}</th>`)}
            </tr>
          </thead>
          <tbody>
            ${linesOf(overview, consents).map(
              (l) =>
                html`<tr>
                  <td>${dutchTime(l.at)}</td>
                  <td>${l.what}</td>
                  <td>${l.who}</td>
                  <td>${l.data}</td>
                  <td>${l.basis}</td>
                  <td>${l.source}</td>
                </tr> `,
            )}
          </tbody>
        </table>
      </body>
    </html> `;
  // The page ends once: the signature block (its footer) closes the body and the page, so it is cut off here.
  return page.value.replace(/\s*<\/body>\s*<\/html>\s*$/, '\n');
}

function signingInput(kid: string, signedAt: string, sha256: string): Buffer {
  return Buffer.from(`${SIGNING_LABEL}\n${kid}\n${signedAt}\n${sha256}`, 'utf8');
}

/** The document's last line(s): the signature of every byte before it, in words and as one parseable mark. */
function signatureBlock(format: SubjectAccessFormat, s: DocumentSignature): string {
  const mark = `${SIGNATURE_MARK} ${JSON.stringify(s)}`;
  const words =
    `${SIGNED_WORDS} ${dutchTime(s.signedAt)} (sleutel ${s.kid}); ` + `SHA-256 van alles hierboven: ${s.sha256}`;
  return format === 'csv'
    ? `${csvCell(`# ${words}`)}\r\n${csvCell(mark)}\r\n`
    : html`<footer><p>${words}</p><!-- ${mark} --></footer>
</body>
</html>
`.value;
}

/**
 * The document for one child, signed with `key` (the current audit signing key); `consents`, the child's registry
 * (`consentsOfChild`), names each consent cited by the practice's own id, who gave and withdrew it, and when.
 */
export function subjectAccessDocument(
  overview: ChildOverview,
  integrity: readonly ChainIntegrityState[],
  format: SubjectAccessFormat,
  key: { readonly kid: string; readonly privateKey: KeyObject },
  now: Date = new Date(),
  consents: ConsentsById = new Map(),
  child: ChildNote = {},
): SubjectAccessDocument {
  const body =
    format === 'csv' ? csvBody(overview, integrity, consents, child) : htmlBody(overview, integrity, consents, child);
  const sha256 = createHash('sha256').update(body, 'utf8').digest('hex');
  const signedAt = now.toISOString();
  const sig = sign(null, signingInput(key.kid, signedAt, sha256), key.privateKey).toString('base64url');
  const signature = { sha256, kid: key.kid, signedAt, sig };
  return {
    body: body + signatureBlock(format, signature),
    signature,
    fileName: `inzage-overzicht-${overview.generatedAt.slice(0, 10)}.${format}`,
  };
}

/**
 * Checks a document `subjectAccessDocument` made, as handed over (CSV or HTML): its signature mark, that it ends with
 * exactly the signature block that mark makes, the SHA-256 of every byte before that block, and the signature with the
 * published keys (by `kid`). The format is in this module's comment.
 */
export function verifySubjectAccessDocument(
  text: string,
  publicKeys: ReadonlyMap<string, KeyObject>,
): { ok: true; signature: DocumentSignature } | { ok: false; problem: string } {
  const at = text.lastIndexOf(SIGNATURE_MARK);
  if (at < 0) {
    return { ok: false, problem: 'the document carries no signature' };
  }
  // The mark's line holds the signature as JSON: quoted as a CSV cell ("" for "), or escaped in an HTML comment.
  const line = text.slice(at + SIGNATURE_MARK.length).split(/\r?\n/)[0] ?? '';
  const json = line
    .slice(line.indexOf('{'), line.lastIndexOf('}') + 1)
    .replace(/""/g, '"')
    .replace(/&quot;/g, '"');
  let s: DocumentSignature;
  try {
    s = JSON.parse(json) as DocumentSignature;
  } catch {
    return { ok: false, problem: 'the signature line cannot be read' };
  }
  if (typeof s !== 'object' || s === null) {
    return { ok: false, problem: 'the signature line cannot be read' };
  }
  // The document must end with exactly the block this signature makes, in one of the two formats: not a byte after it
  // (a paragraph appended after the page, a CSV row after the mark), and not other words in it (time, key).
  const block = (['csv', 'html'] as const).map((f) => signatureBlock(f, s)).find((b) => text.endsWith(b));
  if (block === undefined) {
    return { ok: false, problem: 'the document was changed after its signature line, or in its signature block' };
  }
  const signed = text.slice(0, text.length - block.length);
  if (createHash('sha256').update(signed, 'utf8').digest('hex') !== s.sha256) {
    return { ok: false, problem: 'the document was changed after it was signed (its SHA-256 differs)' };
  }
  const key = publicKeys.get(s.kid);
  if (!key) {
    return { ok: false, problem: `no published key ${s.kid}` };
  }
  if (!verify(null, signingInput(s.kid, s.signedAt, s.sha256), key, Buffer.from(s.sig, 'base64url'))) {
    return { ok: false, problem: 'the signature does not verify with the published key' };
  }
  return { ok: true, signature: s };
}
