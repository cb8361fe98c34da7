import { z } from 'zod';
import { agb, bsn, municipalityCode, pastDate, sourceId, tableEnum } from '../../src/kernel/fhir/fields';
import { COD327_SYSTEM, JZ020_SYSTEM, NHG_TABLE_14_SYSTEM } from '../../src/kernel/fhir/systems';
import {
  HELP_QUESTION_CATEGORY_SYSTEM,
  INTERVENTION_SYSTEM,
  PROFESSIONAL_ROLE_SYSTEM,
  REFERRAL_TARGET_SYSTEM,
  TRAJECTORY_OUTCOME_SYSTEM,
} from '../../src/kernel/fhir/terminology';

/**
 * A trajectory event a municipality registered in its own system (`POST /municipality/v1/trajectories/events`), for
 * a professional whose system of record is the municipality's. Codes only: every object is strict, so a free-text
 * field (a note, a summary, a reason) is refused by name rather than passed on; the contact's summary is its
 * intervention codes.
 */

const TRAJECTORY_EVENT_KINDS = ['intake', 'contact', 'referral', 'closure'] as const;
export type TrajectoryEventKind = (typeof TRAJECTORY_EVENT_KINDS)[number];

export const trajectoryEventSchema = z
  .object({
    /** The municipality's own id of this event: a repeat with the same id is the same event. */
    eventId: sourceId,
    type: z.enum(TRAJECTORY_EVENT_KINDS, { error: `one of ${TRAJECTORY_EVENT_KINDS.join(', ')}` }),
    /** The municipality that registered it (CBS code, GM0226): the caller must act for it. */
    municipality: municipalityCode,
    /** The child's GP practice, whose HIS receives it. */
    practice: z.object({ agb }).strict(),
    child: z.object({ bsn, birthDate: pastDate }).strict(),
    /**
     * The municipality's trajectory (EpisodeOfCare), the day it started and, optionally, who referred the child to
     * the professional (COD327: 01 Gemeente … 06 Zelfverwijzer), which the monitoring report's inflow counts by.
     */
    trajectory: z
      .object({
        id: sourceId,
        startDate: pastDate,
        referrerType: tableEnum(COD327_SYSTEM, 'COD327 referrer type').optional(),
      })
      .strict(),
    /** The day the event took place. */
    date: pastDate,
    professional: z
      .object({ role: tableEnum(PROFESSIONAL_ROLE_SYSTEM, 'professional role') })
      .strict()
      .optional(),
    /** The nature of the help question (help-question-category), on any event; the EpisodeOfCare's type. */
    helpQuestion: tableEnum(HELP_QUESTION_CATEGORY_SYSTEM, 'help-question category').optional(),
    /** Contact: how it took place (NHG Tabel 14), how long, and what was done (intervention codes). */
    contact: z
      .object({
        mode: tableEnum(NHG_TABLE_14_SYSTEM, 'NHG Tabel 14 contact mode'),
        durationMinutes: z.number().int().min(1).max(600),
        interventions: z.array(tableEnum(INTERVENTION_SYSTEM, 'intervention')).max(10).default([]),
      })
      .strict()
      .optional(),
    /**
     * Referral: the municipality's id of it, where to (referral-target) and, optionally, the JZ020 product category
     * (which kind of youth care), which the monitoring report's referrals are broken down by.
     */
    referral: z
      .object({
        id: sourceId,
        target: tableEnum(REFERRAL_TARGET_SYSTEM, 'referral target'),
        productCategory: tableEnum(JZ020_SYSTEM, 'JZ020 product category').optional(),
      })
      .strict()
      .optional(),
    /** Closure: how the trajectory ended (trajectory-outcome). */
    outcome: tableEnum(TRAJECTORY_OUTCOME_SYSTEM, 'trajectory outcome').optional(),
  })
  .strict()
  .superRefine((e, ctx) => {
    const needs: Record<TrajectoryEventKind, 'contact' | 'referral' | 'outcome' | undefined> = {
      intake: undefined,
      contact: 'contact',
      referral: 'referral',
      closure: 'outcome',
    };
    for (const field of ['contact', 'referral', 'outcome'] as const) {
      const needed = needs[e.type] === field;
      if (needed && e[field] === undefined) {
        ctx.addIssue({ code: 'custom', path: [field], message: `a ${e.type} event needs ${field}` });
      } else if (!needed && e[field] !== undefined) {
        ctx.addIssue({ code: 'custom', path: [field], message: `only a ${typeOf(field)} event has ${field}` });
      }
    }
    if (e.date < e.trajectory.startDate) {
      ctx.addIssue({ code: 'custom', path: ['date'], message: 'before the start of the trajectory' });
    }
  });

function typeOf(field: 'contact' | 'referral' | 'outcome'): TrajectoryEventKind {
  return field === 'outcome' ? 'closure' : field;
}

export type TrajectoryEvent = z.infer<typeof trajectoryEventSchema>;
