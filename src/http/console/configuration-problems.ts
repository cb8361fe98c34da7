import type { Registry } from '../../event/registry';
import type { MessageKey } from './i18n';

/** A problem in the loaded agreements and destinations, as a message key and its arguments. */
export interface ConfigurationProblem {
  readonly key: MessageKey;
  readonly args: readonly string[];
}

/**
 * What an operator should fix in the configuration: an active agreement whose municipality has no destination
 * (its events can only fail), a destination no agreement sends to, and active agreements past their end date.
 */
export function configurationProblems(registry: Registry, now: Date): ConfigurationProblem[] {
  const problems: ConfigurationProblem[] = [];
  const today = now.toISOString().slice(0, 10);
  for (const a of registry.agreements) {
    if (a.status !== 'active') {
      continue;
    }
    if (!registry.destinations.some((d) => d.municipality === a.municipality.code)) {
      problems.push({ key: 'problemNoDestination', args: [a.id, a.municipality.code] });
    }
    if (a.validTo !== undefined && a.validTo < today) {
      problems.push({ key: 'problemExpired', args: [a.id, a.validTo] });
    }
  }
  for (const d of registry.destinations) {
    if (!registry.agreements.some((a) => a.municipality.code === d.municipality)) {
      problems.push({ key: 'problemNoAgreement', args: [d.id, d.municipality] });
    }
  }
  return problems;
}
