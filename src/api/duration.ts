/**
 * Durations in manifests are written like Go durations restricted to hours, minutes and seconds
 * ("30m", "8h", "1h30m"): the same grammar the CRDs enforce with CEL, so both sides agree.
 */
// At most 6 digits per unit, as in the CRDs: a longer number can overflow CEL's duration() (Go's
// 290 years), which the API server reports as a raw "type conversion error" instead of the rule's message.
const DURATION_PATTERN = /^(?:(\d{1,6})h)?(?:(\d{1,6})m)?(?:(\d{1,6})s)?$/;

/** Returns the duration in milliseconds, or undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  if (text === "") return undefined;
  const match = DURATION_PATTERN.exec(text);
  if (!match) return undefined;
  const [, hours = "0", minutes = "0", seconds = "0"] = match;
  return ((Number(hours) * 60 + Number(minutes)) * 60 + Number(seconds)) * 1000;
}

/**
 * Milliseconds of a duration a schema has already accepted. Anything else is a programming error,
 * reported loudly rather than read as 0.
 */
export function validDurationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined) throw new Error(`not a duration: ${JSON.stringify(text)}`);
  return ms;
}

/** Formats milliseconds the way a tenant writes durations ("1h30m", "45s"). */
export function formatDuration(ms: number): string {
  let seconds = Math.max(0, Math.round(ms / 1000));
  const hours = Math.floor(seconds / 3600);
  seconds -= hours * 3600;
  const minutes = Math.floor(seconds / 60);
  seconds -= minutes * 60;
  const parts = [hours ? `${hours}h` : "", minutes ? `${minutes}m` : "", seconds ? `${seconds}s` : ""].join(
    "",
  );
  return parts === "" ? "0s" : parts;
}

export const HOUR_MS = 3_600_000;
