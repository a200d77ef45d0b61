/**
 * GPU-time and money. Usage is computed from timestamps in the lease status (allocation `since`,
 * `endedAt`), so it survives operator restarts; money is integer micro-units, never floats.
 */
import type { GpuLeaseStatus, LeaseClass } from "../api/index.ts";

const MICROS = 1_000_000n;

/** "1.20" → 1_200_000 micro-units. Invalid text counts as zero (the CRD refuses it anyway). */
export function parseMoneyMicros(text: string | undefined): bigint {
  const match = /^([0-9]{1,9})(?:\.([0-9]{1,6}))?$/.exec(text ?? "");
  if (!match) return 0n;
  const [, whole = "0", fraction = ""] = match;
  return BigInt(whole) * MICROS + BigInt(fraction.padEnd(6, "0"));
}

/** Micro-units as a decimal with two places, rounded half up ("148.08"). */
export function formatMoney(micros: bigint): string {
  const cents = (micros + 5_000n) / 10_000n;
  const whole = cents / 100n;
  const rest = (cents % 100n).toString().padStart(2, "0");
  return `${whole}.${rest}`;
}

/** GPU-seconds as hours with three decimals ("123.400"). */
export function formatGpuHours(gpuSeconds: number): string {
  return (Math.round(gpuSeconds / 3.6) / 1000).toFixed(3);
}

/** What `gpuSeconds` GPU-seconds cost at `perGpuHour` micro-units per GPU-hour. */
export function chargeMicros(gpuSeconds: number, perGpuHourMicros: bigint): bigint {
  return (BigInt(Math.round(gpuSeconds)) * perGpuHourMicros + 1_800n) / 3_600n;
}

/** GPU-seconds of the open allocations from their start to `until`. */
export function openGpuSeconds(status: GpuLeaseStatus, until: number): number {
  let total = 0;
  for (const allocation of status.allocations ?? []) {
    const since = Date.parse(allocation.since ?? status.admittedAt ?? "");
    if (Number.isNaN(since) || until <= since) continue;
    total += (allocation.gpus * (until - since)) / 1000;
  }
  return Math.floor(total);
}

export function leaseGpuSeconds(status: GpuLeaseStatus, until: number): number {
  return (status.usage?.closedGpuSeconds ?? 0) + openGpuSeconds(status, until);
}

/**
 * Usage is published at a coarse interval so an Active lease's status does not change (and cost an API
 * write) every second; ended leases carry the exact figure.
 */
export function meteringInstant(now: number, intervalMs: number): number {
  return intervalMs <= 0 ? now : Math.floor(now / intervalMs) * intervalMs;
}

export function priceFor(
  cls: LeaseClass,
  pricing: { interruptiblePerGpuHour: string; reservedPerGpuHour: string },
) {
  return cls === "Reserved" ? pricing.reservedPerGpuHour : pricing.interruptiblePerGpuHour;
}
