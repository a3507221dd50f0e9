import { useCallback, useEffect, useRef, useState } from "preact/hooks";

export interface Query<T> {
  data: T | undefined;
  error: Error | null;
  loading: boolean;
  /** When the data was last fetched successfully. */
  updatedAt: number | null;
  reload(): void;
}

/**
 * Runs `fn` when `deps` change and then every `interval` ms while the page is
 * visible. Data from the last success stays on screen while a refresh fails,
 * with the error alongside it.
 */
export function useQuery<T>(fn: () => Promise<T>, deps: unknown[], interval = 0): Query<T> {
  const [state, setState] = useState<{ data: T | undefined; error: Error | null; loading: boolean; updatedAt: number | null }>(
    { data: undefined, error: null, loading: true, updatedAt: null },
  );
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const generation = useRef(0);

  const run = useCallback(() => {
    const gen = generation.current;
    fnRef.current().then(
      (data) => {
        if (gen === generation.current) setState({ data, error: null, loading: false, updatedAt: Date.now() });
      },
      (error: unknown) => {
        if (gen === generation.current)
          setState((s) => ({ ...s, error: error instanceof Error ? error : new Error(String(error)), loading: false }));
      },
    );
  }, []);

  useEffect(() => {
    generation.current++;
    setState({ data: undefined, error: null, loading: true, updatedAt: null });
    run();
    if (!interval) return;
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible") run();
    }, interval);
    return () => window.clearInterval(timer);
  }, deps);

  return { ...state, reload: run };
}

/** The current time, refreshed every `ms` so relative times stay true. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(t);
  }, [ms]);
  return now;
}

export function useDocumentTitle(title: string) {
  useEffect(() => {
    document.title = title ? `${title} · petri` : "petri";
  }, [title]);
}
