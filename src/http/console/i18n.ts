import { chainProblemOf, replaceNamedCheckpoints, type ChainProblemCode } from '../../audit/chain-problems';
import {
  CANCELLED_AFTER_POSSIBLE_RECEIPT,
  CANCELLED_BY_PRACTICE,
  NOT_ACKNOWLEDGED,
  NOTHING_TO_CANCEL,
  NOT_HELD_BY_RECEIVER,
  notRedeliveredAskedBy,
  PAYLOAD_PURGED,
  RECEIPT_RECORDED,
  redeliveredBy,
  SENT_AGAIN_AFTER,
  RESEND_CANCELLED_BY_PRACTICE,
  RESENT_BY_PRACTICE,
  SUPERSEDED_BY_CORRECTION,
} from '../../event/states';
import { NOTICE_QUEUED, noticeNotCarried } from '../../event/withdrawal-notice';

/** The console's languages: Dutch by default (its users are Dutch), English on request. */
export const LANGS = ['nl', 'en'] as const;
export type Lang = (typeof LANGS)[number];

export function isLang(value: unknown): value is Lang {
  return typeof value === 'string' && (LANGS as readonly string[]).includes(value);
}

/** Every label of the console, in both languages. `{0}`, `{1}` are filled in by `t`. */
const MESSAGES = {
  appName: { nl: 'jeugdbrug console', en: 'jeugdbrug console' },
  skipToContent: { nl: 'Naar de inhoud', en: 'Skip to content' },
  mainMenu: { nl: 'Hoofdmenu', en: 'Main menu' },
  signIn: { nl: 'Aanmelden', en: 'Sign in' },
  signOut: { nl: 'Afmelden', en: 'Sign out' },
  signedInAs: { nl: 'Aangemeld als {0} ({1})', en: 'Signed in as {0} ({1})' },
  credential: { nl: 'API-sleutel of JWT', en: 'API key or JWT' },
  credentialHelp: {
    nl: 'Plak de sleutel (jb_…) of het token van uw identiteitsprovider. Het wordt niet bewaard; u krijgt een sessie.',
    en: 'Paste the key (jb_…) or the token from your identity provider. It is not kept; you get a session.',
  },
  signInFailed: { nl: 'Aanmelden mislukt', en: 'Sign-in failed' },
  tokenExpired: {
    nl: 'het token is verlopen; meld u aan met een nieuw token',
    en: 'the token has expired; sign in with a new one',
  },
  credentialNotAccepted: {
    nl: 'de sleutel of het token wordt niet aanvaard (onbekend, ingetrokken of verlopen).',
    en: 'the key or token is not accepted (unknown, revoked or expired).',
  },
  sessionEnded: {
    nl: 'Uw sessie is verlopen of beëindigd. Meld u opnieuw aan.',
    en: 'Your session ended. Sign in again.',
  },
  sessionEndedUnsent: {
    nl: 'Uw sessie was verlopen of beëindigd toen u het formulier verstuurde: er is niets vastgelegd of verstuurd. Meld u opnieuw aan; u komt terug op de pagina van het formulier en kunt het opnieuw invullen.',
    en: 'Your session had expired or ended when you sent the form: nothing was recorded or sent. Sign in again; you return to the page of the form and can fill it in again.',
  },
  signedOut: { nl: 'U bent afgemeld.', en: 'You are signed out.' },
  idleWarningTitle: { nl: 'Uw sessie verloopt bijna', en: 'Your session is about to end' },
  idleWarningText: {
    nl: 'U bent een tijd niet actief geweest. Over ongeveer {0} wordt u afgemeld; wat u nog niet hebt verstuurd, gaat dan verloren.',
    en: 'You have not been active for a while. In about {0} you will be signed out; anything you have not sent yet is then lost.',
  },
  idleStay: { nl: 'Aangemeld blijven', en: 'Stay signed in' },
  idleEndedText: {
    nl: 'Uw sessie is verlopen. Wat u nog niet had verstuurd, is niet vastgelegd.',
    en: 'Your session has ended. Anything you had not sent yet was not recorded.',
  },
  idleEndedTitle: { nl: 'Uw sessie is verlopen', en: 'Your session has ended' },
  idleSignInAgain: { nl: 'Opnieuw aanmelden', en: 'Sign in again' },
  otherLanguage: { nl: 'English', en: 'Nederlands' },
  role_practice: { nl: 'praktijk', en: 'practice' },
  role_municipality: { nl: 'gemeente', en: 'municipality' },
  role_auditor: { nl: 'auditor', en: 'auditor' },
  role_operator: { nl: 'beheerder', en: 'operator' },
  // Errors
  errorTitle: { nl: 'Er ging iets mis', en: 'Something went wrong' },
  serverErrorTitle: { nl: 'Fout in de server', en: 'Server error' },
  serverErrorText: {
    nl: 'Uw verzoek kon door een fout in de server niet worden afgehandeld. De fout is gelogd; probeer het opnieuw of meld het bij de beheerder.',
    en: 'Your request could not be handled because of an error in the server. The error is logged; try again or tell the operator.',
  },
  badRequestTitle: { nl: 'Verzoek niet geldig', en: 'Request not valid' },
  sessionEndedTitle: { nl: 'Sessie verlopen', en: 'Session ended' },
  signedOutTitle: { nl: 'Afgemeld', en: 'Signed out' },
  requiredField: { nl: 'verplicht', en: 'required' },
  unavailableTitle: { nl: 'Tijdelijk niet beschikbaar', en: 'Temporarily unavailable' },
  unavailableText: {
    nl: 'De database of de wachtrij antwoordt nu niet. Er is niets verloren; probeer het over enkele seconden opnieuw.',
    en: 'The database or the queue is not answering right now. Nothing is lost; try again in a few seconds.',
  },
  forbiddenTitle: { nl: 'Geen toegang', en: 'Access refused' },
  forbiddenText: {
    nl: 'Deze pagina hoort niet bij uw rol of bereik. De weigering is vastgelegd in het auditlog.',
    en: 'This page is not for your role or scope. The refusal is recorded in the audit log.',
  },
  csrfTitle: { nl: 'Verzoek geweigerd', en: 'Request refused' },
  csrfText: {
    nl: 'Het formulier kwam niet van deze console of is verlopen (CSRF-controle). Er is niets gewijzigd.',
    en: 'The form did not come from this console or has expired (CSRF check). Nothing was changed.',
  },
  notFoundTitle: { nl: 'Niet gevonden', en: 'Not found' },
  throttledTitle: { nl: 'Te veel mislukte aanmeldingen', en: 'Too many failed sign-ins' },
  throttledText: {
    nl: 'Te veel mislukte aanmeldingen vanaf uw adres. Daarom wordt elke aanmelding vanaf dit adres tijdelijk geweigerd, ook met een geldige sleutel. Probeer het over {0} opnieuw.',
    en: 'Too many failed sign-ins from your address. Every sign-in from this address is refused for a while, a valid key too: try again in {0}.',
  },
  minuteCount: { nl: '1 minuut', en: '1 minute' },
  minutesCount: { nl: '{0} minuten', en: '{0} minutes' },
  back: { nl: 'Terug', en: 'Back' },
  fieldInvalid: { nl: '{0}: ongeldige waarde.', en: '{0}: not a valid value.' },
  statusMovedOn: {
    nl:
      '{0}: deze verwijzing heeft inmiddels de status {1}, door de gemeente vastgelegd {2} (met als datum {3}); ' +
      'daarop kan volgen: {4}. Er is niets vastgelegd.',
    en:
      '{0}: meanwhile this referral got the status {1}, recorded by the municipality {2} (dated {3}); what may ' +
      'follow it: {4}. Nothing was recorded.',
  },
  statusMovedOnFinal: {
    nl:
      '{0}: deze verwijzing heeft inmiddels de status {1}, door de gemeente vastgelegd {2} (met als datum {3}); ' +
      'daarop kan niets meer volgen. Er is niets vastgelegd.',
    en:
      '{0}: meanwhile this referral got the status {1}, recorded by the municipality {2} (dated {3}); nothing may ' +
      'follow it. Nothing was recorded.',
  },
  referralNotBsn: {
    nl:
      'Verwijzingsnummer: dit lijkt een BSN. Zoek op het verwijzingsnummer van de praktijk; een BSN wordt hier niet ' +
      'gezocht en hoort niet in het adres van een pagina.',
    en:
      "Referral number: this looks like a BSN. Search by the practice's referral number; a BSN is not searched for " +
      "here and does not belong in a page's address.",
  },
  typedNotRecorded: { nl: 'Wat u had ingevuld (niet vastgelegd):', en: 'What you filled in (not recorded):' },
  requestInvalid: { nl: 'Het verzoek is niet geldig.', en: 'The request is not valid.' },
  technicalDetail: { nl: 'technisch, in het Engels', en: 'technical' },
  home: { nl: 'Start', en: 'Home' },
  // Common
  search: { nl: 'Zoeken', en: 'Search' },
  show: { nl: 'Tonen', en: 'Show' },
  nextPage: { nl: 'Volgende pagina', en: 'Next page' },
  previousPage: { nl: 'Vorige pagina', en: 'Previous page' },
  pages: { nl: "Pagina's", en: 'Pages' },
  newerPage: { nl: '← Nieuwere', en: '← Newer' },
  olderPage: { nl: 'Oudere →', en: 'Older →' },
  newestFirst: { nl: 'Nieuwste eerst, {0} per pagina.', en: 'Newest first, {0} a page.' },
  shownOfMatching: {
    nl: '{0} van de {1} getoond, nieuwste eerst ({2} per pagina).',
    en: '{0} of the {1} shown, newest first ({2} a page).',
  },
  none: { nl: 'Geen.', en: 'None.' },
  noResults: { nl: 'Niets gevonden.', en: 'Nothing found.' },
  when: { nl: 'Wanneer', en: 'When' },
  what: { nl: 'Wat', en: 'What' },
  who: { nl: 'Wie', en: 'Who' },
  state: { nl: 'Status', en: 'State' },
  reason: { nl: 'Reden', en: 'Reason' },
  practice: { nl: 'Praktijk (AGB)', en: 'Practice (AGB)' },
  municipality: { nl: 'Gemeente', en: 'Municipality' },
  destination: { nl: 'Bestemming', en: 'Destination' },
  outcome: { nl: 'Uitkomst', en: 'Outcome' },
  details: { nl: 'Details', en: 'Details' },
  action: { nl: 'Actie', en: 'Action' },
  refresh: { nl: 'Verversen', en: 'Refresh' },
  bsn: { nl: 'BSN van het kind', en: "Child's BSN" },
  birthDateOptional: { nl: 'Geboortedatum (niet verplicht)', en: 'Birth date (optional)' },
  childDecidesNote: {
    nl: 'Het kind is 16 jaar of ouder: onder de WGBO beslist het kind zelf over zijn gegevens, en die zijn ook tegenover de ouders vertrouwelijk.',
    en: 'The child is 16 or older: under the WGBO the child decides on its data itself, which is confidential towards the parents too.',
  },
  bsnHelp: {
    nl: '9 cijfers. Het BSN gaat alleen mee in het formulier (POST), nooit in de adresbalk. Deze inzage wordt vastgelegd.',
    en: '9 digits. The BSN is only sent in the form (POST), never in the address bar. This look-up is recorded.',
  },
  // The browser adds an input's title to its own "match the requested format" message.
  bsnFormat: {
    nl: 'Een BSN is 9 cijfers, zonder spaties of punten.',
    en: 'A BSN is 9 digits, without spaces or dots.',
  },
  from: { nl: 'Van', en: 'From' },
  to: { nl: 'Tot en met', en: 'Up to and including' },
  eventId: { nl: 'Event-id', en: 'Event id' },
  type: { nl: 'Soort', en: 'Type' },
  attempts: { nl: 'Pogingen', en: 'Attempts' },
  invalidDate: { nl: '{0}: geen geldige datum (JJJJ-MM-DD).', en: '{0}: not a valid date (YYYY-MM-DD).' },
  fieldMissing: { nl: '{0}: vul dit in.', en: '{0}: fill this in.' },
  toBeforeFrom: { nl: '{0}: ligt vóór Van.', en: '{0}: is before From.' },
  dayAfterToday: { nl: '{0}: ligt na vandaag ({1}).', en: '{0}: is after today ({1}).' },
  dayBeforeReferral: {
    nl: '{0}: ligt vóór de verwijzing ({1}).',
    en: '{0}: is before the referral was made ({1}).',
  },
  dayBeforeCareStart: {
    nl: '{0}: ligt vóór het begin van de zorg ({1}).',
    en: '{0}: is before the start of care ({1}).',
  },
  // Auditor
  invalidBsn: {
    nl: '{0}: geen geldig BSN (9 cijfers die de elfproef doorstaan).',
    en: '{0}: not a valid BSN (9 digits passing the 11-proef).',
  },
  invalidChain: {
    nl: '{0}: geen keten (de AGB-code van een praktijk, system of destination/<id>).',
    en: '{0}: not a chain (the AGB code of a practice, system or destination/<id>).',
  },
  chainContradictsSigned: {
    nl: '{0}: de keten klopt niet met wat eerder is ondertekend (herschreven of ingekort); niet ondertekend. Keten controleren noemt de rij.',
    en: '{0}: the chain contradicts what was signed before (rewritten or cut); not signed. Verify chain names the row.',
  },
  exportRefusedChangedRow: {
    nl: '{0}: de keten is gebroken: een rij is gewijzigd na het vastleggen; niet geëxporteerd. Keten controleren noemt de rij; de export kan weer zodra de keten heel is, of zodra een auditor de breuk erkent.',
    en: '{0}: the chain is broken: a row was changed after it was recorded; not exported. Verify chain names the row; the export is possible again once the chain is intact, or once an auditor acknowledges the break.',
  },
  shownForBsn: { nl: 'Getoond voor het kind met BSN {0}.', en: 'Shown for the child with BSN {0}.' },
  navAuditEvents: { nl: 'Auditlog', en: 'Audit log' },
  navOverview: { nl: 'Verstrekkingen kind', en: "Child's disclosures" },
  navVerify: { nl: 'Keten controleren', en: 'Verify chain' },
  navExport: { nl: 'Exporteren', en: 'Export' },
  navConsents: { nl: 'Toestemmingen', en: 'Consents' },
  auditSearchTitle: { nl: 'Auditlog doorzoeken', en: 'Search the audit log' },
  auditSearchIntro: {
    nl: 'Zoek AuditEvents op kind, periode, soort, uitkomst of gebruiker. Elke zoekvraag wordt zelf vastgelegd.',
    en: 'Search AuditEvents by child, period, type, outcome or user. Every search is itself recorded.',
  },
  auditType: { nl: 'Soort gebeurtenis', en: 'Event type' },
  anyType: { nl: 'Alle soorten', en: 'Any type' },
  type_disclose: { nl: 'Verstrekking', en: 'Disclosure' },
  type_decision: { nl: 'Toestemmingsbesluit', en: 'Consent decision' },
  type_refusal: { nl: 'Geweigerde toegang', en: 'Refused access' },
  type_access: { nl: 'Inzage of ontvangst', en: 'Access or receipt' },
  type_import: { nl: 'Statusbericht ontvangen', en: 'Status update received' },
  type_operator: { nl: 'Beheeractie', en: 'Operator action' },
  anyOutcome: { nl: 'Alle uitkomsten', en: 'Any outcome' },
  outcome_0: { nl: 'gelukt / toegestaan', en: 'success / permitted' },
  outcome_4: { nl: 'geweigerd', en: 'refused / denied' },
  outcome_8: { nl: 'ernstige fout', en: 'serious failure' },
  agent: { nl: 'Gebruiker (id)', en: 'User (id)' },
  resultsCount: { nl: 'Aantal resultaten: {0}', en: 'Number of results: {0}' },
  resultsShown: { nl: '{0} getoond', en: '{0} shown' },
  auditEventTitle: { nl: 'Auditgebeurtenis', en: 'Audit event' },
  backToResults: { nl: 'Terug naar de resultaten', en: 'Back to the results' },
  inWords: { nl: 'In woorden', en: 'In words' },
  asJson: { nl: 'Als FHIR JSON', en: 'As FHIR JSON' },
  recordedAt: { nl: 'Vastgelegd op', en: 'Recorded at' },
  user: { nl: 'Gebruiker', en: 'User' },
  onBehalfOf: { nl: 'Namens', en: 'On behalf of' },
  accessPoint: { nl: 'Vanaf', en: 'From' },
  patient: { nl: 'Kind (BSN)', en: 'Child (BSN)' },
  entities: { nl: 'Betrokken gegevens', en: 'Data involved' },
  purpose: { nl: 'Doel', en: 'Purpose' },
  chainPosition: { nl: 'Positie in keten', en: 'Position in chain' },
  overviewTitle: { nl: 'Verstrekkingen van een kind', en: "A child's disclosures" },
  overviewIntro: {
    nl: 'Wie kreeg welke gegevens, wanneer, onder welke overeenkomst en toestemming (NEN 7513 hfst. 9).',
    en: 'Who received which data, when, under which agreement and consent (NEN 7513 ch. 9).',
  },
  disclosures: { nl: 'Verstrekkingen en besluiten', en: 'Disclosures and decisions' },
  handOverTitle: { nl: 'Overzicht om te overhandigen', en: 'Overview to hand over' },
  handOverIntro: {
    nl: 'Dit overzicht, ondertekend, om aan het kind of zijn ouders te geven (inzageverzoek, AVG art. 15). Het downloaden wordt vastgelegd als verstrekking.',
    en: 'This overview, signed, to give to the child or its parents (subject access request, GDPR art. 15). The download is recorded as a disclosure.',
  },
  handOverCsv: { nl: 'Downloaden als spreadsheet (CSV)', en: 'Download as a spreadsheet (CSV)' },
  handOverHtml: { nl: 'Downloaden als webpagina (HTML)', en: 'Download as a web page (HTML)' },
  accesses: { nl: 'Inzagen', en: 'Accesses' },
  overviewCut: {
    nl: 'Niet alles wordt getoond. {0}: hier staan de nieuwste {1}; {2} oudere zijn weggelaten (de oudste getoonde is van {3}). Die vindt u in het auditlog: zoek op dit BSN met een periode tot die datum.',
    en: 'Not everything is shown. {0}: the newest {1} are here; {2} older ones are left out (the oldest shown is from {3}). Find those in the audit log: search this BSN with a period up to that date.',
  },
  recipient: { nl: 'Ontvanger', en: 'Recipient' },
  data: { nl: 'Gegevens', en: 'Data' },
  agreement: { nl: 'Overeenkomst', en: 'Agreement' },
  purposeAndAgreement: { nl: 'Doel, overeenkomst', en: 'Purpose, agreement' },
  consents: { nl: 'Toestemmingen', en: 'Consents' },
  kind_disclosure: { nl: 'verstrekt', en: 'disclosed' },
  kind_notice: { nl: 'intrekkingsbericht verstuurd', en: 'withdrawal notice sent' },
  noticeRefersTo: { nl: 'verwijst naar (niet opnieuw verstrekt): {0}', en: 'refers to (not disclosed again): {0}' },
  noticeReason: { nl: 'reden: {0}', en: 'reason: {0}' },
  kind_permit: { nl: 'besluit: toegestaan', en: 'decision: permitted' },
  kind_deny: { nl: 'besluit: geweigerd', en: 'decision: denied' },
  stage_map: { nl: 'bij ontvangst', en: 'on receipt' },
  stage_deliver: { nl: 'vlak voor verzending', en: 'right before sending' },
  stage_redecide: { nl: 'opnieuw besloten', en: 'decided again' },
  stage_redeliver: { nl: 'opnieuw besloten voor herlevering', en: 'decided again to redeliver' },
  kind_receipt: { nl: 'ontvangen van', en: 'received from' },
  kind_activity: { nl: 'overig', en: 'other' },
  verifyTitle: { nl: 'Auditketen controleren', en: 'Verify an audit chain' },
  verifyIntro: {
    nl:
      'Controleert of het auditlog van een keten onveranderd is: elke rij wordt opnieuw nagerekend en vergeleken met ' +
      'de ondertekende controlepunten. Een beschadigde keten noemt de eerste foute rij.',
    en:
      'Checks that the audit log of a chain is unchanged: every row is worked out again and compared with the signed ' +
      'checkpoints. A damaged chain names the first bad row.',
  },
  chain: { nl: 'Keten', en: 'Chain' },
  allChains: { nl: 'Alle ketens binnen mijn bereik', en: 'All chains within my scope' },
  verify: { nl: 'Controleren', en: 'Verify' },
  chainEmpty: {
    nl: 'Keten {0} heeft nog geen rijen: er is niets te controleren.',
    en: 'Chain {0} has no rows yet: there is nothing to verify.',
  },
  chainOk: {
    nl: 'Keten {0} is intact: {1} rijen, laatste rij {2}.',
    en: 'Chain {0} is intact: {1} rows, last row {2}.',
  },
  chainSigned: {
    nl: 'Het klopt met het nieuwste ondertekende controlepunt: ondertekend {0} met sleutel {1}, bij rij {2}.',
    en: 'It agrees with the newest signed checkpoint: signed {0} with key {1}, at row {2}.',
  },
  chainNotCoveredYet: {
    nl: 'Rij {0} tot en met {1} zijn nog niet door een handtekening gedekt; dat gebeurt bij de volgende ondertekening.',
    en: 'Rows {0} to {1} are not covered by a signature yet; the next signing round covers them.',
  },
  chainRowNotCoveredYet: {
    nl: 'Rij {0} is nog niet door een handtekening gedekt; dat gebeurt bij de volgende ondertekening.',
    en: 'Row {0} is not covered by a signature yet; the next signing round covers it.',
  },
  checkpointsNotChecked: {
    nl:
      'Let op: {0} ondertekende controlepunten van keten {1} (rij {2} tot en met {3}) zijn ondertekend met sleutel ' +
      '{4}, die niet meer is ingesteld: de keten is daar niet aan getoetst. Geef de beheerder de oude sleutels terug ' +
      'in de ingestelde sleutels (na de huidige) en controleer opnieuw.',
    en:
      'Attention: {0} signed checkpoints of chain {1} (rows {2} to {3}) are signed with key {4}, which is no longer ' +
      'configured: the chain was not checked against them. Have the operator put the old keys back in ' +
      'the configured keys (after the current one) and verify again.',
  },
  checkpointsNotCheckedOne: {
    nl:
      'Let op: {0} ondertekend controlepunt van keten {1} (rij {2} tot en met {3}) is ondertekend met sleutel ' +
      '{4}, die niet meer is ingesteld: de keten is daar niet aan getoetst. Geef de beheerder de oude sleutel terug ' +
      'in de ingestelde sleutels (na de huidige) en controleer opnieuw.',
    en:
      'Attention: {0} signed checkpoint of chain {1} (rows {2} to {3}) is signed with key {4}, which is no longer ' +
      'configured: the chain was not checked against it. Have the operator put the old key back in ' +
      'the configured keys (after the current one) and verify again.',
  },
  receiptReferralStatus: { nl: 'Status van de verwijzing: {0}', en: 'Status of the referral: {0}' },
  receiptTrajectory: { nl: 'Trajectgebeurtenis: {0}', en: 'Trajectory event: {0}' },
  chainUnsigned: {
    nl: 'Keten {0} is intern consistent ({1} rijen, laatste rij {2}), maar er is geen ondertekend controlepunt om haar aan te toetsen: beschouw haar als niet geverifieerd.',
    en: 'Chain {0} is internally consistent ({1} rows, last row {2}), but there is no signed checkpoint to check it against: treat it as unverified.',
  },
  headHash: {
    nl: 'Hash van de laatste rij (bewaar die buiten jeugdbrug)',
    en: 'Hash of the last row (keep it outside jeugdbrug)',
  },
  chainBroken: {
    nl: 'Keten {0} is GEBROKEN bij rij {1}: {2}',
    en: 'Chain {0} is BROKEN at row {1}: {2}',
  },
  integrityTitle: { nl: 'Betrouwbaarheid van de auditketen', en: 'Integrity of the audit chain' },
  chainKnownBroken: {
    nl:
      'Let op: auditketen {0} is beschadigd, gevonden op {1} {2} ({3}). Wat deze pagina uit die keten toont, kan ' +
      'veranderd of onvolledig zijn: baseer er geen antwoord op, zoals op een inzageverzoek. Wat te doen: meld het ' +
      'direct aan de security officer en laat de beheerder een kopie van de database en de bestanden met ' +
      'ondertekende controlepunten bewaren als bewijs (een export van deze keten kan pas na erkenning). Is de breuk ' +
      'onderzocht, dan erkent een auditor haar (Keten controleren: het formulier bij de gebroken keten): dat blijft ' +
      'vastgelegd, en jeugdbrug ondertekent en exporteert de keten dan weer, met de breuk vermeld. Tot dan, of tot een ' +
      'volledige controle haar weer intact vindt, ondertekent jeugdbrug de keten niet.',
    en:
      'Attention: audit chain {0} is damaged, found on {1} {2} ({3}). What this page shows from that chain may be ' +
      'altered or incomplete: base no answer on it, such as to an access request. What to do: tell the security ' +
      'officer at once and have the operator keep a copy of the database and of the signed checkpoint files as ' +
      'evidence (an export of this chain is possible only after acknowledgement). Once the break is investigated, an ' +
      'auditor acknowledges it (Verify chain: the form with the broken chain): that stays on record, and jeugdbrug ' +
      'signs and exports the chain again, the break stated. Until then, or until a full verification finds it intact ' +
      'again, jeugdbrug does not sign the chain.',
  },
  foundBy_head_check: {
    nl: 'bij de doorlopende controle van de nieuwste rijen',
    en: 'by the continuous check of the newest rows',
  },
  foundBy_verify: { nl: 'bij een controle op verzoek', en: 'by a verification someone asked for' },
  foundBy_full_verify: { nl: 'bij de geplande volledige controle', en: 'by the scheduled full verification' },
  foundBy_retention: { nl: 'bij het opschonen na de bewaartermijn', en: 'when purging after the retention period' },
  foundBy_export: { nl: 'bij een export', en: 'by an export' },
  brokenAtRow: { nl: 'rij {0}: {1}', en: 'row {0}: {1}' },
  chainLastVerified: {
    nl: 'Auditketen {0}: laatste volledige controle {1}, in orde.',
    en: 'Audit chain {0}: last full verification {1}, intact.',
  },
  chainNotYetVerified: {
    nl: 'Auditketen {0}: nog niet volledig gecontroleerd (de geplande controle gebeurt {1}).',
    en: 'Audit chain {0}: not fully verified yet (the scheduled verification runs {1}).',
  },
  chainsAllIntact: {
    nl: 'Alle {0} auditketens in orde; de oudste laatste volledige controle was {1}.',
    en: 'All {0} audit chains intact; the oldest last full verification was {1}.',
  },
  chainsOthersIntact: {
    nl: 'De andere {0} auditketens zijn in orde; de oudste laatste volledige controle was {1}.',
    en: 'The other {0} audit chains are intact; the oldest last full verification was {1}.',
  },
  chainsOtherIntact: {
    nl: 'De andere auditketen is in orde; haar laatste volledige controle was {1}.',
    en: 'The other audit chain is intact; its last full verification was {1}.',
  },
  chainsIntact: {
    nl: '{0} auditketens in orde; de oudste laatste volledige controle was {1}.',
    en: '{0} audit chains intact; the oldest last full verification was {1}.',
  },
  chainsIntactOne: {
    nl: '{0} auditketen in orde; haar laatste volledige controle was {1}.',
    en: '{0} audit chain intact; its last full verification was {1}.',
  },
  chainsNotYetVerified: {
    nl: '{0} auditketens nog niet volledig gecontroleerd (de geplande controle gebeurt {1}).',
    en: '{0} audit chains not fully verified yet (the scheduled verification runs {1}).',
  },
  chainsNotYetVerifiedOne: {
    nl: '{0} auditketen nog niet volledig gecontroleerd (de geplande controle gebeurt {1}).',
    en: '{0} audit chain not fully verified yet (the scheduled verification runs {1}).',
  },
  auditRetention: {
    nl:
      'Bewaartermijn van de auditlog: {0} dagen (ongeveer {1} jaar, ingesteld door de beheerder). Oudere rijen worden ' +
      'verwijderd, met een ondertekend controlepunt; wat daarvoor ligt, kan deze console niet meer tonen.',
    en:
      'Audit log retention: {0} days (about {1} years, as the operator set it). Older rows are deleted, with a signed ' +
      'checkpoint; what lies before it this console can no longer show.',
  },
  fullVerifyDaily: { nl: 'dagelijks', en: 'daily' },
  fullVerifyEvery: { nl: 'elke {0} uur', en: 'every {0} hours' },
  fullVerifyOff: { nl: 'niet: die staat uit', en: 'not: it is turned off' },
  verifyNowTitle: { nl: 'Controle op uw verzoek, nu', en: 'Verification you asked for, now' },
  fullVerifyTitle: { nl: 'Geplande volledige controle', en: 'Scheduled full verification' },
  retentionTitle: { nl: 'Bewaartermijnen', en: 'Retention terms' },
  retentionContent: {
    nl: 'Inhoud van berichten (de gegevens van het kind, antwoorden van ontvangers): verwijderd {0} dagen nadat het bericht is afgehandeld.',
    en: "Content of messages (the child's data, receivers' answers): removed {0} days after the message was finished.",
  },
  retentionIdentity: {
    nl: 'Wat een gemeente nodig heeft voor een status op een verwijzing (BSN, kenmerken, datum): bewaard tot {0} dagen nadat de verwijzing is ontvangen.',
    en: 'What a municipality needs for a status on a referral (BSN, identifiers, day): kept until {0} days after the referral was received.',
  },
  retentionAudit: {
    nl: 'Auditlog: regels ouder dan {0} dagen (ongeveer {1} jaar) worden verwijderd; een vastgelegd controlepunt houdt de keten controleerbaar.',
    en: 'Audit log: rows older than {0} days (about {1} years) are removed; a recorded checkpoint keeps the chain verifiable.',
  },
  retentionConsents: {
    nl: 'Toestemmingsregister (toestemmingen en bezwaren met het BSN van het kind, elke versie): bewaard zonder einddatum, geen automatische verwijdering; ten minste zo lang als de auditlog die ernaar verwijst ({0} dagen), als bewijs van de toestemming waarop gegevens zijn verstrekt (AVG art. 7 lid 1).',
    en: "Consent registry (consents and objections with the child's BSN, every version): kept without end date, no automatic removal; at least as long as the audit log citing it ({0} days), as proof of the consent data were disclosed on (GDPR art. 7(1)).",
  },
  retentionReports: {
    nl: 'Cijfers voor de gemeente (zonder BSN of naam, onder een pseudoniem): verwijderd na {0} dagen (ongeveer {1} jaar); die van een kind dat zijn toestemming intrekt of bezwaar maakt direct.',
    en: 'Figures for the municipality (no BSN or name, under a pseudonym): removed after {0} days (about {1} years); those of a child withdrawing consent or objecting at once.',
  },
  retentionErasure: {
    nl: 'Een verzoek om verwijdering (AVG art. 17): wat wanneer verdwijnt en wat op grond van welke plicht blijft, staat in docs/erasure.md van jeugdbrug.',
    en: "An erasure request (GDPR art. 17): what goes when, and what is kept under which obligation, is in jeugdbrug's docs/erasure.md.",
  },
  fullVerifyResult: { nl: 'Uitkomst', en: 'Result' },
  fullVerifyNever: {
    nl: 'nog niet (de geplande controle gebeurt {0})',
    en: 'not yet (the scheduled verification runs {0})',
  },
  fullVerifyOk: { nl: 'intact: {0} rijen', en: 'intact: {0} rows' },
  fullVerifyBroken: { nl: 'GEBROKEN bij rij {0}: {1}', en: 'BROKEN at row {0}: {1}' },
  // Acknowledging a break (the verify page's form)
  ackTitle: { nl: 'Breuk erkennen', en: 'Acknowledge the break' },
  ackIntro: {
    nl:
      'Is de breuk onderzocht (gemeld aan de security officer, een kopie van de database en van de bestanden met ' +
      'ondertekende controlepunten bewaard)? Erken haar dan hier. De erkenning blijft voor altijd vastgelegd (wie, ' +
      'wanneer, welke rijen, waarom; ondertekend) en jeugdbrug ondertekent en exporteert de keten daarna weer, met ' +
      'de breuk erin vermeld. De breuk wordt eerst opnieuw gecontroleerd.',
    en:
      'Has the break been investigated (reported to the security officer, a copy of the database and of the signed ' +
      'checkpoint files kept)? Then acknowledge it here. The acknowledgement stays on record for good (who, when, ' +
      'which rows, why; signed) and jeugdbrug signs and exports the chain again afterwards, the break stated. The ' +
      'break is verified again first.',
  },
  brokenRow: { nl: 'Gebroken rij', en: 'Broken row' },
  ackReason: { nl: 'Reden van de erkenning', en: 'Reason for the acknowledgement' },
  ackReasonHelp: {
    nl: 'Wat is onderzocht en door wie, bijvoorbeeld het nummer van het incident. Noem geen kind en geen ander persoonsgegeven. Minstens {1} woorden en {2} tekens, hoogstens {0} tekens.',
    en: 'What was investigated and by whom, for example the incident number. Name no child and no other personal data. At least {1} words and {2} characters, at most {0} characters.',
  },
  ackReasonTooShort: {
    nl: '{0}: te kort. Schrijf in een paar woorden wat is onderzocht en door wie.',
    en: '{0}: too short. Say in a few words what was investigated and by whom.',
  },
  ackConfirmLabel: { nl: 'Bevestiging', en: 'Confirmation' },
  ackConfirm: {
    nl: 'Ik heb de breuk bij rij {0} van keten {1} onderzocht en erken haar. Dit kan niet ongedaan worden gemaakt.',
    en: 'I have investigated the break at row {0} of chain {1} and acknowledge it. This cannot be undone.',
  },
  ackSubmit: { nl: 'Breuk erkennen', en: 'Acknowledge the break' },
  ackRefusedTitle: {
    nl: 'De breuk is niet erkend; er is niets vastgelegd.',
    en: 'The break was not acknowledged; nothing was recorded.',
  },
  ackRefused_chain_empty: {
    nl: '{0}: de keten heeft geen rijen.',
    en: '{0}: the chain has no rows.',
  },
  ackRefused_not_broken: {
    nl: '{0}: opnieuw gecontroleerd is de keten intact; er is geen breuk om te erkennen.',
    en: '{0}: verified again, the chain is intact; there is no break to acknowledge.',
  },
  ackRefused_broken_elsewhere: {
    nl: '{0}: opnieuw gecontroleerd is de keten bij een andere rij gebroken. Hieronder staat wat de controle nu noemt; erken dat, als het onderzocht is.',
    en: '{0}: verified again, the chain is broken at another row. What the verification names now is shown below; acknowledge that, once investigated.',
  },
  ackRefused_checkpoints_not_checked: {
    nl: '{0}: ondertekende controlepunten met een sleutel die niet (meer) is ingesteld, konden niet worden gecontroleerd. Laat de beheerder de oude sleutel eerst weer instellen.',
    en: '{0}: signed checkpoints with a key that is not configured (any more) could not be checked. Have the operator configure the old key again first.',
  },
  ackRefused_too_many_breaks: {
    nl: '{0}: de keten toont zoveel gebroken rijen dat wat erna komt niet is gecontroleerd; dat kan niet worden erkend.',
    en: '{0}: the chain shows so many broken rows that what follows them was not checked; that cannot be acknowledged.',
  },
  ackRefused_head_broken: {
    nl: '{0}: de laatste rij van de keten is zelf gebroken; van daaruit kan de keten niet opnieuw worden ondertekend.',
    en: '{0}: the last row of the chain is itself broken; the chain cannot be signed again from there.',
  },
  ackRefused_broken_meanwhile: {
    nl: '{0}: terwijl de erkenning de keten controleerde, vond een andere controle haar gebroken. Controleer de keten opnieuw en erken wat die controle noemt.',
    en: '{0}: while the acknowledgement verified the chain, another check found it broken. Verify the chain again and acknowledge what that verification names.',
  },
  ackRecorded: {
    nl: 'De breuk bij rij {0} van keten {1} is erkend en vastgelegd. jeugdbrug ondertekent de keten weer vanaf rij {2}.',
    en: 'The break at row {0} of chain {1} is acknowledged and on record. jeugdbrug signs the chain again from row {2}.',
  },
  chainAcknowledged: {
    nl: 'Erkende breuk in keten {0}: rij {1} ({2}), erkend door {3} op {4}. Reden: {5}. Rijen tot en met {6} worden niet opnieuw ingestaan; vanaf daar is de keten gecontroleerd.',
    en: 'Acknowledged break in chain {0}: row {1} ({2}), acknowledged by {3} on {4}. Reason: {5}. Rows up to {6} are not vouched for again; from there the chain is verified.',
  },
  noReasonGiven: { nl: '(geen reden opgegeven)', en: '(no reason given)' },
  // The integrity history
  historyTitle: { nl: 'Geschiedenis van de betrouwbaarheid', en: 'Integrity history' },
  historyIntro: {
    nl: 'Elke verandering van het oordeel over een keten, nieuwste eerst (ook vastgelegd als Security Alert in keten system).',
    en: "Every change of a chain's verdict, newest first (also recorded as a Security Alert in chain system).",
  },
  historyChange: { nl: 'Verandering', en: 'Change' },
  historyDetails: { nl: 'Toelichting', en: 'Details' },
  history_broken: { nl: 'Beschadigd gevonden', en: 'Found broken' },
  history_acknowledged: { nl: 'Breuk erkend', en: 'Break acknowledged' },
  history_intact: { nl: 'Weer intact', en: 'Intact again' },
  historyBroken: { nl: '{0}; gevonden {1}', en: '{0}; found {1}' },
  historyAcknowledged: { nl: '{0}; door {1}; reden: {2}', en: '{0}; by {1}; reason: {2}' },
  historyIntact: { nl: 'gevonden {0}', en: 'found {0}' },
  // The last retention runs
  retentionRunsTitle: { nl: 'Laatste opruimrondes', en: 'Last retention runs' },
  retentionRunsIntro: {
    nl: 'Wat jeugdbrug na de bewaartermijnen verwijderde, per ronde, nieuwste eerst (een ronde loopt {0}).',
    en: 'What jeugdbrug removed after the retention terms, per run, newest first (a run happens {0}).',
  },
  retentionRunOutcome_done: { nl: 'voltooid', en: 'done' },
  retentionRunOutcome_chains_skipped: { nl: 'voltooid, keten(s) overgeslagen', en: 'done, chain(s) left alone' },
  retentionRunOutcome_failed: { nl: 'MISLUKT', en: 'FAILED' },
  retentionRemoved: { nl: 'Verwijderd', en: 'Removed' },
  retentionLeftAlone: { nl: 'Overgeslagen', en: 'Left alone' },
  retentionRemovedContent: {
    nl: 'inhoud van {0} afgehandelde berichten van praktijk {1}',
    en: 'content of {0} finished messages of practice {1}',
  },
  retentionRemovedAudit: { nl: '{0} auditrijen van keten {1}', en: '{0} audit rows of chain {1}' },
  retentionRemovedRuns: {
    nl: '{0} verslagen van eerdere opruimrondes (ouder dan {1} dagen)',
    en: '{0} records of earlier retention runs (older than {1} days)',
  },
  retentionRemovedNothing: { nl: 'niets: niets was over zijn termijn', en: 'nothing: nothing was past its term' },
  retentionSkippedChain: { nl: 'keten {0}: {1}', en: 'chain {0}: {1}' },
  retentionRunsEvery: { nl: 'elke {0} uur', en: 'every {0} hours' },
  exportTitle: { nl: 'Auditlog exporteren', en: 'Export the audit log' },
  exportIntro: {
    nl:
      'Een periode van een keten, ondertekend door jeugdbrug. Wie het bestand krijgt, kan buiten jeugdbrug nagaan of ' +
      'het onveranderd en volledig is, met het controleprogramma van jeugdbrug en de openbare sleutels. Van en Tot ' +
      'en met zijn dagen in Nederlandse tijd; beide horen bij de periode.',
    en:
      'A period of a chain, signed by jeugdbrug. Whoever receives the file can check outside jeugdbrug that it is ' +
      "unchanged and complete, with jeugdbrug's checking program and the public keys. From and Up to and including " +
      'are days in Dutch time; both belong to the period.',
  },
  exportTechnical: { nl: 'Technische details: het bestand controleren', en: 'Technical details: checking the file' },
  exportCheckHow: {
    nl: 'De openbare sleutels staan op {0}. Een beheerder controleert het bestand zo:',
    en: 'The public keys are at {0}. An administrator checks the file like this:',
  },
  format: { nl: 'Formaat', en: 'Format' },
  fromAfterTo: {
    nl: 'De datum bij ‘Van’ ligt na die bij ‘Tot en met’: zo is er niets te exporteren.',
    en: 'The ‘From’ date is after the ‘Up to and including’ date: that leaves nothing to export.',
  },
  fromAfterToSearch: {
    nl: 'De datum bij ‘Van’ ligt na die bij ‘Tot en met’: zo is er niets te vinden.',
    en: 'The ‘From’ date is after the ‘Up to and including’ date: that leaves nothing to find.',
  },
  formGone: {
    nl: 'Deze gegevens worden niet meer bewaard (de sessie bewaart de laatste twintig): vul het formulier opnieuw in.',
    en: 'This is no longer kept (the session keeps the last twenty): fill in the form again.',
  },
  download: { nl: 'Downloaden', en: 'Download' },
  consentsTitle: { nl: 'Toestemmingsregister van een kind', en: "A child's consent registry" },
  parties: { nl: 'Partijen', en: 'Parties' },
  period: { nl: 'Periode', en: 'Period' },
  provision: { nl: 'Bepaling', en: 'Provision' },
  permit: { nl: 'toestaan', en: 'permit' },
  deny: { nl: 'weigeren', en: 'deny' },
  consentGivenBy: { nl: 'gegeven door', en: 'given by' },
  consentWithdrawnBy: { nl: 'ingetrokken door', en: 'withdrawn by' },
  consentWithdrawerNotRecorded: { nl: 'niet vastgelegd', en: 'not recorded' },
  consentPartlyWithdrawn: {
    nl: 'ingetrokken door een van wie toestemden; geldt alleen nog voor de anderen',
    en: 'withdrawn by one of those who gave it; holds for the others only',
  },
  recipientActor: { nl: 'ontvanger', en: 'recipient' },
  // Operator
  navQueues: { nl: 'Wachtrijen', en: 'Queues' },
  navDeadLetters: { nl: 'Onbestelbaar', en: 'Dead letters' },
  navToPractices: { nl: 'Naar praktijken', en: 'To practices' },
  navDestinations: { nl: 'Bestemmingen', en: 'Destinations' },
  navEvent: { nl: 'Event opzoeken', en: 'Find an event' },
  navConfiguration: { nl: 'Configuratie', en: 'Configuration' },
  queuesTitle: { nl: 'Wachtrijen', en: 'Queues' },
  queuesIntro: {
    nl: 'Wachtend, actief en uitgesteld volgens de wachtrij; onbestelbaar geteld in de database.',
    en: 'Waiting, active and delayed from the queue; dead letters counted in the database.',
  },
  refreshFailed: {
    nl: 'Deze cijfers worden niet meer bijgewerkt: bijwerken is mislukt. Er wordt opnieuw geprobeerd; vernieuw anders de pagina.',
    en: 'These figures are no longer being updated: the refresh failed. Trying again; or reload the page.',
  },
  queue: { nl: 'Wachtrij', en: 'Queue' },
  waiting: { nl: 'Wachtend', en: 'Waiting' },
  active: { nl: 'Actief', en: 'Active' },
  delayed: { nl: 'Uitgesteld', en: 'Delayed' },
  dead: { nl: 'Onbestelbaar', en: 'Dead letters' },
  deadLettersTitle: { nl: 'Onbestelbare berichten', en: 'Dead letters' },
  receiverAnswer: { nl: 'Antwoord ontvanger', en: "Receiver's answer" },
  answerTypeSize: { nl: '{0}, {1} bytes', en: '{0}, {1} bytes' },
  answerTypeNone: { nl: 'geen inhoudstype', en: 'no content type' },
  answerLocation: { nl: 'doorverwezen naar (Location):', en: 'redirected to (Location):' },
  answerIssueWithheld: { nl: 'melding zonder erkende code', en: 'issue without a recognised code' },
  httpStatus: { nl: 'HTTP-status', en: 'HTTP status' },
  anyDestination: { nl: 'Alle bestemmingen', en: 'Any destination' },
  filter: { nl: 'Filteren', en: 'Filter' },
  replay: { nl: 'Opnieuw versturen', en: 'Replay' },
  redecide: { nl: 'Opnieuw beoordelen', en: 'Decide again' },
  redecidedPermit: {
    nl: 'Opnieuw beoordeeld: toegestaan. Het wordt verstuurd.',
    en: 'Decided again: permitted. It is being sent.',
  },
  redecidedNot: {
    nl: 'Opnieuw beoordeeld: niet verstuurd. De status hieronder zegt waarom.',
    en: 'Decided again: not sent. The state below says why.',
  },
  replayAll: { nl: 'Alle {0} overeenkomende opnieuw versturen', en: 'Replay all {0} matching' },
  replayOldest: {
    nl: 'De oudste {0} van de {1} overeenkomende opnieuw versturen',
    en: 'Replay the oldest {0} of the {1} matching',
  },
  replayTitle: { nl: 'Voortgang opnieuw versturen', en: 'Replay progress' },
  backToDeadLetters: { nl: 'Terug naar Onbestelbaar', en: 'Back to the dead letters' },
  replayProgress: {
    nl: '{0} van {1} afgeleverd, {2} onderweg, {3} weer onbestelbaar.',
    en: '{0} of {1} delivered, {2} on their way, {3} dead again.',
  },
  replayNone: { nl: 'Nog niets opnieuw verstuurd in deze sessie.', en: 'Nothing replayed in this session yet.' },
  replaySkippedNotCarried: {
    nl: '{0} niet opnieuw te versturen: intrekkingsberichten aan een formaat dat er geen bericht voor kent (opnieuw versturen zou opnieuw mislukken).',
    en: '{0} not to be replayed: withdrawal notices to a format that has no message for one (a replay would fail the same way).',
  },
  replaySkippedPurged: {
    nl: '{0} niet opnieuw te versturen: de inhoud is na de bewaartermijn verwijderd.',
    en: '{0} not to be replayed: their content was removed after the retention period.',
  },
  replayNotCarried: {
    nl: 'Opnieuw versturen zou opnieuw mislukken: het formaat van deze bestemming kent geen bericht van intrekking. Laat de gemeente op een andere manier weten dat de toestemming niet meer geldt voor wat zij ontving.',
    en: 'A replay would fail the same way: the format of this destination has no message for a withdrawal notice. Tell the municipality another way that the consent no longer covers what it received.',
  },
  replayPurged: {
    nl: 'Niet opnieuw te versturen: de inhoud is na de bewaartermijn verwijderd.',
    en: 'Cannot be replayed: its content was removed after the retention period.',
  },
  redeliverTitle: { nl: 'Opnieuw afleveren', en: 'Redeliver' },
  redeliverIntro: {
    nl: 'Is de gemeente kwijt wat zij ontving (bijvoorbeeld na het terugzetten van een back-up), dan gaat het opnieuw, met dezelfde sleutel, na een nieuw besluit. Per gemeente en periode: de API (POST /admin/v1/deliveries/redeliver).',
    en: 'When the municipality lost what it received (it restored a backup, say), it goes again, with the same key, after a new decision. By municipality and period: the API (POST /admin/v1/deliveries/redeliver).',
  },
  redeliver: { nl: 'Opnieuw afleveren', en: 'Redeliver' },
  redeliverReason: { nl: 'Reden (in de audit) ', en: 'Reason (kept in the audit) ' },
  redeliverNeedsReason: { nl: 'Geef een reden op.', en: 'Give a reason.' },
  redelivered: { nl: 'Opnieuw onderweg, met dezelfde sleutel.', en: 'On its way again, with the same key.' },
  redeliveryDenied: {
    nl: 'Opnieuw beoordeeld: niet verstuurd ({0}).',
    en: 'Decided again: not sent ({0}).',
  },
  redeliverNotDelivered: {
    nl: 'Dit bericht is niet (meer) afgeleverd; een onbestelbaar bericht verstuurt u opnieuw bij Onbestelbaar.',
    en: 'This delivery is not delivered (any more); a dead letter is replayed from the dead letters.',
  },
  redeliverPurged: {
    nl: 'De inhoud is na de bewaartermijn verwijderd: dit bericht kan niet opnieuw worden verstuurd.',
    en: 'Its content was removed after the retention period: this delivery can no longer be sent again.',
  },
  redeliverCancelled: {
    nl: 'De praktijk heeft deze verwijzing na aflevering ingetrokken: ze gaat niet opnieuw.',
    en: 'The practice cancelled this referral after it was delivered: it is not sent again.',
  },
  sentAgainAfter: {
    nl: 'opnieuw verstuurd nadat de ontvanger het al had aangenomen op {0}',
    en: 'sent again after the receiver accepted it at {0}',
  },
  notRedelivered: { nl: 'niet opnieuw afgeleverd (gevraagd door {0})', en: 'not redelivered (asked by {0})' },
  resendFailed: { nl: 'afgeleverd; opnieuw versturen mislukt', en: 'delivered; resend failed' },
  redeliverResent: {
    nl: 'De praktijk heeft de verwijzing na deze intrekking opnieuw gestuurd: de intrekking gaat niet opnieuw.',
    en: 'The practice sent the referral again after this cancellation: it is not sent again.',
  },
  redeliverNoDestination: {
    nl: 'De bestemming is niet meer geconfigureerd.',
    en: 'Its destination is no longer configured.',
  },
  backToEvent: { nl: 'Terug naar het verloop', en: 'Back to the timeline' },
  replayNotDead: {
    nl: 'Dit bericht is niet (meer) onbestelbaar.',
    en: 'This delivery is not a dead letter (any more).',
  },
  toPracticesTitle: { nl: 'Onbestelbaar naar praktijken', en: 'Dead letters to practices' },
  toPracticesIntro: {
    nl: 'Wat gemeenten terugstuurden en het HIS van de praktijk niet bereikte: statusberichten over verwijzingen en trajectgebeurtenissen. De oudste {0} van elk.',
    en: "What municipalities sent back that did not reach the practice's HIS: status updates on referrals and trajectory events. The oldest {0} of each.",
  },
  statusUpdatesToPractices: { nl: 'Statusberichten', en: 'Status updates' },
  trajectoryEventsToPractices: { nl: 'Trajectgebeurtenissen', en: 'Trajectory events' },
  referralEvent: { nl: 'Verwijzing (event)', en: 'Referral (event)' },
  municipalityEventId: { nl: 'Kenmerk van de gemeente', en: "Municipality's id" },
  replayedToPractice: {
    nl: 'Opnieuw verstuurd: het staat hier niet meer, tenzij het weer onbestelbaar wordt.',
    en: 'Replayed: it is no longer listed here, unless it becomes a dead letter again.',
  },
  replayAllToPractice: {
    nl: 'Alle {0} aan praktijk {1} opnieuw versturen',
    en: 'Replay all {0} to practice {1}',
  },
  replayStatusUpdatesToPractice: {
    nl: 'Alleen de statusberichten ({0}) aan praktijk {1} opnieuw versturen',
    en: 'Replay only the status updates ({0}) to practice {1}',
  },
  replayTrajectoryEventsToPractice: {
    nl: 'Alleen de trajectgebeurtenissen ({0}) aan praktijk {1} opnieuw versturen',
    en: 'Replay only the trajectory events ({0}) to practice {1}',
  },
  replayOldestToPractice: {
    nl: 'De oudste {0} van de {1} aan praktijk {2} opnieuw versturen',
    en: 'Replay the oldest {0} of the {1} to practice {2}',
  },
  replayNotDeadToPractice: {
    nl: 'Dit bericht aan de praktijk is niet (meer) onbestelbaar.',
    en: 'This message to the practice is not a dead letter (any more).',
  },
  destinationsTitle: { nl: 'Bestemmingen', en: 'Destinations' },
  health: { nl: 'Gezondheid', en: 'Health' },
  running: { nl: 'actief', en: 'running' },
  pausedByOperator: { nl: 'gepauzeerd door een beheerder: {0}', en: 'paused by an operator: {0}' },
  /** {0}: the principal as the audit names it (`api-key:<id>`, `jwt:<issuer>#<subject>`), {1}: the reason. */
  pausedByNamedOperator: {
    nl: 'gepauzeerd door een beheerder ({0}): {1}',
    en: 'paused by an operator ({0}): {1}',
  },
  pausedAutomatically: { nl: 'automatisch gepauzeerd: {0}', en: 'paused automatically: {0}' },
  pausedAfterFailures: {
    nl: 'automatisch gepauzeerd na {0} fouten op rij; de laatste: {1}',
    en: 'paused automatically after {0} failures in a row; the last: {1}',
  },
  halfOpen: {
    nl: 'de test slaagde: één proeflevering gaat uit, de rest volgt als die aankomt',
    en: 'the probe succeeded: one trial delivery goes out, the rest follow once it is accepted',
  },
  probeUp: { nl: 'bereikbaar: {0}', en: 'reachable: {0}' },
  probeDown: { nl: 'onbereikbaar: {0}', en: 'unreachable: {0}' },
  failures: { nl: 'Fouten op rij', en: 'Failures in a row' },
  lastError: { nl: 'Laatste fout', en: 'Last error' },
  lastProbe: { nl: 'Laatste controle', en: 'Last probe' },
  pause: { nl: 'Pauzeren', en: 'Pause' },
  since: { nl: 'sinds {0}', en: 'since {0}' },
  destinationPaused: {
    nl: 'Bestemming {0} is gepauzeerd. Er gaat niets meer naartoe tot u haar hervat; het auditlog noemt wie pauzeerde.',
    en: 'Destination {0} is paused. Nothing goes to it until you resume it; the audit log names who paused it.',
  },
  destinationResumed: {
    nl: 'Bestemming {0} is hervat: wat wachtte gaat nu weer uit.',
    en: 'Destination {0} is resumed: what was waiting goes out again.',
  },
  resume: { nl: 'Hervatten', en: 'Resume' },
  removedDestinationsTitle: {
    nl: 'Bestemmingen die niet meer zijn ingesteld',
    en: 'Destinations no longer configured',
  },
  removedDestinationsIntro: {
    nl:
      'Deze bestemmingen zijn uit de configuratie gehaald terwijl er nog berichten naartoe wachtten. Er gaat niets ' +
      'meer naartoe. Stel de bestemming opnieuw in om ze te versturen, of beëindig ze: ze worden niet verstuurd, en ' +
      'de praktijk ziet bij elk bericht waarom.',
    en:
      'These destinations were taken out of the configuration while messages to them waited. Nothing goes to them. ' +
      'Configure the destination again to send them, or end them: they are not sent, and the practice sees why for ' +
      'each message.',
  },
  pendingCount: { nl: 'Wachtend', en: 'Pending' },
  waitingSince: { nl: 'Oudste wacht sinds', en: 'Oldest waiting since' },
  endPendingReason: { nl: 'Reden van beëindigen', en: 'Reason for ending' },
  /** {0}: how many one press ends (at most 1000). */
  endPending: { nl: '{0} beëindigen, niet versturen', en: 'End {0}, not sent' },
  endPendingReasonMissing: {
    nl: 'Reden van beëindigen voor {0}: vul in waarom u de wachtende berichten beëindigt.',
    en: 'Reason for ending {0}: fill in why you end the pending messages.',
  },
  endPendingReasonTooShort: {
    nl: 'Reden van beëindigen voor {0}: te kort. Schrijf in minstens {1} woorden en {2} tekens waarom en op wiens besluit.',
    en: 'Reason for ending {0}: too short. Say in at least {1} words and {2} characters why, and on whose decision.',
  },
  destinationPendingEnded: {
    nl:
      'De wachtende berichten aan {0} zijn beëindigd, niet verstuurd; de praktijk ziet waarom, het auditlog wie het ' +
      'deed en waarom. Staan er nog meer, dan staat {0} hieronder nog.',
    en:
      'The pending messages to {0} are ended, not sent; the practice sees why, the audit log who did it and why. ' +
      'If more wait, {0} is still listed below.',
  },
  pauseReason: { nl: 'Reden van pauze', en: 'Reason for pausing' },
  pauseReasonMissing: {
    nl: 'Reden van pauze voor {0}: vul in waarom u pauzeert.',
    en: 'Reason for pausing {0}: fill in why you pause it.',
  },
  /** {0}: the principal, as in `pausedByNamedOperator`. */
  pausedByNamedOperatorNoReason: {
    nl: 'gepauzeerd door een beheerder ({0}), zonder reden',
    en: 'paused by an operator ({0}), no reason given',
  },
  pausedByOperatorNoReason: {
    nl: 'gepauzeerd door een beheerder, zonder reden',
    en: 'paused by an operator, no reason given',
  },
  authentication: { nl: 'Authenticatie', en: 'Authentication' },
  /** A destination that sends without authenticating (`auth.type` none). */
  authNone: { nl: 'geen', en: 'none' },
  eventNotFound: { nl: '{0}: geen event met deze id gevonden.', en: '{0}: no event with this id found.' },
  eventTitle: { nl: 'Tijdlijn van een event', en: "An event's timeline" },
  eventLookup: {
    nl: 'Inbox-id of event-id van de praktijk',
    en: "Inbox id, or the practice's own event id",
  },
  history: { nl: 'Verloop', en: 'History' },
  deliveries: { nl: 'Afleveringen', en: 'Deliveries' },
  lastAnswer: { nl: 'Laatste antwoord', en: 'Last answer' },
  deliveredOn: { nl: 'Afgeleverd op', en: 'Delivered at' },
  withdrawalNotices: {
    nl: 'Gemeente geïnformeerd over intrekking van toestemming',
    en: 'Municipality told the consent was withdrawn',
  },
  consentEvent: { nl: 'Toestemmingsbericht', en: 'Consent event' },
  configurationTitle: { nl: 'Geladen configuratie', en: 'Loaded configuration' },
  thisBuild: { nl: 'Deze versie: jeugdbrug {0}, commit {1}', en: 'This build: jeugdbrug {0}, commit {1}' },
  agreements: { nl: 'Overeenkomsten', en: 'Agreements' },
  destinations: { nl: 'Bestemmingen', en: 'Destinations' },
  problems: { nl: 'Problemen', en: 'Problems' },
  noProblems: { nl: 'Geen configuratieproblemen gevonden.', en: 'No configuration problems found.' },
  problemNoDestination: {
    nl: 'Overeenkomst {0}: geen bestemming voor gemeente {1}',
    en: 'Agreement {0}: no destination for municipality {1}',
  },
  problemNoAgreement: {
    nl: 'Bestemming {0}: geen overeenkomst met gemeente {1}',
    en: 'Destination {0}: no agreement with municipality {1}',
  },
  problemExpired: { nl: 'Overeenkomst {0} is verlopen op {1}', en: 'Agreement {0} expired on {1}' },
  legalBasis: { nl: 'Grondslag', en: 'Legal basis' },
  validity: { nl: 'Geldig', en: 'Valid' },
  adapter: { nl: 'Koppeling', en: 'Adapter' },
  // Municipality
  navReport: { nl: 'Monitoring', en: 'Monitoring' },
  navReferrals: { nl: 'Verwijzingen', en: 'Referrals' },
  reportTitle: { nl: 'Monitoringrapportage', en: 'Monitoring report' },
  reportPeriod: { nl: 'Periode: {0} t/m {1}', en: 'Period: {0} to {1} inclusive' },
  reportMunicipality: { nl: 'Gemeente: {0}', en: 'Municipality: {0}' },
  reportPractice: { nl: 'Praktijk: {0}', en: 'Practice: {0}' },
  reportPending: {
    nl: 'Deze periode loopt nog: de cijfers zijn voorlopig, de kosten tellen de dagen tot en met vandaag.',
    en: 'This period has not ended: the figures are provisional, the cost counts the days up to today.',
  },
  allPractices: { nl: 'Alle praktijken', en: 'All practices' },
  downloadCsv: { nl: 'CSV downloaden', en: 'Download CSV' },
  downloadCsvExcelNl: {
    nl: 'CSV voor Excel (puntkomma, decimale komma)',
    en: 'CSV for Dutch Excel (semicolons, decimal commas)',
  },
  quarterOf: { nl: '{0}e kwartaal {1}', en: 'Q{0} {1}' },
  halfYearOf: { nl: '{0}e halfjaar {1}', en: 'H{0} {1}' },
  wholeYear: { nl: 'Heel {0}', en: 'All of {0}' },
  choosePeriod: { nl: '{0}: kies een kwartaal, halfjaar of jaar.', en: '{0}: choose a quarter, half-year or year.' },
  noMonitoringAgreement: {
    nl: '{0}: in deze periode was geen overeenkomst met doel monitoring van kracht.',
    en: '{0}: no agreement with purpose monitoring was in force in this period.',
  },
  count: { nl: 'Aantal', en: 'Count' },
  withheld: { nl: 'afgeschermd', en: 'withheld' },
  withheldNote: {
    nl:
      'Afgeschermd: een aantal van 1 tot en met {0} wordt niet getoond, zodat geen kind herkenbaar is, en waar nodig ook een ' +
      'ander aantal, zodat het niet uit het totaal, een ander kwartaal of een andere praktijk terug te rekenen is. ' +
      'Is een totaal afgeschermd, dan ook alle aantallen eronder, ook nullen. Een gemiddelde of mediaan over een ' +
      'afgeschermd aantal is ook afgeschermd. Een getoonde 0 is echt nul; – betekent: geen gegevens.',
    en:
      'Withheld: a count from 1 to {0} is not shown, so that no child can be recognised, and where needed ' +
      'another count as well, so that it cannot be worked out from the total, another quarter or another practice. ' +
      'When a total is withheld, so are all counts under it, zeros too. A mean or median over a withheld ' +
      'count is withheld too. A 0 shown is a real zero; – means: no data.',
  },
  scoreMean: { nl: 'Gemiddeld aantal gesprekken', en: 'Mean number of contacts' },
  scoreMedianDays: { nl: 'Mediaan (dagen)', en: 'Median (days)' },
  scoreMedianContacts: { nl: 'Mediaan aantal gesprekken', en: 'Median number of contacts' },
  scoreHours: { nl: 'Contacturen (met duur)', en: 'Contact hours (with a duration)' },
  scoreCompleteness: { nl: 'Registratiegraad (%)', en: 'Completeness (%)' },
  scoreSaving: { nl: 'Geschatte besparing (EUR)', en: 'Estimated saving (EUR)' },
  referralsTitle: { nl: 'Verwijzingen en hun status', en: 'Referrals and their status' },
  referralsIntro: {
    nl:
      'Elke verwijzing met het kenmerk waaronder u haar ontving: het verwijzingsnummer van de praktijk, waarmee u ' +
      'ook in de API status terugmeldt. De nieuwste bovenaan.',
    en:
      "Each referral with the identifier you received it by: the practice's own referral number, which you also " +
      'use to report its status in the API. The newest first.',
  },
  referral: { nl: 'Verwijzing (kenmerk)', en: 'Referral (identifier)' },
  referredOn: { nl: 'Verwezen op', en: 'Referred on' },
  deliveredAt: { nl: 'Ontvangen', en: 'Received' },
  statusUpdates: { nl: 'Statusberichten', en: 'Status updates' },
  referralStatusTitle: { nl: 'Status bij de gemeente', en: 'Status at the municipality' },
  noReferralStatus: {
    nl: 'Nog geen status van de gemeente ontvangen.',
    en: 'No status received from the municipality yet.',
  },
  noStatusYet: { nl: 'nog geen', en: 'none yet' },
  notSentToMunicipality: { nl: 'niet verstuurd', en: 'not sent' },
  cancelledByPractice: { nl: 'ingetrokken door de praktijk', en: 'cancelled by the practice' },
  cancellationReached: {
    nl: 'Ingetrokken door de praktijk (event {0}): de intrekking bereikte de gemeente op {1}.',
    en: 'Cancelled by the practice (event {0}): the cancellation reached the municipality on {1}.',
  },
  cancellationOnItsWay: {
    nl: 'Ingetrokken door de praktijk (event {0}): de intrekking is nog niet bij de gemeente (status: {1}).',
    en: 'Cancelled by the practice (event {0}): the cancellation has not reached the municipality yet (state: {1}).',
  },
  cancellationNotSent: {
    nl: 'Ingetrokken door de praktijk (event {0}): de intrekking is niet naar de gemeente verstuurd (status: {1}).',
    en: 'Cancelled by the practice (event {0}): the cancellation was not sent to the municipality (state: {1}).',
  },
  deadLetterDeliveredBefore: {
    nl: 'Eerder afgeleverd ({0}); opnieuw afleveren mislukte.',
    en: 'Delivered before ({0}); sending it again failed.',
  },
  referralNotSent: {
    nl: 'Deze verwijzing is niet naar de gemeente verstuurd (status: {0}): er komt geen status van de gemeente.',
    en: 'This referral was not sent to the municipality (state: {0}): no status will come from the municipality.',
  },
  waitingDays: { nl: 'Wachttijden', en: 'Waiting times' },
  firstPage: { nl: 'Eerste pagina', en: 'First page' },
  statusReceivedAt: { nl: 'ontvangen {0}, naar de praktijk: {1}', en: 'received {0}, to the practice: {1}' },
  days: { nl: '{0} dagen', en: '{0} days' },
  oneDay: { nl: '1 dag', en: '1 day' },
  referralEvent_created: { nl: 'verwijzing', en: 'referral' },
  referralEvent_cancelled: { nl: 'intrekking', en: 'cancellation' },
  referralCancelledOn: { nl: 'Ingetrokken door de praktijk op {0}', en: 'Cancelled by the practice on {0}' },
  referralConsentWithdrawn: {
    nl: 'Toestemming vervallen: intrekkingsbericht gemaakt {0}',
    en: 'Consent no longer covers it: withdrawal notice made {0}',
  },
  referralCancelled: {
    nl:
      'De praktijk heeft deze verwijzing op {0} ingetrokken; het bericht daarover ontving u {1}. U kunt er geen ' +
      'status meer op terugmelden.',
    en:
      'The practice cancelled this referral on {0}; you received its message {1}. No status can be reported on it ' +
      'any more.',
  },
  referralCancelledNothingRecorded: {
    nl: 'Er is niets vastgelegd of verstuurd: de praktijk heeft deze verwijzing ingetrokken.',
    en: 'Nothing was recorded or sent: the practice cancelled this referral.',
  },
  findReferral: { nl: 'Verwijzing zoeken', en: 'Find a referral' },
  referralNumber: {
    nl: 'Verwijzingsnummer (of het begin ervan)',
    en: 'Referral number (or its beginning)',
  },
  receivedFrom: { nl: 'Ontvangen vanaf', en: 'Received from' },
  receivedTo: { nl: 'Ontvangen tot en met', en: 'Received up to and including' },
  allReferrals: { nl: 'Alle verwijzingen', en: 'All referrals' },
  referralStatus_received: { nl: 'Ontvangen door de gemeente', en: 'Received by the municipality' },
  referralStatus_accepted: { nl: 'Aangenomen door de gemeente', en: 'Accepted by the municipality' },
  referralStatus_rejected: { nl: 'Afgewezen door de gemeente', en: 'Rejected by the municipality' },
  'referralStatus_decision-issued': { nl: 'Beschikking afgegeven', en: 'Decision issued' },
  referralStatus_allocated: { nl: 'Toegewezen aan een aanbieder', en: 'Allocated to a provider' },
  'referralStatus_care-started': { nl: 'Zorg gestart', en: 'Care started' },
  'referralStatus_care-ended': { nl: 'Zorg beëindigd', en: 'Care ended' },
  referralStatus_closed: { nl: 'Afgesloten', en: 'Closed' },
  answerReferral: { nl: 'Status terugmelden', en: 'Report a status' },
  answerReferralFor: { nl: 'voor verwijzing {0}', en: 'for referral {0}' },
  referralNotReceivedHere: {
    nl: 'De verwijzing zelf is hier niet zeker aangekomen (een poging bleef onbeantwoord): er is geen status op terug te melden.',
    en: 'The referral itself did not surely arrive here (an attempt went unanswered): no status can be reported on it.',
  },
  referralTitle: { nl: 'Verwijzing {0}', en: 'Referral {0}' },
  answerIntro: {
    nl:
      'Leg de volgende status van deze verwijzing vast. Zij gaat, net als een status via de API, naar het HIS van ' +
      'de praktijk. U kunt alleen kiezen wat op de huidige status mag volgen.',
    en:
      "Record this referral's next status. Like a status sent through the API, it goes on to the practice's HIS. " +
      'You can only choose what may follow the current status.',
  },
  statusField: { nl: 'Status', en: 'Status' },
  statusDate: { nl: 'Datum van de status', en: 'Date of the status' },
  rejectionReason: { nl: 'Reden van afwijzing', en: 'Reason for rejection' },
  chooseOne: { nl: 'kies…', en: 'choose…' },
  chooseStatusStep: {
    nl: 'Kies eerst de status; daarna ziet u alleen de velden die bij die status horen.',
    en: 'Choose the status first; you then see only the fields that go with it.',
  },
  nextStep: { nl: 'Verder', en: 'Next' },
  chosenStatus: { nl: 'Gekozen status: {0}', en: 'Chosen status: {0}' },
  otherStatus: { nl: 'Andere status kiezen', en: 'Choose another status' },
  finalStatusWarning: {
    nl: 'Let op: deze status kan niet ongedaan worden gemaakt. Hij gaat meteen naar het HIS van de praktijk.',
    en: "Note: this status cannot be undone. It goes straight on to the practice's HIS.",
  },
  confirmFinal: {
    nl: 'Ik heb gecontroleerd dat dit de juiste status is',
    en: 'I have checked that this is the right status',
  },
  confirmFinalMissing: {
    nl: '{0}: vink dit aan als de status klopt. Er is niets vastgelegd.',
    en: '{0}: tick this if the status is right. Nothing was recorded.',
  },
  chooseRejectionReason: { nl: '{0}: kies een reden.', en: '{0}: choose a reason.' },
  reasonText: { nl: 'Toelichting', en: 'Explanation' },
  reasonTextHelp: {
    nl: 'Wat de status of reden zelf niet zegt, zoals de reden bij ‘Andere reden (zie toelichting)’. Gaat met de status naar het HIS van de praktijk en wordt versleuteld bewaard.',
    en: 'What the status or reason does not say itself, such as the reason with ‘Andere reden (zie toelichting)’ (another reason). Goes with the status to the practice’s HIS and is kept encrypted.',
  },
  decisionLegend: { nl: 'Beschikking', en: 'Decision' },
  decisionNumber: { nl: 'Beschikkingsnummer', en: 'Decision number' },
  decisionDate: { nl: 'Datum van de beschikking', en: 'Date of the decision' },
  productCategory: { nl: 'Productcategorie (JZ020)', en: 'Product category (JZ020)' },
  periodStart: { nl: 'Begin van de periode', en: 'Start of the period' },
  periodEnd: { nl: 'Einde van de periode', en: 'End of the period' },
  careLegend: { nl: 'Zorg', en: 'Care' },
  providerAgb: { nl: 'AGB-code van de aanbieder', en: "Provider's AGB code" },
  careStartDate: { nl: 'Startdatum van de zorg', en: 'Start date of care' },
  careEndDate: { nl: 'Einddatum van de zorg', en: 'End date of care' },
  recordStatus: { nl: 'Status vastleggen', en: 'Record status' },
  statusRecorded: {
    nl: 'Status vastgelegd: {0}. Zij gaat naar het HIS van de praktijk.',
    en: "Status recorded: {0}. It goes on to the practice's HIS.",
  },
  nothingMayFollow: {
    nl: 'Op de huidige status kan geen andere meer volgen.',
    en: 'No status may follow the current one.',
  },
  waiting_referralToAccepted: { nl: 'verwijzing → aangenomen', en: 'referral → accepted' },
  waiting_acceptedToDecision: { nl: 'aangenomen → beschikking', en: 'accepted → decision' },
  waiting_decisionToCareStarted: { nl: 'beschikking → zorg gestart', en: 'decision → care started' },
  waiting_referralToDecision: { nl: 'verwijzing → beschikking', en: 'referral → decision' },
  waiting_referralToCareStarted: { nl: 'verwijzing → zorg gestart', en: 'referral → care started' },
  // Practice
  navEvents: { nl: 'Onze events', en: 'Our events' },
  eventsTitle: { nl: 'Events van de praktijk', en: "The practice's events" },
  eventsIntro: {
    nl: 'De status van wat uw HIS heeft gestuurd; bij een weigering staat erbij waarom.',
    en: 'The state of what your HIS sent; for a denial, the reason.',
  },
  anyState: { nl: 'Alle statussen', en: 'Any state' },
  whyDenied: { nl: 'Waarom geweigerd', en: 'Why denied' },
  recordedDecision: { nl: 'Vastgelegd besluit ({0})', en: 'The decision as recorded ({0})' },
  nowStillDenied: {
    nl: 'Als het nu opnieuw werd beoordeeld: nog steeds geweigerd',
    en: 'If it were decided again now: still denied',
  },
  nowPermitted: {
    nl: 'Als het nu opnieuw werd beoordeeld: toegestaan ({0}). Het blijft geweigerd tot het opnieuw beoordeeld is: stuur het opnieuw vanuit het HIS, of vraag de beheerder het opnieuw te beoordelen.',
    en: 'If it were decided again now: permitted ({0}). It stays denied until it is decided again: send it again from the HIS, or ask the operator to decide it again.',
  },
  missingFrom: { nl: 'Ontbreekt bij', en: 'Missing from' },
  sentTitle: { nl: 'Wat er is verstuurd', en: 'What was sent' },
  sentOnDecision: { nl: 'Besluit waarop het is verstuurd', en: 'The decision it was sent on' },
  permittedUnder: {
    nl: 'Toegestaan onder overeenkomst {0}, met toestemming van {1}',
    en: 'Permitted under agreement {0}, with the consent of {1}',
  },
  sentTo: { nl: 'Naar {0} op {1}', en: 'To {0} on {1}' },
  sentPurpose: { nl: 'Doel: {0}', en: 'Purpose: {0}' },
  sentAgreement: { nl: 'Overeenkomst: {0}', en: 'Agreement: {0}' },
  sentClasses: { nl: 'Gegevens: {0}', en: 'Data: {0}' },
  leftOutClasses: { nl: 'Niet meegestuurd (minimalisatie): {0}', en: 'Left out (minimisation): {0}' },
  notKeptForDelivery: { nl: 'niet vastgelegd voor deze aflevering', en: 'not kept for this delivery' },
  onConsent: { nl: 'Op toestemming {0}', en: 'On consent {0}' },
  onObjection: { nl: 'Op bezwaar {0}', en: 'On objection {0}' },
  consentOfPeople: { nl: 'van {0}', en: 'of {0}' },
  consentGivenOn: { nl: 'gegeven op {0}', en: 'given on {0}' },
  consentValidFromTo: { nl: 'geldig van {0} tot en met {1}', en: 'valid from {0} up to and including {1}' },
  consentValidFrom: { nl: 'geldig vanaf {0}', en: 'valid from {0}' },
  consentValidTo: { nl: 'geldig tot en met {0}', en: 'valid up to and including {0}' },
  consentRecordedBy: { nl: 'vastgelegd door {0} op {1}', en: 'recorded by {0} on {1}' },
  consentNowWithdrawn: { nl: 'inmiddels ingetrokken', en: 'withdrawn since' },
  consentNowWithdrawnBy: { nl: 'inmiddels ingetrokken door {0}', en: 'withdrawn since by {0}' },
  consentWithdrawnOn: { nl: 'op {0}', en: 'on {0}' },
  consentVersion: { nl: 'versie {0}', en: 'version {0}' },
  consentNowObjection: {
    nl: 'inmiddels vervangen door een bezwaar (versie {0}, vastgelegd op {1})',
    en: 'replaced since by an objection (version {0}, recorded on {1})',
  },
  consentNowChanged: {
    nl: 'inmiddels gewijzigd (versie {0}, vastgelegd op {1})',
    en: 'changed since (version {0}, recorded on {1})',
  },
  consentNowInError: { nl: 'inmiddels als vergissing gemarkeerd', en: 'marked as entered in error since' },
  consentNotHeld: { nl: 'niet in het toestemmingsregister', en: 'not in the consent registry' },
  sentOnNoConsent: {
    nl: 'Zonder toestemming: de grondslag van de overeenkomst vraagt er geen',
    en: 'No consent: the legal basis of the agreement asks for none',
  },
  sentConsentsNotKept: {
    nl: 'Op welke toestemming: niet meer bewaard (audittermijn verstreken)',
    en: 'On which consent: no longer kept (audit retention)',
  },
  deniedOnConsents: { nl: 'Het vastgelegde besluit berust op', en: 'The recorded decision rests on' },
  objectionBy: { nl: 'Bezwaar van', en: 'Objection by' },
  consentBy: { nl: 'Toestemming van', en: 'Consent of' },
  performerUnknown: { nl: 'onbekend', en: 'unknown' },
  recordedOn: { nl: 'vastgelegd op {0}', en: 'recorded on {0}' },
  objection: { nl: 'bezwaar', en: 'objection' },
  theChild: { nl: 'het kind', en: 'the child' },
  guardianWithAuthority: { nl: '{0} met gezag', en: '{0} with parental authority' },
  guardian: { nl: 'ouder/verzorger', en: 'parent/guardian' },
} as const satisfies Record<string, Record<Lang, string>>;

