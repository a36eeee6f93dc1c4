import { write, writeSync } from 'node:fs'

/** `data` written whole at `position` of the open file `fd`, synchronously (a short write is continued). */
export function writeFullySync(fd: number, data: Uint8Array, position: number): void {
  for (let done = 0; done < data.byteLength; )
    done += writeSync(fd, data, done, data.byteLength - done, position + done)
}

/** The same through libuv's pool (a write that waits for the disk holds no thread of ours); rejects with the fs error. */
export async function writeFully(fd: number, data: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < data.byteLength; )
    done += await new Promise<number>((resolve, reject) =>
      write(fd, data, done, data.byteLength - done, position + done, (err, n) => (err ? reject(err) : resolve(n))),
    )
}
