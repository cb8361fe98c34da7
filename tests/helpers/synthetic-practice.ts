/**
 * A seeded synthetic practice for the monitoring tests: trajectories with contacts, closures and referrals, as
 * plain data the tests turn into events of each HIS dialect and count on their own. Same seed, same practice.
 */

/** mulberry32: small, seeded, good enough to spread test data. */
export function seededRandom(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SyntheticContact {
  readonly id: string;
  readonly date: string;
  readonly interventions: readonly string[];
}

export interface SyntheticTrajectory {
  readonly n: number;
  readonly practice: string;
  readonly childId: string;
  readonly bsn: string;
  readonly birthDate: string;
  readonly id: string;
  readonly startDate: string;
  readonly helpQuestions: readonly string[];
  /** A sub-type, a bare COD327 code, or nothing. */
  readonly referrer: { readonly subtype: string } | { readonly cod327: string } | undefined;
  readonly contacts: readonly SyntheticContact[];
  readonly closure: { readonly on: string; readonly outcome: string } | undefined;
  readonly referral: { readonly id: string; readonly target: string; readonly on: string } | undefined;
}

const HELP = ['parenting', 'child-factors', 'emotional', 'divorce', 'school', 'family', 'trauma', 'resilience'];
const INTERVENTIONS = ['screening', 'short-treatment', 'psycho-education', 'parenting-support', 'watchful-waiting'];
const SUBTYPES = ['gp', 'screener', 'school-social-work', 'youth-family-consultant', 'youth-doctor'];
const COD327 = ['02', '03', '06'];
const TARGETS = ['social-team', 'youth-care-provider', 'ggz'];

function pick<T>(next: () => number, list: readonly T[]): T {
  return list[Math.floor(next() * list.length)] as T;
}

export function addDays(date: string, days: number): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
}

/** A BSN passing the 11-proef, from the seeded generator. */
export function seededBsn(next: () => number): string {
  for (;;) {
    const d = Array.from({ length: 8 }, () => Math.floor(next() * 10));
    const last = d.reduce((acc, digit, i) => acc + (9 - i) * digit, 0) % 11;
    if (last < 10 && d[0] !== 0) {
      return `${d.join('')}${last}`;
    }
  }
}

/** `count` trajectories of the practices, starting between `from` and `to`, contacts and closures before `until`. */
export function syntheticPractice(opts: {
  seed: number;
  count: number;
  practices: readonly string[];
  from: string;
  to: string;
  until: string;
}): SyntheticTrajectory[] {
  const next = seededRandom(opts.seed);
  const span = (Date.parse(opts.to) - Date.parse(opts.from)) / 86_400_000;
  const out: SyntheticTrajectory[] = [];
  for (let n = 0; n < opts.count; n++) {
    const startDate = addDays(opts.from, Math.floor(next() * span));
    const age = Math.floor(next() * 18);
    const birthDate = addDays(startDate, -(age * 365.25 + 30 + Math.floor(next() * 300)));
    const help = [pick(next, HELP)];
    if (next() < 0.3) {
      help.push(
        pick(
          next,
          HELP.filter((h) => h !== help[0]),
        ),
      );
    }
    const r = next();
    const referrer =
      r < 0.5 ? { subtype: pick(next, SUBTYPES) } : r < 0.85 ? { cod327: pick(next, COD327) } : undefined;
    const contactCount = next() < 0.1 ? 1 : next() < 0.85 ? 2 + Math.floor(next() * 6) : 8 + Math.floor(next() * 3);
    let date = addDays(startDate, Math.floor(next() * 15));
    const contacts: SyntheticContact[] = [];
    for (let c = 0; c < contactCount && date <= opts.until; c++) {
      contacts.push({
        id: `con-${n}-${c}`,
        date,
        interventions: next() < 0.2 ? [] : [...new Set([pick(next, INTERVENTIONS), pick(next, INTERVENTIONS)])],
      });
      date = addDays(date, 3 + Math.floor(next() * 14));
    }
    const last = contacts[contacts.length - 1]?.date ?? startDate;
    const o = next();
    const closed = next() < 0.75 && last <= opts.until;
    const outcome = o < 0.65 ? 'closed-without-referral' : o < 0.9 ? 'escalated' : 'unknown';
    out.push({
      n,
      practice: opts.practices[n % opts.practices.length] ?? '',
      childId: `pat-${n}`,
      bsn: seededBsn(next),
      birthDate,
      id: `traj-${n}`,
      startDate,
      helpQuestions: help,
      referrer,
      contacts,
      closure: closed ? { on: last, outcome } : undefined,
      referral:
        closed && outcome === 'escalated' ? { id: `ref-${n}`, target: pick(next, TARGETS), on: last } : undefined,
    });
  }
  return out;
}