export type MessageKey = keyof typeof MESSAGES;

/** `text` with `{0}`, `{1}`… replaced by the arguments. */
function fill(text: string, args: readonly (string | number | undefined)[]): string {
  return text.replace(/\{(\d)\}/g, (_m, i: string) => String(args[Number(i)] ?? ''));
}

/** A label in the language, with `{0}`, `{1}`… replaced by the arguments. */
export function t(lang: Lang, key: MessageKey, ...args: readonly (string | number)[]): string {
  return fill(MESSAGES[key][lang], args);
}

const STATES: Record<string, Record<Lang, string>> = {
  received: { nl: 'ontvangen', en: 'received' },
  unacknowledged: { nl: 'niet bevestigd, wacht op opnieuw sturen', en: 'not acknowledged, awaiting resend' },
  mapped: { nl: 'omgezet', en: 'mapped' },
  decided: { nl: 'besloten, wacht op aflevering', en: 'decided, waiting for delivery' },
  delivered: { nl: 'afgeleverd', en: 'delivered' },
  completed: { nl: 'verwerkt', en: 'completed' },
  denied: { nl: 'geweigerd', en: 'denied' },
  failed: { nl: 'mislukt', en: 'failed' },
  dead: { nl: 'onbestelbaar', en: 'dead letter' },
  pending: { nl: 'onderweg', en: 'pending' },
  superseded: { nl: 'niet verstuurd: een latere status ging al', en: 'not sent: a later status went first' },
};

