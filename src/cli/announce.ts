import { notBuilt } from './common.js'

// Placeholder until the command is built: exits 2 with a clear message.
export const announceCommand = notBuilt('announce', 'broadcast, over UDP, what the chunk store holds')
