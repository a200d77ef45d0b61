/** Deep equality of JSON-like values that ignores keys whose value is undefined, and key order. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => sameJson(item, b[i]));
  }
  const left = Object.entries(a as Record<string, unknown>).filter(([, v]) => v !== undefined);
  const right = new Map(Object.entries(b as Record<string, unknown>).filter(([, v]) => v !== undefined));
  if (left.length !== right.size) return false;
  return left.every(([k, v]) => right.has(k) && sameJson(v, right.get(k)));
}