/** An event or delivery state in words. */
export function stateInWords(lang: Lang, state: string): string {
  return codeInWords(STATES, lang, state);
}

/** The policy engine's reason codes in words (DecisionReasonCode), for practices and auditors. */
const REASONS: Record<string, Record<Lang, string>> = {
  'no-agreement': {
    nl: 'er is geen verwerkersovereenkomst met deze gemeente',
    en: 'there is no processing agreement with this municipality',
  },
  'agreement-not-active': { nl: 'de overeenkomst is niet (meer) actief', en: 'the agreement is not active' },
  'agreement-not-yet-valid': { nl: 'de overeenkomst geldt nog niet', en: 'the agreement is not valid yet' },
  'agreement-expired': { nl: 'de overeenkomst is verlopen', en: 'the agreement has expired' },
  'purpose-not-covered': { nl: 'de overeenkomst dekt dit doel niet', en: 'the agreement does not cover this purpose' },
  'class-not-covered': {
    nl: 'de overeenkomst dekt deze soort gegevens niet',
    en: 'the agreement does not cover this kind of data',
  },
  'birth-date-unknown': {
    nl: 'de geboortedatum van het kind ontbreekt, dus is onbekend wie toestemming moet geven',
    en: "the child's birth date is missing, so who must consent is unknown",
  },
  'no-guardian-with-authority': {
    nl: 'er is geen ouder of verzorger met gezag bekend',
    en: 'no parent or guardian with parental authority is known',
  },
  'consent-missing-child': { nl: 'de toestemming van het kind ontbreekt', en: "the child's consent is missing" },
  'consent-missing-guardian': {
    nl: 'de toestemming van een ouder met gezag ontbreekt',
    en: 'the consent of a parent with parental authority is missing',
  },
  'consent-withdrawn': { nl: 'de toestemming is ingetrokken', en: 'the consent was withdrawn' },
  'consent-denied': { nl: 'er is bezwaar gemaakt (toestemming geweigerd)', en: 'consent was refused (an objection)' },
  'consent-expired': { nl: 'de toestemming is verlopen', en: 'the consent has expired' },
  'consent-not-yet-valid': { nl: 'de toestemming geldt nog niet', en: 'the consent is not valid yet' },
  'actor-not-covered': {
    nl: 'de toestemming noemt deze gemeente niet als ontvanger',
    en: 'the consent does not name this municipality as recipient',
  },
  'consent-purpose-not-covered': {
    nl: 'de toestemming dekt dit doel niet',
    en: 'the consent does not cover this purpose',
  },
  'consent-class-not-covered': {
    nl: 'de toestemming dekt niet alle gevraagde gegevens',
    en: 'the consent does not cover all requested data',
  },
  'permitted-by-consent': { nl: 'toegestaan op grond van toestemming', en: 'permitted by consent' },
  'permitted-by-legal-basis': { nl: 'toegestaan op grond van de wettelijke grondslag', en: 'permitted by legal basis' },
  'permitted-as-cancellation': {
    nl: 'toegestaan: intrekking van een verwijzing die de gemeente al heeft',
    en: 'permitted: the cancellation of a referral the municipality already holds',
  },
  'permitted-as-referral-status': {
    nl: 'toegestaan: de status van een verwijzing, terug naar de praktijk die haar stuurde',
    en: 'permitted: the status of a referral, back to the practice that sent it',
  },
  'referral-not-disclosed': {
    nl: 'de verwijzing is nooit naar de gemeente gestuurd: er is niets in te trekken',
    en: 'the referral was never sent to the municipality: there is nothing to cancel',
  },
  'referral-unknown': {
    nl: 'jeugdbrug kent de ingetrokken verwijzing niet: beoordeeld als nieuwe verstrekking',
    en: 'jeugdbrug does not know the cancelled referral: judged as a new disclosure',
  },
};

