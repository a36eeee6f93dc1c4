import { notBuilt } from './common.js'

// Placeholder until the command is built: exits 2 with a clear message.
export const listenCommand = notBuilt('listen', 'receive announcements and keep the content dictionary')
