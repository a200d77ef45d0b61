import { AsyncLocalStorage } from "node:async_hooks";
import { type Logger, pino } from "pino";

export type { Logger };

/** The reconcile a piece of work belongs to; set around each reconcile, read by every log line. */
const reconcileContext = new AsyncLocalStorage<Record<string, string>>();

/** Runs `work` so that every line logged inside it, by any logger, carries `fields` (e.g. reconcileID). */
export function withLogContext<T>(fields: Record<string, string>, work: () => Promise<T>): Promise<T> {
  return reconcileContext.run(fields, work);
}

/**
 * JSON logs on stdout; every line carries the fields of its child logger (lease, tenant, node…) and,
 * inside a reconcile, its controller and reconcile ID, as controller-runtime's logs do.
 */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { component: "gpulease-operator" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      // A copy: pino merges each line's own fields into the object the mixin returns.
      mixin: () => ({ ...reconcileContext.getStore() }),
    },
    destination ?? process.stdout,
  );
}