/** What a state reason may start with, and what it adds in words (`denied at delivery: consent-withdrawn`). */
const REASON_PREFIXES: readonly (readonly [string, Record<Lang, string>])[] = [
  ['denied at delivery: ', { nl: 'bij aflevering', en: 'at delivery' }],
  ['decided again: ', { nl: 'opnieuw besloten', en: 'decided again' }],
];

/** The text `make` writes, as a pattern's source (unanchored) whose one group is what `make` was given (any text). */
function templateSource(make: (arg: string) => string): string {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return make('\u0000').split('\u0000').map(escape).join('(.+?)');
}

/** The whole text `make` writes, as a pattern whose one group is what `make` was given (any text). */
function templatePattern(make: (arg: string) => string): RegExp {
  return new RegExp(`^${templateSource(make)}$`);
}

/**
 * The other reasons the pipeline records for a state (src/event), in words; `{1}`, `{2}` are the pattern's groups.
 * Ids, codes and technical messages in them stay as they are; a reason none of these knows is shown as recorded.
 */
const OTHER_REASONS: readonly (readonly [RegExp, Record<Lang, string>])[] = [
  [
    /^not within the caller’s scope$/,
    { nl: 'valt buiten het bereik van wie het vroeg', en: 'outside the asker’s scope' },
  ],
  [
    /^recorded in the consent registry$/,
    { nl: 'vastgelegd in het toestemmingsregister', en: 'recorded in the consent registry' },
  ],
  [
    /^not sent: destination (\S+) is no longer configured; ended by operator$/,
    {
      nl: 'niet verstuurd: bestemming {1} is niet meer ingesteld; beëindigd door de beheerder',
      en: 'not sent: destination {1} is no longer configured; ended by the operator',
    },
  ],
  [
    /^no destination configured for (\S+)$/,
    { nl: 'geen bestemming ingesteld voor {1}', en: 'no destination configured for {1}' },
  ],
  [
    new RegExp(`^${NOTICE_QUEUED}(.+)$`),
    {
      nl: 'vastgelegd in het toestemmingsregister; bericht van intrekking aan {1}',
      en: 'recorded in the consent registry; withdrawal notice to {1}',
    },
  ],
  [
    new RegExp(`^${noticeNotCarried('(\\S+)')}$`),
    {
      nl:
        'niet verstuurd: het formaat {1} kent geen bericht van intrekking; laat de gemeente op een andere manier ' +
        'weten dat de toestemming niet meer geldt voor wat zij ontving',
      en: noticeNotCarried('{1}'),
    },
  ],
  [
    /^superseded: a newer version of this (referral|contact) was received \(event (.+)\)$/,
    {
      nl: 'niet opnieuw beoordeeld: de praktijk stuurde later een nieuwere versie (event {2})',
      en: 'not decided again: the practice sent a newer version later (event {2})',
    },
  ],
  [
    /^superseded: the practice cancelled this referral \(event (.+)\)$/,
    {
      nl: 'niet opnieuw beoordeeld: de praktijk trok deze verwijzing later in (event {1})',
      en: 'not decided again: the practice cancelled this referral later (event {1})',
    },
  ],
  [/^replayed by (.+)$/, { nl: 'opnieuw verstuurd door {1}', en: 'replayed by {1}' }],
  [templatePattern(redeliveredBy), { nl: 'opnieuw afleveren gevraagd door {1}', en: redeliveredBy('{1}') }],
  [/^mapping failed$/, { nl: 'omzetten mislukt', en: 'mapping failed' }],
  [
    /^mapping failed: dialect (\S+) produced invalid FHIR: (.+)$/,
    {
      nl: 'omzetten mislukt: dialect {1} maakte ongeldige FHIR: {2}',
      en: 'mapping failed: dialect {1} produced invalid FHIR: {2}',
    },
  ],
  [
    /^mapping failed: dialect (\S+) refused its stored record: (.+)$/,
    {
      nl: 'omzetten mislukt: dialect {1} weigerde het opgeslagen bericht: {2}',
      en: 'mapping failed: dialect {1} refused its stored record: {2}',
    },
  ],
  [/^mapped again by (.+)$/, { nl: 'opnieuw omgezet door {1}', en: 'mapped again by {1}' }],
  [
    new RegExp(`^${CANCELLED_BY_PRACTICE}$`),
    { nl: 'niet verstuurd: de praktijk trok de verwijzing in', en: 'not sent: the practice cancelled the referral' },
  ],
  [
    new RegExp(`^${CANCELLED_AFTER_POSSIBLE_RECEIPT}$`),
    {
      nl: 'niet opnieuw verstuurd: de praktijk trok de verwijzing in; een eerdere poging kan de gemeente hebben bereikt',
      en: 'not sent again: the practice cancelled the referral; an earlier attempt may have reached the municipality',
    },
  ],
  [
    new RegExp(`^${RESEND_CANCELLED_BY_PRACTICE}$`),
    {
      nl: 'niet opnieuw verstuurd: de praktijk trok de verwijzing in, die de gemeente al had; de intrekking gaat eruit',
      en: 'not sent again: the practice cancelled the referral, which the municipality had; its cancellation goes out',
    },
  ],
  [
    new RegExp(`^${NOTHING_TO_CANCEL}$`),
    {
      nl: 'niet verstuurd: de verwijzing die het intrekt bereikte de gemeente nooit',
      en: 'not sent: the referral it cancels never reached the municipality',
    },
  ],
  [
    new RegExp(`^([a-z0-9-]+): HTTP (404|410); ${NOT_HELD_BY_RECEIVER}$`),
    {
      nl: '{1}: HTTP {2}; niets in te trekken: de gemeente heeft de verwijzing niet, die haar misschien nooit bereikte',
      en: '{1}: HTTP {2}; nothing to cancel: the municipality does not hold the referral, which may never have reached it',
    },
  ],
  [
    new RegExp(`^${RESENT_BY_PRACTICE}$`),
    {
      nl: 'niet verstuurd: de praktijk stuurde de verwijzing na het intrekken opnieuw',
      en: 'not sent: the practice sent the referral again after cancelling it',
    },
  ],
  [
    new RegExp(`^${SUPERSEDED_BY_CORRECTION}$`),
    {
      nl: 'niet verstuurd: een correctie van dit contact, later ontvangen, bereikte de gemeente al',
      en: 'not sent: a correction of this contact, received after it, already reached the municipality',
    },
  ],
  [
    new RegExp(`^${NOT_ACKNOWLEDGED}$`),
    {
      nl: 'opgeslagen, maar de ontvangst is niet vastgelegd en dus niet bevestigd: wordt pas verwerkt als de praktijk het opnieuw stuurt',
      en: 'stored, but its receipt was not recorded, so not acknowledged: processed only once the practice sends it again',
    },
  ],
  [new RegExp(`^${RECEIPT_RECORDED}$`), { nl: 'ontvangst vastgelegd', en: 'receipt recorded' }],
  [
    new RegExp(`^${PAYLOAD_PURGED}$`),
    { nl: 'inhoud verwijderd na de bewaartermijn', en: 'content removed after the retention period' },
  ],
  [
    /^monitoring report (\S+) pushed by (.+)$/,
    { nl: 'monitoringrapport {1}, verstuurd door {2}', en: 'monitoring report {1}, pushed by {2}' },
  ],
  [/^monitoring report (\S+)$/, { nl: 'monitoringrapport {1}', en: 'monitoring report {1}' }],
  // A delivery's outcome: `<destination>: HTTP 201`, or `<destination>: <what failed>[ (retries exhausted)]`.
  [/^([a-z0-9-]+): HTTP (2\d\d)$/, { nl: '{1} nam het aan (HTTP {2})', en: '{1} accepted it (HTTP {2})' }],
  [
    /^([a-z0-9-]+): (.+) \(retries exhausted\)$/,
    { nl: '{1}: {2} (alle pogingen gedaan)', en: '{1}: {2} (retries exhausted)' },
  ],
];

