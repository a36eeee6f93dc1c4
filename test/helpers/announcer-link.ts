import type { AnnouncerLink } from '../../src/core/discovery/query-answerer.js'

/** An announcer as its answerer sees it: open, its last scan `announced`, no broadcast addresses, sends dropped. */
export const linkTo = (
  announced: AnnouncerLink['announced'],
  overrides: Partial<AnnouncerLink> = {},
): AnnouncerLink => ({
  announced,
  bursting: () => undefined,
  open: () => true,
  maxBytes: () => 1200,
  seal: (payload) => payload,
  burstTargets: () => [],
  knowsHostAddresses: () => true,
  send: async () => true,
  ...overrides,
})
