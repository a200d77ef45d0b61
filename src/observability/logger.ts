import { type Logger, pino } from "pino";

export type { Logger };

/** JSON logs on stdout; every line carries the fields of its child logger (lease, node, reconcile id…). */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { component: "gpulease-operator" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? process.stdout,
  );
}