/** The policy's reason codes at the start of a reason (`consent-missing-guardian, consent-missing-child: …`). */
const LEADING_CODES = /^([a-z]+(?:-[a-z]+)+(?:, [a-z]+(?:-[a-z]+)+)*)(?::|$)/;

/** The reason codes a state reason starts with, when it starts with known ones. */
function reasonCodesOf(reason: string): string[] | undefined {
  const codes = LEADING_CODES.exec(reason)?.[1]?.split(', ');
  return codes?.every((c) => c in REASONS) ? codes : undefined;
}

/**
 * A state reason in words. A decision's reason (`consent-missing-guardian, consent-missing-child: no consent from
 * …`, policy/reason-words.ts) is each of its codes in words: the English detail after them is left out (the event
 * page's "why denied" names the people, in words). Other reasons the pipeline records are said in words where known
 * (OTHER_REASONS), else shown as recorded: never capitalised as if they were a sentence (`gm0226: …`).
 */
export function reasonsInWords(lang: Lang, reason: string | null | undefined): string {
  if (!reason) {
    return '';
  }
  // A redelivery's dead letter: the failure, then that the receiver had accepted it before (its time in words).
  const resent = reason.lastIndexOf(SENT_AGAIN_AFTER);
  if (resent >= 0) {
    const at = reason.slice(resent + SENT_AGAIN_AFTER.length);
    return `${reasonsInWords(lang, reason.slice(0, resent))}; ${t(lang, 'sentAgainAfter', formatTime(lang, at))}`;
  }
  // A redelivery decided again and denied: who asked, then the decision's reason.
  const askedBy = NOT_REDELIVERED.exec(reason);
  if (askedBy) {
    return `${t(lang, 'notRedelivered', askedBy[1] ?? '')}: ${reasonsInWords(lang, askedBy[2])}`;
  }
  const prefix = REASON_PREFIXES.find(([p]) => reason.startsWith(p));
  const rest = prefix ? reason.slice(prefix[0].length) : reason;
  const codes = reasonCodesOf(rest);
  let words: string;
  if (codes) {
    const joined = codes.map((c) => REASONS[c]?.[lang] ?? c).join('; ');
    words = joined.charAt(0).toUpperCase() + joined.slice(1);
  } else {
    const known = OTHER_REASONS.map(([pattern, text]) => [pattern.exec(rest), text] as const).find(([m]) => m);
    words = known?.[0] ? fill(known[1][lang], [...known[0]]) : rest;
  }
  return prefix ? `${words} (${prefix[1][lang]})` : words;
}

