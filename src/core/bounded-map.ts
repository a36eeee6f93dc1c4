/**
 * Sets `key` to `value` as the newest entry of `map`; once the map holds `max` entries the oldest goes first. A key
 * set again moves to the newest place and never evicts another in its stead.
 */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key)
  if (map.size >= max) map.delete(map.keys().next().value as K)
  map.set(key, value)
}
