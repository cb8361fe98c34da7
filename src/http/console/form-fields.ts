import { html, type HtmlValue, type SafeHtml } from './html';
import { t, type Lang } from './i18n';
import { outcomeOnForm, type FieldWords } from './outcome-message';

/**
 * A form refused (WCAG 3.3.1, 3.3.3): what is wrong, in words, where each field it names is a link to that field, and
 * the ids of those fields, which `fieldState` marks invalid and ties to their words.
 */
export interface FormRefusal {
  readonly words: SafeHtml;
  readonly fields: ReadonlySet<string>;
}

/** The id of the words about the field `id`: the link in the error summary, which the field is described by. */
const errorIdOf = (id: string) => `${id}-error`;

/** A link from the error summary to the field `id`, saying what is wrong with it. */
export function fieldErrorLink(id: string, words: string): SafeHtml {
  return html`<a href="#${id}" id="${errorIdOf(id)}">${words}</a>`;
}

/** A refusal of one field (`id`) in `words`, with any technical detail after them. */
export function fieldRefusal(id: string, words: string, detail: HtmlValue = ''): FormRefusal {
  return { words: html`${fieldErrorLink(id, words)}${detail}`, fields: new Set([id]) };
}

/**
 * A thrown OperationOutcomeError as the refusal of a form whose fields have the ids `ids` (by the API's issue
 * `expression`): `outcomeInWords`, each field named a link to it. Anything else is thrown on.
 */
export function outcomeRefusal(
  lang: Lang,
  err: unknown,
  ids: Readonly<Record<string, string>>,
  fields?: FieldWords,
): FormRefusal {
  const { words, named } = outcomeOnForm(lang, err, fields, ids, fieldErrorLink);
  return { words, fields: named };
}

/**
 * The error summary above a refused form: announced at once and focused when the page loads (a form sent is the page
 * reloaded, so the user starts here), its links leading to the fields. `title`: what was not done, said first, when
 * the form's action has consequences a user must not be left guessing about ("nothing was recorded").
 */
export function errorSummary(refusal: FormRefusal, title?: string): SafeHtml {
  const heading = title === undefined ? '' : html`<strong>${title}</strong> `;
  // Its text begins right after the tag, as every notice's does: no whitespace put in between.
  // prettier-ignore
  return html`<div class="notice error" role="alert" id="form-error" tabindex="-1" autofocus>${heading}${refusal.words}</div>`;
}

/**
 * A field's `id`, and its description: its help (`help`, an id) and, when the refusal names it, its words in the
 * error summary, with `aria-invalid`.
 */
export function fieldState(refusal: FormRefusal | undefined, id: string, help?: string): SafeHtml {
  const invalid = refusal?.fields.has(id) === true;
  const describedBy = [help, invalid ? errorIdOf(id) : undefined].filter((d) => d !== undefined).join(' ');
  return html` id="${id}"${describedBy ? html` aria-describedby="${describedBy}"` : ''}${
    invalid ? html` aria-invalid="true"` : ''
  }`;
}

/** Said in a required field's label, not only shown by a mark or a colour (WCAG 1.3.1, 3.3.2). */
export function requiredMark(lang: Lang): SafeHtml {
  return html` <span class="required">(${t(lang, 'requiredField')})</span>`;
}