/** `notRedeliveredAskedBy`'s start of a reason: who asked (group 1), and the decision's reason after it (group 2). */
const NOT_REDELIVERED = new RegExp(`^${templateSource(notRedeliveredAskedBy)}(.+)$`);

/** How the audit's verification names a signed checkpoint in a problem (`NAMED_CHECKPOINT`), in words. */
const NAMED_CHECKPOINT_WORDS: Record<Lang, string> = {
  nl: 'het controlepunt ondertekend op {1} met sleutel {2} (rij {3}, hash {4})',
  en: 'the checkpoint signed at {1} with key {2} (seq {3}, hash {4})',
};

/**
 * The problems the audit's verification names for a broken chain, by their code (src/audit/chain-problems.ts), in
 * words; `{1}`… what the problem names. The API, the log and `npm run audit-verify` keep them as recorded (in
 * English); a problem of no known code is shown as recorded.
 */
const CHAIN_PROBLEM_WORDS: Record<ChainProblemCode, Record<Lang, string>> = {
  gap: { nl: 'gat: rij {1} verwacht', en: 'gap: expected seq {1}' },
  'prev-hash': { nl: 'prev_hash klopt niet met de vorige rij', en: 'prev_hash does not match the previous row' },
  'content-hash': { nl: 'de inhoud klopt niet met haar hash', en: 'content does not match its hash' },
  'not-audit-event': { nl: 'de inhoud is geen AuditEvent', en: 'resource is not an AuditEvent' },
  column: { nl: 'kolom {1} klopt niet met de inhoud', en: 'column {1} does not match the resource' },
  'columns-line-drift': {
    nl: 'de zoekkolommen hashen niet zoals PostgreSQL ze schrijft',
    en: 'the search columns do not hash as PostgreSQL writes them',
  },
  'rows-missing': {
    nl: 'rijen {1} tot en met {2} ontbreken (de kop van de keten staat op rij {3})',
    en: 'rows {1} to {2} are missing (the chain head is at {3})',
  },
  'head-mismatch': {
    nl: 'de laatste rij klopt niet met de vastgelegde kop van de keten',
    en: 'the last row does not match the recorded chain head',
  },
  'purge-unrecorded': {
    nl: 'het bewaartermijn-controlepunt bij rij {1} heeft geen AuditEvent van de opschoning erna in de keten',
    en: 'the retention checkpoint at seq {1} has no purge AuditEvent in the chain after it',
  },
  'purge-unsigned': {
    nl:
      'het bewaartermijn-controlepunt bij rij {1} is niet ondertekend met een bekende sleutel (opgeschoond op {2}): ' +
      'geen opschoning na de bewaartermijn',
    en: 'the retention checkpoint at seq {1} is not signed by a known key (purged at {2}): not a retention purge',
  },
  'chain-ends-early': { nl: 'de keten houdt op bij rij {1}, vóór {2}', en: 'the chain ends at seq {1}, before {2}' },
  'purge-too-early': {
    nl:
      'het bewaartermijn-controlepunt bij rij {1} verwijderde rijen die na {2} zijn geschreven, minder dan {3} ' +
      'dagen geleden: geen opschoning na de bewaartermijn',
    en:
      'the retention checkpoint at seq {1} deleted rows written after {2}, less than {3} days ago: not a ' +
      'retention purge',
  },
  'purge-contradicts': {
    nl: 'het bewaartermijn-controlepunt bij rij {1} is in strijd met {2}',
    en: 'the retention checkpoint at seq {1} contradicts {2}',
  },
  'signed-row-missing': { nl: 'rij {1} ontbreekt, in strijd met {2}', en: 'row {1} is missing, contradicting {2}' },
  'head-not-extending': {
    nl: 'de nieuwste rij ({1}) sluit niet aan op {2}: de keten is herschreven of ingekort',
    en: 'its head (seq {1}) does not extend {2}: the chain was rewritten or cut',
  },
  rewritten: {
    nl: 'de keten is herschreven: rij {1} heeft hash {2}, in strijd met {3}',
    en: 'the chain was rewritten: row {1} has hash {2}, contradicting {3}',
  },
  'acknowledged-head-changed': {
    nl: 'rij {1} heeft niet meer de hash die zij had toen de breuk op {2} werd erkend: de rijen ervoor zijn opnieuw gewijzigd',
    en: 'row {1} no longer has the hash it had when the break was acknowledged at {2}: the rows up to it were changed again',
  },
  'acknowledged-rows-changed': {
    nl: 'de rijen tot de kop die op {1} werd erkend tonen niet meer de erkende breuken: ze zijn opnieuw gewijzigd',
    en: 'the rows up to the head acknowledged at {1} no longer show the breaks acknowledged: they were changed again',
  },
  'acknowledged-row-changed': {
    nl: 'rij {1} is niet meer zoals bij de erkenning van de breuk op {2}: de rij, of de rijen ervoor, zijn opnieuw gewijzigd',
    en: 'row {1} is no longer as it was found when its break was acknowledged at {2}: it, or the rows before it, were changed again',
  },
  'too-many-breaks': {
    nl: 'de hashketen toont meer dan {1} beschadigde rijen tot rij {2}: de rijen na de laatst gezochte zijn niet gecontroleerd',
    en: 'the hash chain shows more than {1} broken rows up to row {2}: the rows after the last one searched were not checked',
  },
};

