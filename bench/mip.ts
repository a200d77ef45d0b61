/**
 * A small mixed-integer program builder over HiGHS (compiled to WebAssembly, the npm package `highs`):
 * the exact reference the quality benchmark compares the planner with. Models are written as CPLEX LP
 * text, which keeps them readable when a figure needs checking by hand (`Mip.text()`).
 */
import { createRequire } from "node:module";
import type { Highs } from "highs";

let runtime: Highs | undefined;

/** Loads the solver once (the wasm file ships in the package; nothing is downloaded). */
export async function initSolver(): Promise<void> {
  // The CommonJS build: the package's types describe it, not its ES module under "nodenext".
  const load = createRequire(import.meta.url)("highs") as () => Promise<Highs>;
  runtime ??= await load();
}

export type Term = [coefficient: number, variable: string];

export interface MipResult {
  /** "optimal": proved; "limit": stopped by the time limit with a feasible solution. */
  status: "optimal" | "limit" | "infeasible";
  objective: number;
  /** The solver's proven bound on the objective (equal to it when optimal). */
  bound: number;
  /** Relative gap |bound − objective| / |objective| (0 when optimal). */
  gap: number;
  value: (variable: string) => number;
  seconds: number;
}

export class Mip {
  private readonly columns = new Map<string, { kind: "bin" | "int"; upper: number }>();
  private readonly rows: string[] = [];

  /** A binary (upper 1) or general integer variable in [0, upper]. */
  variable(name: string, kind: "bin" | "int", upper = 1): string {
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(name)) throw new Error(`bad variable name ${name}`);
    this.columns.set(name, { kind, upper });
    return name;
  }

  has(name: string): boolean {
    return this.columns.has(name);
  }

  row(terms: Term[], sense: "<=" | ">=" | "=", rhs: number): void {
    const live = terms.filter(([c]) => c !== 0);
    if (live.length === 0) {
      const ok = sense === "<=" ? 0 <= rhs : sense === ">=" ? 0 >= rhs : rhs === 0;
      if (!ok) throw new Error(`empty row 0 ${sense} ${rhs} is infeasible`);
      return;
    }
    this.rows.push(`r${this.rows.length}: ${expression(live)} ${sense} ${rhs}`);
  }

  text(sense: "max" | "min", objective: Term[]): string {
    const bounds: string[] = [];
    const generals: string[] = [];
    const binaries: string[] = [];
    for (const [name, c] of this.columns) {
      if (c.kind === "bin") binaries.push(name);
      else {
        generals.push(name);
        bounds.push(` 0 <= ${name} <= ${c.upper}`);
      }
    }
    const obj = objective.filter(([c]) => c !== 0);
    // An objective must name at least one variable; a zero multiple of any keeps the LP text valid.
    const objText = obj.length > 0 ? expression(obj) : `0 ${[...this.columns.keys()][0] ?? "x"}`;
    return [
      sense === "max" ? "Maximize" : "Minimize",
      ` obj: ${objText}`,
      "Subject To",
      ...this.rows.map((r) => ` ${r}`),
      "Bounds",
      ...bounds,
      ...(generals.length ? ["Generals", ...wrap(generals)] : []),
      ...(binaries.length ? ["Binaries", ...wrap(binaries)] : []),
      "End",
      "",
    ].join("\n");
  }

  solve(sense: "max" | "min", objective: Term[], timeLimitSeconds: number): MipResult {
    if (!runtime) throw new Error("initSolver() first");
    const highs = runtime;
    const started = performance.now();
    return highs.withModel({ format: "lp", data: this.text(sense, objective) }, (model): MipResult => {
      model.options.set({ output_flag: false, time_limit: timeLimitSeconds, mip_rel_gap: 0, mip_abs_gap: 0 });
      model.run();
      const status = model.getModelStatus();
      const seconds = (performance.now() - started) / 1000;
      const codes = highs.constants.modelStatus;
      if (status === codes.infeasible)
        return {
          status: "infeasible",
          objective: Number.NaN,
          bound: Number.NaN,
          gap: 0,
          value: () => 0,
          seconds,
        };
      if (status !== codes.optimal && status !== codes.timeLimit)
        throw new Error(`HiGHS ended with model status ${status}`);
      const values = model.getSolution().colValue;
      const index = new Map<string, number>();
      for (let i = 0; i < values.length; i++) index.set(model.getColName(i), i);
      const objectiveValue = model.getObjectiveValue();
      const optimal = status === codes.optimal;
      const bound = optimal ? objectiveValue : Number(model.info.get("mip_dual_bound"));
      if (!optimal && !Number.isFinite(objectiveValue)) throw new Error("time limit before any solution");
      return {
        status: optimal ? "optimal" : "limit",
        objective: objectiveValue,
        bound,
        gap: optimal ? 0 : Math.abs(bound - objectiveValue) / Math.max(1e-9, Math.abs(objectiveValue)),
        value: (variable: string) => {
          const i = index.get(variable);
          return i === undefined ? 0 : Math.round(values[i] as number);
        },
        seconds,
      };
    });
  }
}

function expression(terms: Term[]): string {
  const parts = terms.map(([c, v], i) => {
    const sign = c < 0 ? "-" : i === 0 ? "" : "+";
    return `${sign} ${Math.abs(c)} ${v}`.trim();
  });
  return wrap(parts).join("\n  ");
}

/** LP text lines stay short (the format allows continuation lines). */
function wrap(items: string[]): string[] {
  const lines: string[] = [];
  for (let i = 0; i < items.length; i += 12) lines.push(items.slice(i, i + 12).join(" "));
  return lines;
}
