// The one list of scenarios that are known not to hold yet, each with its reason. A scenario listed
// here that fails is recorded (results.json, docs/clients.md) but does not fail the suite; one that
// passes fails the suite until it is removed from the list, so the list only ever shrinks.
export interface KnownFailure {
  /** The client's name as in the results ('*' for every client); 'SQLAlchemy mixin' for the mixin's checks. */
  client: string;
  /** A scenario of test/clients/harness.ts, or a check of test/clients/seed003_projects.py. */
  scenario: string;
  reason: string;
}

export const KNOWN_FAILING: KnownFailure[] = [];

export function knownFailure(client: string, scenario: string): KnownFailure | undefined {
  return KNOWN_FAILING.find((k) => (k.client === client || k.client === '*') && k.scenario === scenario);
}