/** A municipality's trajectory event type (contracts/delivery-event-type.ts) in words. */
const TRAJECTORY_EVENTS: Record<string, Record<Lang, string>> = {
  intake: { nl: 'intakegesprek', en: 'intake' },
  contact: { nl: 'contact', en: 'contact' },
  referral: { nl: 'doorverwijzing', en: 'referral' },
  closure: { nl: 'afsluiting', en: 'closure' },
};

/**
 * What a receipt in a child's overview received, as its audit entity describes it (audit-events.ts
 * `feedbackReceived`: `referral status <status>`; `trajectoryEventReceived`: the event type), in words.
 */
export function receiptInWords(lang: Lang, description: string | undefined): string {
  if (description === undefined) {
    return '';
  }
  const status = /^referral status (\S+)$/.exec(description)?.[1];
  if (status !== undefined) {
    const key = `referralStatus_${status}`;
    return t(lang, 'receiptReferralStatus', key in MESSAGES ? t(lang, key as MessageKey) : status);
  }
  const trajectory = TRAJECTORY_EVENTS[description];
  return trajectory ? t(lang, 'receiptTrajectory', trajectory[lang]) : description;
}

/** A broken chain's problem, as the audit's verification names it, in words (the signed checkpoint it names too). */
export function chainProblemInWords(lang: Lang, problem: string): string {
  // In Dutch, the checkpoint's time as every other time on the page (Dutch time), not the UTC the problem records;
  // the English pages say the problem as recorded.
  const named = replaceNamedCheckpoints(problem, (signedAt, ...m) =>
    fill(NAMED_CHECKPOINT_WORDS[lang], ['', lang === 'nl' ? formatTime(lang, signedAt) : signedAt, ...m]),
  );
  const known = chainProblemOf(named);
  return known ? fill(CHAIN_PROBLEM_WORDS[known.code][lang], ['', ...known.args]) : named;
}

