import { hasCode, P2PError } from '../errors.js'
import type { ConnectionServices } from './connection-services.js'
import { heldBackFields } from './log-gate.js'
import { errorHeader } from './messages.js'
import type { Pending } from './response-job.js'

/**
 * A frame a chunk server connection could not decode (bad JSON, a header over the limit, a bad size: framing.ts):
 * its error counted and logged, and the answer that tells the client, which goes after the responses already due
 * (server-connection.ts then closes the connection: the stream has lost its framing).
 */
export function badFrameAnswer(err: unknown, services: ConnectionServices, remote: string): Pending {
  const e = hasCode(err) ? err : new P2PError('E_BAD_FRAME', String(err))
  services.counters.error(e.code)
  // Through the log gate as an important line: every stranger who completes a handshake can send one.
  const line = services.warningGate()
  if (line.log)
    services.log.warn(
      { remote, code: e.code, err: e.message, ...heldBackFields(line) },
      'bad frame; closing the connection',
    )
  return { header: errorHeader(e.code, `${e.message}; closing the connection`), own: true }
}
