import { notBuilt } from './common.js'

// Placeholder until the command is built: exits 2 with a clear message.
export const serveCommand = notBuilt('serve', 'answer chunk requests over persistent TCP connections')