/** Consent.status in words (the FHIR codes). */
const CONSENT_STATUSES: Record<string, Record<Lang, string>> = {
  draft: { nl: 'concept', en: 'draft' },
  proposed: { nl: 'voorgesteld', en: 'proposed' },
  active: { nl: 'geldig', en: 'active' },
  rejected: { nl: 'afgewezen', en: 'rejected' },
  inactive: { nl: 'niet meer geldig', en: 'inactive' },
  'entered-in-error': { nl: 'ten onrechte vastgelegd', en: 'entered in error' },
};

/** What an access recorded in the audit log did (its RESTful subtype), in words. */
const ACCESS_ACTIONS: Record<string, Record<Lang, string>> = {
  create: { nl: 'vastgelegd', en: 'recorded' },
  read: { nl: 'ingezien', en: 'read' },
  'search-type': { nl: 'gezocht', en: 'searched' },
};

/** How a parent or guardian relates to the child (the guardian-relationship codes), in words. */
const RELATIONSHIPS: Record<string, Record<Lang, string>> = {
  mother: { nl: 'Moeder', en: 'Mother' },
  father: { nl: 'Vader', en: 'Father' },
  guardian: { nl: 'Voogd', en: 'Guardian' },
  'foster-parent': { nl: 'Pleegouder', en: 'Foster parent' },
  other: { nl: 'Anders', en: 'Other' },
};

/** A purpose of sharing (contracts/sharing.ts PURPOSES) in words. */
const PURPOSE_WORDS: Record<string, Record<Lang, string>> = {
  referral: { nl: 'verwijzing', en: 'referral' },
  'contact-registration': { nl: 'contactregistratie', en: 'contact registration' },
  monitoring: { nl: 'monitoring', en: 'monitoring' },
};

/** An agreement's status (policy/agreement.ts) in words. */
const AGREEMENT_STATUSES: Record<string, Record<Lang, string>> = {
  draft: { nl: 'concept', en: 'draft' },
  active: { nl: 'actief', en: 'active' },
  suspended: { nl: 'opgeschort', en: 'suspended' },
  terminated: { nl: 'beëindigd', en: 'terminated' },
};

/** An agreement's legal basis (policy/agreement.ts LEGAL_BASES) in words. */
const LEGAL_BASIS_WORDS: Record<string, Record<Lang, string>> = {
  consent: { nl: 'toestemming', en: 'consent' },
  'legal-obligation': { nl: 'wettelijke verplichting', en: 'legal obligation' },
  'public-task': { nl: 'publieke taak', en: 'public task' },
  'vital-interest': { nl: 'vitaal belang', en: 'vital interest' },
  contract: { nl: 'overeenkomst', en: 'contract' },
};

/** The data classes of a disclosure (contracts/sharing.ts DATA_CLASSES) in words, not their FHIR type names. */
const DATA_CLASS_WORDS: Record<string, Record<Lang, string>> = {
  Patient: { nl: 'gegevens van het kind', en: "the child's details" },
  RelatedPerson: { nl: 'ouders of verzorgers', en: 'parents or carers' },
  Encounter: { nl: 'contacten', en: 'contacts' },
  EpisodeOfCare: { nl: 'trajecten', en: 'trajectories' },
  ServiceRequest: { nl: 'verwijzingen', en: 'referrals' },
  Consent: { nl: 'toestemmingen en bezwaren', en: 'consents and objections' },
  Task: { nl: 'statussen van verwijzingen', en: 'referral statuses' },
};

/** A code in words from one of the tables above; one none knows is said as the sender did, or as it is. */
function codeInWords(
  table: Record<string, Record<Lang, string>>,
  lang: Lang,
  code: string | undefined,
  display?: string,
): string {
  return code === undefined ? (display ?? '') : (table[code]?.[lang] ?? display ?? code);
}

/** Purposes of sharing in words, comma-separated (an unknown one as it is). */
export const purposesInWords = (lang: Lang, purposes: readonly (string | undefined)[]): string =>
  purposes.map((p) => codeInWords(PURPOSE_WORDS, lang, p)).join(', ');
export const agreementStatusInWords = (lang: Lang, status: string): string =>
  codeInWords(AGREEMENT_STATUSES, lang, status);
export const legalBasisInWords = (lang: Lang, basis: string): string => codeInWords(LEGAL_BASIS_WORDS, lang, basis);
export const consentStatusInWords = (lang: Lang, status: string | undefined): string =>
  codeInWords(CONSENT_STATUSES, lang, status);
export const accessInWords = (lang: Lang, action: string | undefined): string =>
  codeInWords(ACCESS_ACTIONS, lang, action);
/** Data classes in words, comma-separated (an unknown one as it is). */
export const dataClassesInWords = (lang: Lang, classes: readonly string[]): string =>
  classes.map((c) => codeInWords(DATA_CLASS_WORDS, lang, c)).join(', ');
/** A relationship code in words; one of another code system by its display, as the HIS sent it. */
export const relationshipInWords = (lang: Lang, code: string | undefined, display?: string): string =>
  codeInWords(RELATIONSHIPS, lang, code, display);

/** A permit by consent as recorded (policy/reason-words.ts), with its agreement and people; undefined otherwise. */
const PERMITTED_BY_CONSENT =
  /^(?:decided again: )?permitted-by-consent: permitted under (?:Agreement (\S+ v\d+)|the agreement) with the consent of (.+)$/;

/**
 * A recorded permit in words, naming the agreement and, for a permit by consent, whose consent it rested on, by the
 * practice's own ids as the recorded decision has them ("het kind p1 en ouder/verzorger g1 (moeder, met gezag)");
 * another reason as `reasonsInWords` says it.
 */
export function permitInWords(lang: Lang, reason: string | null | undefined): string {
  const m = reason ? PERMITTED_BY_CONSENT.exec(reason) : null;
  if (!m) {
    return reasonsInWords(lang, reason);
  }
  const people =
    lang === 'en'
      ? (m[2] ?? '')
      : (m[2] ?? '')
          .replace(/\bthe child\b/g, t(lang, 'theChild'))
          .replace(/\bguardian\b/g, t(lang, 'guardian'))
          .replace(
            /\(([^)]*)\)/g,
            (_all, traits: string) =>
              `(${traits
                .split(', ')
                .map((x) =>
                  x === 'has authority'
                    ? 'met gezag'
                    : x === 'no authority'
                      ? 'zonder gezag'
                      : relationshipInWords(lang, x).toLowerCase(),
                )
                .join(', ')})`,
          )
          .replace(/ and /g, ' en ');
  return t(lang, 'permittedUnder', m[1] ?? '', people);
}

/** A moment in Dutch time, in the console's language. */
export function formatTime(lang: Lang, at: Date | string | null | undefined): string {
  if (at === null || at === undefined) {
    return '';
  }
  const d = typeof at === 'string' ? new Date(at) : at;
  if (Number.isNaN(d.getTime())) {
    return String(at);
  }
  return new Intl.DateTimeFormat(lang === 'nl' ? 'nl-NL' : 'en-GB', {
    dateStyle: 'medium',
    timeStyle: 'medium',
    timeZone: 'Europe/Amsterdam',
  }).format(d);
}

/** A number in the console's language (12.345,5 in Dutch, 12,345.5 in English); `decimals` fixes how many. */
export function formatNumber(lang: Lang, value: number, decimals?: number): string {
  const digits =
    decimals === undefined
      ? { maximumFractionDigits: 2 }
      : { minimumFractionDigits: decimals, maximumFractionDigits: decimals };
  return new Intl.NumberFormat(lang === 'nl' ? 'nl-NL' : 'en-GB', digits).format(value);
}

/** A calendar day (YYYY-MM-DD) in the console's language, as the day it is wherever it is read. */
export function formatDay(lang: Lang, day: string): string {
  const d = new Date(`${day}T00:00:00Z`);
  if (Number.isNaN(d.getTime())) {
    return day;
  }
  return new Intl.DateTimeFormat(lang === 'nl' ? 'nl-NL' : 'en-GB', { dateStyle: 'medium', timeZone: 'UTC' }).format(d);
}
