// The one list of scenarios that are known not to hold yet, each with its reason. A scenario listed
// here that fails is recorded (results.json, docs/clients.md) but does not fail the suite; one that
// passes fails the suite until it is removed from the list, so the list only ever shrinks.
import type { Scenario } from './harness.ts';

export interface KnownFailure {
  /** The client's name as in the results ('*' for every client). */
  client: string;
  scenario: Scenario;
  reason: string;
}

export const KNOWN_FAILING: KnownFailure[] = [];

export function knownFailure(client: string, scenario: Scenario): KnownFailure | undefined {
  return KNOWN_FAILING.find((k) => (k.client === client || k.client === '*') && k.scenario === scenario);
}
