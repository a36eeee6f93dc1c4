import { describeMode, generateSecret, printable } from '../index.js'
import { defineCommand, pickSettings } from './common.js'
import { commandTrust, TRUST_HELP, TRUST_SETTINGS } from './trust.js'

/** `p2p id`: this peer's peer ID (its identity is created on first use), and the mode its trust settings give. */
export const idCommand = defineCommand({
  name: 'id',
  summary: "print this peer's peer ID (the public key others check; the identity file is created if absent)",
  settings: { ...pickSettings('chunksDir'), ...TRUST_SETTINGS },
  examples: [
    'p2p id',
    'p2p id --json | jq -r .peerId',
    'mkdir -p ~/.p2p && p2p id --identity ~/.p2p/identity.key   # made only in a directory that is there',
  ],
  configure: (cmd) => cmd.addHelpText('after', TRUST_HELP),
  run: async ({ settings, json, log, out }) => {
    const trust = await commandTrust(settings, log)
    const { identity } = trust
    if (json) {
      const line = {
        ok: true,
        peerId: identity.peerId,
        identity: identity.path,
        created: identity.created,
        transport: trust.transport,
        ...(trust.swarm ? { swarm: trust.swarm.tag } : {}),
        ...(trust.allow ? { allowed: trust.allow.size } : {}),
      }
      process.stdout.write(`${JSON.stringify(line)}\n`)
    }
    out(identity.peerId)
    out(`  identity ${printable(identity.path)}${identity.created ? ' (just created)' : ''}`)
    // What its trust settings make of it, as --json says (--help lists them for this): a user checking a secret
    // or an allow-list before sharing read only the peer ID.
    out(`  ${describeMode(trust)}`)
    return 0
  },
})

/** `p2p secret`: a new private swarm secret (256 random bits in a checked, pasteable form). */
export const secretCommand = defineCommand({
  name: 'secret',
  noLogFile: true,
  summary: 'print a new private swarm secret: give it to every member (--secret, P2P_SECRET or --secret-file)',
  settings: {},
  examples: [
    'p2p secret',
    'p2p secret > swarm.secret && chmod 600 swarm.secret && p2p share --secret-file swarm.secret film.mkv',
  ],
  run: async ({ json, out }) => {
    const secret = generateSecret()
    if (json) process.stdout.write(`${JSON.stringify({ ok: true, secret })}\n`)
    out(secret)
    return 0
  },
})
