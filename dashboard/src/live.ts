// Keeping processes current: websocket subscriptions first, polling only as a
// fallback when the websocket cannot be used.
import { useEffect, useRef, useState } from "preact/hooks";
import type { Client } from "./api/client";
import type { Process } from "./api/types";
import { FAILED, RUNNING, SUCCESSFUL, WAITING } from "./api/types";
import type { Watch } from "./api/subscribe";
import { watchProcess } from "./api/subscribe";

export type LiveMode = "connecting" | "live" | "polling" | "done";

/** How long one subscription lasts before it is renewed. */
const WATCH_SECONDS = 120;
/** How often to poll when the websocket is unusable. */
export const FALLBACK_POLL_MS = 3000;
/** Websocket failures in a row after which polling takes over. */
const MAX_FAILURES = 3;
/** How long polling lasts before the websocket is tried again. */
const RETRY_WEBSOCKET_MS = 30_000;

export function isFinal(p: Process): boolean {
  return p.state === SUCCESSFUL || p.state === FAILED;
}

/**
 * Keeps websocket subscriptions open for a set of processes:
 * one for a final state (successful or failed both answer it) for every
 * unfinished process, and one for "running" for every waiting one. When a
 * subscription answers, `onChange` gets the process. Subscriptions that time
 * out are renewed; repeated failures switch the caller to polling.
 */
export class Watcher {
  #client: Client;
  #watches = new Map<string, Watch>();
  #failures = 0;
  #closed = false;
  #onChange: (p: Process) => void;
  #onMode: (failing: boolean) => void;
  #timers = new Set<number>();

  constructor(client: Client, onChange: (p: Process) => void, onMode: (failing: boolean) => void) {
    this.#client = client;
    this.#onChange = onChange;
    this.#onMode = onMode;
  }

  get failing(): boolean {
    return this.#failures >= MAX_FAILURES;
  }

  get size(): number {
    return this.#watches.size;
  }

  /** Makes the open subscriptions match `processes` (at most `limit` processes are watched). */
  sync(processes: Process[], limit: number) {
    if (this.#closed) return;
    const wanted = new Map<string, Process>();
    // Running processes first: they are the ones about to change.
    const order = [...processes].filter((p) => !isFinal(p)).sort((a, b) => b.state - a.state);
    for (const p of order.slice(0, limit)) {
      wanted.set(`${p.processid}:done`, p);
      if (p.state === WAITING) wanted.set(`${p.processid}:run`, p);
    }
    for (const [k, w] of this.#watches) {
      if (!wanted.has(k)) {
        w.close();
        this.#watches.delete(k);
      }
    }
    if (this.failing) return;
    for (const [k, p] of wanted) {
      if (!this.#watches.has(k)) this.#open(k, p.processid, k.endsWith(":run") ? RUNNING : SUCCESSFUL);
    }
  }

  #open(k: string, processid: string, state: number) {
    const w = watchProcess(this.#client, processid, state, WATCH_SECONDS, {
      onProcess: (p) => {
        this.#watches.delete(k);
        if (this.#failures) {
          this.#failures = 0;
          this.#onMode(false);
        }
        this.#onChange(p);
      },
      onEnd: (reason) => {
        this.#watches.delete(k);
        if (this.#closed) return;
        if (reason === "error") {
          this.#failures++;
          if (this.failing) {
            this.#onMode(true);
            this.#later(() => this.retry(), RETRY_WEBSOCKET_MS);
            return;
          }
        }
        // Renew after a pause (immediately would spin if the server keeps closing).
        this.#later(
          () => {
            if (!this.#watches.has(k) && !this.failing) this.#open(k, processid, state);
          },
          reason === "error" ? 1000 * this.#failures : 50,
        );
      },
    });
    this.#watches.set(k, w);
  }

  #later(f: () => void, ms: number) {
    const t = window.setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#closed) f();
    }, ms);
    this.#timers.add(t);
  }

  /** Tries the websocket again after polling took over (the caller then calls `sync`). */
  retry() {
    if (!this.failing) return;
    this.#failures = 0;
    this.#onMode(false);
  }

  close() {
    this.#closed = true;
    for (const w of this.#watches.values()) w.close();
    this.#watches.clear();
    for (const t of this.#timers) window.clearTimeout(t);
    this.#timers.clear();
  }
}

/** One process, kept current while it is unfinished. */
export function useLiveProcess(client: Client, processid: string) {
  const [process, setProcess] = useState<Process | undefined>(undefined);
  const [error, setError] = useState<Error | null>(null);
  const [failing, setFailing] = useState(false);
  const [updatedAt, setUpdatedAt] = useState<number | null>(null);
  const watcher = useRef<Watcher | null>(null);

  const load = () =>
    client.process(processid).then(
      (p) => {
        setProcess(p);
        setError(null);
        setUpdatedAt(Date.now());
      },
      (e: Error) => setError(e),
    );

  useEffect(() => {
    setProcess(undefined);
    setError(null);
    const w = new Watcher(
      client,
      // The frame holds the process, but re-reading it also picks up output
      // and attributes written after the state change.
      () => void load(),
      (f) => setFailing(f),
    );
    watcher.current = w;
    void load();
    return () => w.close();
  }, [client, processid]);

  useEffect(() => {
    if (process) watcher.current?.sync([process], 1);
  }, [process, failing]);

  const finished = process ? isFinal(process) : false;
  useEffect(() => {
    if (!failing || finished) return;
    const t = window.setInterval(() => void load(), FALLBACK_POLL_MS);
    return () => window.clearInterval(t);
  }, [failing, finished, client, processid]);

  const mode: LiveMode = !process ? "connecting" : finished ? "done" : failing ? "polling" : "live";
  return { process, error, mode, updatedAt, reload: load };
}
