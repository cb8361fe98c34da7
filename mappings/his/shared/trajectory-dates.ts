import { amsterdamDayOf } from '../../../src/kernel/dutch-time';
import type { IssueCollector } from './issues';

type Path = readonly PropertyKey[];

/**
 * The order of a trajectory's dates, the same in every dialect: the child is born, then the trajectory starts, then
 * its contacts take place (compared by the contact's Europe/Amsterdam day, as the figures count it, whatever offset
 * it is written in). `at` are the paths of the start and the
 * contact in the dialect's record, `names` the dialect's names of the fields they are compared with.
 */
export function checkTrajectoryDates(
  issues: IssueCollector,
  dates: { birthDate: string; startDate: string; contactStart?: string | undefined },
  at: { startDate: Path; contactStart: Path },
  names: { birthDate: string; startDate: string },
): void {
  if (dates.startDate < dates.birthDate) {
    issues.add(at.startDate, `lies before ${names.birthDate}`);
  }
  if (dates.contactStart !== undefined && amsterdamDayOf(dates.contactStart) < dates.startDate) {
    issues.add(at.contactStart, `lies before ${names.startDate}`);
  }
}
