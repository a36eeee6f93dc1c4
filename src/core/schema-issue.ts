import type { z } from 'zod/v3'
import { printable } from './printable.js'

/** The most of a peer's text (an error message, a refusal naming its keys) that reaches a log or a terminal. */
export const UNTRUSTED_TEXT_MAX = 300

/**
 * What a schema found wrong with bytes from the network, as one printable line
 * cut at UNTRUSTED_TEXT_MAX: an issue quotes the peer's own keys (zod's
 * "Unrecognized key(s) in object: '<key>'"), and a 30 MB key in a manifest was
 * logged whole, twice per peer (283 MB of log for one download from 8 peers).
 */
export function describeIssue(error: z.ZodError, quote = false): string {
  const issue = error.issues[0]
  if (!issue) return 'invalid'
  const path = issue.path.join('.')
  const where = quote ? (path === '' ? '' : `"${path}": `) : `${path || '(root)'}: `
  return printable(`${where}${issue.message}`, UNTRUSTED_TEXT_MAX)
}
