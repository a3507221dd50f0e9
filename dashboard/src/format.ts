// Display helpers: states, times, durations, values.
import { EXECUTOR_APPROVED, EXECUTOR_PENDING, EXECUTOR_REJECTED, EXECUTOR_REMOVED } from "./api/types";

export const STATE_NAMES = ["waiting", "running", "successful", "failed"] as const;
export type StateName = (typeof STATE_NAMES)[number];

export function stateName(state: number): StateName {
  return STATE_NAMES[state] ?? "waiting";
}

export const STATE_LABELS: Record<StateName, string> = {
  waiting: "Waiting",
  running: "Running",
  successful: "Successful",
  failed: "Failed",
};

export function executorStateName(state: number): string {
  switch (state) {
    case EXECUTOR_PENDING:
      return "pending";
    case EXECUTOR_APPROVED:
      return "approved";
    case EXECUTOR_REJECTED:
      return "rejected";
    case EXECUTOR_REMOVED:
      return "removed";
    default:
      return `state ${state}`;
  }
}

/** Milliseconds since the epoch, or null for the Colonies "unset" time (year 1). */
export function parseTime(t: string | undefined | null): number | null {
  if (!t || t.startsWith("0001-01-01")) return null;
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? null : ms;
}

export function formatDateTime(ms: number | null): string {
  if (ms === null) return "—";
  const d = new Date(ms);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return (
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
  );
}

/** A duration in seconds, readable at a glance: 340 ms, 4.2 s, 3 m 05 s, 2 h 04 m. */
export function formatSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return "—";
  if (s < 0) s = 0;
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 10) return `${s.toFixed(2)} s`;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} m`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function between(from: number | null, to: number | null): number | null {
  return from === null || to === null ? null : (to - from) / 1000;
}

/** "12 s ago", "in 3 m", or "—". */
export function relative(ms: number | null, now = Date.now()): string {
  if (ms === null) return "—";
  const d = (now - ms) / 1000;
  const abs = Math.abs(d);
  let text: string;
  if (abs < 5) return d >= 0 ? "just now" : "in a moment";
  if (abs < 60) text = `${Math.round(abs)} s`;
  else if (abs < 3600) text = `${Math.round(abs / 60)} min`;
  else if (abs < 86400) text = `${Math.round(abs / 3600)} h`;
  else text = `${Math.round(abs / 86400)} d`;
  return d >= 0 ? `${text} ago` : `in ${text}`;
}

export function shortId(id: string | null | undefined, n = 8): string {
  if (!id) return "—";
  return id.length > n ? id.slice(0, n) : id;
}

/** A JSON value on one line, for tables and small cells. */
export function inline(value: unknown): string {
  if (value === null || value === undefined) return "—";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}
