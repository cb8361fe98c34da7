import type { Bundle, Identifier, Parameters, Resource } from '@medplum/fhirtypes';

/**
 * What a FHIR server would hold after the transaction Bundles it accepted, for the conditional interactions the
 * fhir-rest mapping sends, matched on `identifier=<system>|<value>` as a server's search would:
 *
 * - `POST Type` with `ifNoneExist`: created when nothing matches, else nothing happens (the copy held is kept);
 * - `PUT Type?identifier=…`: replaces the match, or creates it when there is none;
 * - `PATCH Type?identifier=…` with a FHIRPath Patch: `replace` of a top-level element (`Type.status`) on the match.
 *
 * Processed in the order FHIR gives a transaction (POST before PUT and PATCH). Enough to tell whether a correction
 * reaches the receiver; not a FHIR server (no references resolved, no versions).
 */
export class FhirTransactionStore {
  private readonly resources: Resource[] = [];

  apply(bundle: Bundle): void {
    const entries = bundle.entry ?? [];
    const order = (method: string | undefined) => (method === 'POST' ? 0 : 1);
    for (const entry of [...entries].sort((a, b) => order(a.request?.method) - order(b.request?.method))) {
      const request = entry.request;
      const resource = entry.resource;
      if (!request || !resource) {
        continue;
      }
      if (request.method === 'POST') {
        if (!request.ifNoneExist || !this.find(request.url, request.ifNoneExist)) {
          this.resources.push(resource);
        }
      } else if (request.method === 'PUT') {
        const [type, query] = request.url.split('?');
        this.replace(type ?? '', query ?? '', resource);
      } else if (request.method === 'PATCH') {
        const [type, query] = request.url.split('?');
        const found = this.find(type ?? '', query ?? '');
        if (found) {
          this.replace(type ?? '', query ?? '', patched(found, resource as Parameters));
        }
      }
    }
  }

  /** The resources of a type the receiver holds, in the order it first stored them. */
  held<T extends Resource>(type: T['resourceType']): T[] {
    return this.resources.filter((r): r is T => r.resourceType === type);
  }

  private find(type: string, query: string): Resource | undefined {
    const token = /^identifier=(.*)$/.exec(query)?.[1];
    return this.resources.find((r) => r.resourceType === type && token !== undefined && hasIdentifier(r, token));
  }

  private replace(type: string, query: string, resource: Resource): void {
    const found = this.find(type, query);
    if (found) {
      this.resources[this.resources.indexOf(found)] = resource;
    } else {
      this.resources.push(resource);
    }
  }
}

function hasIdentifier(resource: Resource, token: string): boolean {
  const identifiers = (resource as { identifier?: Identifier[] }).identifier ?? [];
  return identifiers.some((i) => `${i.system ?? ''}|${i.value ?? ''}` === token);
}

/** A copy of `resource` with each FHIRPath Patch `replace` of `Type.element` applied. */
function patched(resource: Resource, patch: Parameters): Resource {
  const copy: Record<string, unknown> = { ...resource };
  for (const operation of patch.parameter ?? []) {
    const part = (name: string) => operation.part?.find((p) => p.name === name);
    const element = part('path')?.valueString?.split('.')[1];
    if (part('type')?.valueCode === 'replace' && element) {
      const value = part('value');
      copy[element] = value?.valueCode ?? value?.valueString ?? value?.valueBoolean;
    }
  }
  return copy as unknown as Resource;
}
