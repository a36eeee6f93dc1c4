/**
 * Shape tests for values JSON.parse made, for the checks done without the
 * schema library on hot paths (announcement-plain.ts, transfer/messages.ts).
 */

/** A plain object (JSON.parse makes no others), not an array. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function isIntegerIn(value: unknown, min: number, max: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
}
