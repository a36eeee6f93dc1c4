import { hasCode, P2PError } from '../errors.js'
import { refusedBy } from './allow-refusal.js'
import type { Header } from './frame-header.js'
import { errorFromResponse, parseResponse, type Response } from './messages.js'

/**
 * What a client asked for, and the check of a response header against it
 * before a byte of the body is allocated or read (client.ts): it must answer
 * the request it is due for (responses come in request order) and declare
 * the size that request allows. Pure: the client passes the request due and
 * its own label for messages.
 */

export interface AskedFor {
  type: 'manifest' | 'chunk'
  id: string
  index: number
  /** The exact body size expected (a chunk's length), if known. */
  size: number | undefined
  /** The largest body accepted. */
  maxSize: number
}

/** The request failed only because its connection closed over another one's failure (client.ts `fail`). */
export function isCollateral(err: unknown): boolean {
  return hasCode(err) && err.details?.collateral === true
}

/** The response to this request broke the protocol (the peer's fault, not the network's): worth a strike. */
export function isViolation(err: unknown): boolean {
  return hasCode(err) && err.details?.violation === true
}

const violation = (code: 'E_BAD_FRAME' | 'E_TOO_LARGE', message: string): P2PError =>
  new P2PError(code, message, { violation: true })

/**
 * What the decoder refused (a bad frame, a length over a limit: errors with
 * no details) is the peer's doing; a peer's own error frame, or anything
 * else, is not.
 */
export function asViolation(err: unknown): P2PError {
  if (!hasCode(err)) return new P2PError('E_INTERNAL', String(err))
  return (err.code === 'E_BAD_FRAME' || err.code === 'E_TOO_LARGE') && err.details === undefined
    ? violation(err.code, err.message)
    : err
}

/**
 * The response `header` (with a body of `size` bytes, or none) parsed, if it
 * answers `request` (undefined: nothing is due) as it must; else throws: a
 * violation, or the server's own error when it refused before anything was
 * asked, or, from an encrypted peer (`peerId`: the key its session reached),
 * its refusal of our key, asked or not (allow-refusal.ts).
 */
export function checkResponse(
  peer: string,
  request: AskedFor | undefined,
  header: Header,
  size: number | undefined,
  peerId?: string,
): Response {
  const response = parseResponse(header)
  if (peerId !== undefined && response.type === 'error' && response.code === 'E_AUTH' && size === undefined)
    throw refusedBy(peer, peerId, response.message)
  if (!request) {
    // A server at its connection limit says E_BUSY on accept, before it has heard anything: that closes the connection, no lie.
    if (response.type === 'error' && size === undefined) throw errorFromResponse(response)
    throw violation('E_BAD_FRAME', `${peer} sent a response nobody asked for`)
  }
  const what = request.type === 'chunk' ? `chunk ${request.index}` : 'the manifest'
  if (response.type === 'error') {
    if (size !== undefined) throw violation('E_BAD_FRAME', `${peer} sent an error with a ${size}-byte body for ${what}`)
    return response
  }
  const matches =
    response.type === request.type &&
    response.id === request.id &&
    (response.type === 'manifest' || response.index === request.index)
  if (!matches)
    throw violation(
      'E_BAD_FRAME',
      `${peer} answered ${response.type} ${response.type === 'chunk' ? response.index : response.id.slice(0, 8)} for ${what}: out of order`,
    )
  if (request.size !== undefined && response.size !== request.size)
    throw violation('E_BAD_FRAME', `${peer} declared ${response.size} bytes for ${what}, which has ${request.size}`)
  if (response.size > request.maxSize)
    throw violation(
      'E_TOO_LARGE',
      `${peer} declared ${response.size} bytes for ${what}, over the limit of ${request.maxSize}`,
    )
  return response
}
