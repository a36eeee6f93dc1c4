import { P2PError } from '../errors.js'

/** Failures that say a peer is there but could not answer now, not that the file is unknown to it. */
const FOR_NOW: ReadonlySet<string> = new Set(['E_BUSY', 'E_TIMEOUT', 'E_CONNECT', 'E_CLOSED'])

/** Whether `err` says its peer could not answer now (busy, unreachable), not that it lacks the file. */
export function failedForNow(err: P2PError): boolean {
  return FOR_NOW.has(err.code)
}

/**
 * What a manifest race that ended without a manifest reports (manifest-fetch.ts). The manifest came and was
 * refused (a folder's bad paths, say): `E_BAD_MANIFEST`. Some peer that has it could not answer now (a seeder
 * at its connection limit answers `E_BUSY`; a timeout; no connection), whatever the others said: `E_NO_PEER`,
 * exit 4, run again later, naming that failure. Else (none asked, or every one said it lacks it): `E_NOT_FOUND`.
 */
export function raceLost(id: string, last: P2PError | undefined, forNow: P2PError | undefined): P2PError {
  const lost = `no peer delivered the manifest of ${id.slice(0, 12)}… in time`
  const why = (err: P2PError | undefined) => (err ? ` (last error: ${err.message} [${err.code}])` : '')
  if (last?.code === 'E_BAD_MANIFEST')
    return new P2PError('E_BAD_MANIFEST', `${lost}${why(last)}: is a seeder running?`)
  if (forNow)
    return new P2PError(
      'E_NO_PEER',
      `${lost}${why(forNow)}: the peers that have it are busy or unreachable; run again later`,
    )
  return new P2PError('E_NOT_FOUND', `${lost}${why(last)}: is a seeder running?`)
}
