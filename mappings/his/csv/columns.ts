/**
 * The columns of the `csv` dialect: a practice's registration spreadsheet, one row per contact. Header names are
 * matched case-insensitively; order is free; unknown columns are refused (a misspelt optional column would
 * otherwise be silently dropped). Documented in ./README.md.
 */
export interface CsvColumn {
  readonly name: string;
  readonly required: boolean;
  readonly description: string;
}

const guardianColumns = (n: 1 | 2): CsvColumn[] => [
  { name: `guardian${n}_id`, required: false, description: `Practice's own id of parent/guardian ${n}` },
  { name: `guardian${n}_bsn`, required: false, description: 'BSN (11-proef), optional' },
  { name: `guardian${n}_relationship`, required: false, description: 'mother, father, guardian, foster-parent, other' },
  {
    name: `guardian${n}_authority`,
    required: false,
    description: 'Holds parental authority: ja/nee (yes/no, true/false, 1/0)',
  },
];

/** Every column the dialect knows. */
export const CSV_COLUMNS: readonly CsvColumn[] = [
  {
    name: 'practice_agb',
    required: true,
    description: 'AGB code of the practice (8 digits; 7 digits get their lost leading zero back)',
  },
  { name: 'practice_ura', required: false, description: 'URA number of the practice (8 digits)' },
  { name: 'professional_agb', required: false, description: 'AGB code of the professional' },
  { name: 'professional_role', required: false, description: 'poh-jeugd, huisarts, poh-ggz' },
  { name: 'professional_name', required: false, description: 'Name of the professional' },
  { name: 'child_id', required: true, description: "Practice's own id of the child (patient number)" },
  {
    name: 'bsn',
    required: true,
    description: 'BSN of the child (11-proef; 8 digits get their lost leading zero back)',
  },
  { name: 'birth_date', required: true, description: 'Birth date, DD-MM-YYYY or YYYY-MM-DD, not in the future' },
  { name: 'municipality', required: true, description: 'CBS municipality of residence: GM0226, 0226 or 226' },
  { name: 'child_given_name', required: false, description: 'Given name of the child' },
  { name: 'child_family_name', required: false, description: 'Family name of the child' },
  { name: 'trajectory_id', required: true, description: "Practice's own id of the trajectory (HIS episode)" },
  { name: 'trajectory_start', required: true, description: 'Start date of the trajectory' },
  { name: 'icpc', required: false, description: 'ICPC-1NL code of the episode (P22, Z20, ...)' },
  {
    name: 'help_question',
    required: false,
    description: 'Help-question categories separated by |, the main one first; derived from icpc when empty',
  },
  {
    name: 'referrer_type',
    required: false,
    description: 'COD327: who referred the child (02 huisarts, 03 jeugdarts, ...)',
  },
  {
    name: 'referrer_subtype',
    required: false,
    description:
      'Who referred, finer than COD327: gp, screener, school-social-work, youth-family-consultant, intervention-team, ...',
  },
  {
    name: 'contact_id',
    required: false,
    description: "Practice's own id of the contact; empty on a row that only closes the trajectory",
  },
  {
    name: 'contact_start',
    required: false,
    description: 'Start of the contact: DD-MM-YYYY HH:MM (Amsterdam time) or ISO with offset, not in the future',
  },
  {
    name: 'contact_mode',
    required: false,
    description: 'NHG Tabel 14 contact mode (1 consult, 2 visite, 3 telefonisch, ...)',
  },
  { name: 'duration_min', required: false, description: 'Duration of the contact in whole minutes (1-480)' },
  {
    name: 'interventions',
    required: false,
    description: 'Intervention codes separated by |, e.g. screening|psycho-education',
  },
  {
    name: 'outcome',
    required: false,
    description: 'Trajectory outcome when this row closes it: closed-without-referral, escalated, unknown',
  },
  { name: 'closed_on', required: false, description: 'Date the trajectory closed (with outcome)' },
  ...guardianColumns(1),
  ...guardianColumns(2),
];

/** The column names, for header checks. */
export const CSV_COLUMN_NAMES: ReadonlySet<string> = new Set(CSV_COLUMNS.map((c) => c.name));
