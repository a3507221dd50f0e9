import { useEffect, useRef, useState } from "preact/hooks";
import type { Client } from "../api/client";
import type { Process, ProcessGraph } from "../api/types";
import { Dag } from "../components/Dag";
import { LiveBadge } from "../components/LiveBadge";
import { CopyButton, Empty, ErrorBox, KeyValues, Loading, Mono, PageHeader, Panel, StateBadge, Values } from "../components/ui";
import { formatDateTime, formatSeconds, parseTime, shortId, STATE_LABELS, STATE_NAMES } from "../format";
import { useDocumentTitle, useNow } from "../hooks";
import type { LiveMode } from "../live";
import { FALLBACK_POLL_MS, isFinal, Watcher } from "../live";
import { Link, location, setQuery } from "../router";
import { timings } from "./Processes";
import { graphDuration } from "./Workflows";

/** Most processes watched over websockets at once; the rest are polled. */
const MAX_WATCHED = 32;

async function fetchAll(client: Client, ids: string[]): Promise<Process[]> {
  const out: Process[] = [];
  // A few requests at a time keeps a large graph from flooding the broker.
  for (let i = 0; i < ids.length; i += 8) {
    out.push(...(await Promise.all(ids.slice(i, i + 8).map((id) => client.process(id)))));
  }
  return out;
}

function useLiveGraph(client: Client, id: string) {
  const [graph, setGraph] = useState<ProcessGraph | null>(null);
  const [procs, setProcs] = useState<Record<string, Process>>({});
  const [error, setError] = useState<Error | null>(null);
  const [failing, setFailing] = useState(false);
  const procsRef = useRef(procs);
  procsRef.current = procs;
  const watcher = useRef<Watcher | null>(null);
  const refreshTimer = useRef<number | null>(null);

  /** Reads the graph, then the processes that are new or not finished yet. */
  const load = async (everything: boolean) => {
    try {
      const g = await client.graph(id);
      const ids = g.processids ?? [];
      const stale = ids.filter((pid) => everything || !procsRef.current[pid] || !isFinal(procsRef.current[pid]));
      const fresh = await fetchAll(client, stale);
      setGraph(g);
      setProcs((prev) => {
        const next = { ...prev };
        for (const p of fresh) next[p.processid] = p;
        return next;
      });
      setError(null);
    } catch (e) {
      setError(e as Error);
    }
  };

  useEffect(() => {
    setGraph(null);
    setProcs({});
    setError(null);
    const w = new Watcher(
      client,
      (p) => {
        setProcs((prev) => ({ ...prev, [p.processid]: p }));
        // Re-read the graph soon after: its state, and processes added by add_child.
        if (refreshTimer.current === null) {
          refreshTimer.current = window.setTimeout(() => {
            refreshTimer.current = null;
            void load(false);
          }, 250);
        }
      },
      (f) => setFailing(f),
    );
    watcher.current = w;
    void load(true);
    return () => {
      w.close();
      if (refreshTimer.current !== null) window.clearTimeout(refreshTimer.current);
      refreshTimer.current = null;
    };
  }, [client, id]);

  const list = Object.values(procs);
  useEffect(() => {
    watcher.current?.sync(list, MAX_WATCHED);
  }, [procs, failing]);

  const unfinished = list.filter((p) => !isFinal(p)).length;
  const graphDone = graph !== null && (graph.state === 2 || graph.state === 3) && unfinished === 0;
  // Poll only as a fallback: the websocket failed, or more processes are open than are watched.
  const poll = !graphDone && graph !== null && (failing || unfinished > MAX_WATCHED);
  useEffect(() => {
    if (!poll) return;
    const t = window.setInterval(() => void load(false), FALLBACK_POLL_MS);
    return () => window.clearInterval(t);
  }, [poll, client, id]);

  const mode: LiveMode = graph === null ? "connecting" : graphDone ? "done" : poll ? "polling" : "live";
  return { graph, procs, error, mode, reload: () => void load(true) };
}

export function WorkflowPage({ client, id }: { client: Client; id: string }) {
  useDocumentTitle(`Workflow ${shortId(id)}`);
  const now = useNow(1000);
  const { graph, procs, error, mode, reload } = useLiveGraph(client, id);
  const selected = location.value.query.get("node");
  const [fit, setFit] = useState(true);

  if (error && !graph) {
    return (
      <>
        <PageHeader title="Workflow" sub={<Mono>{id}</Mono>} />
        <ErrorBox error={error} onRetry={reload} />
      </>
    );
  }
  if (!graph) return <Loading what="Loading the workflow" />;

  const ids = graph.processids ?? [];
  const list = ids.map((pid) => procs[pid]).filter(Boolean);
  const counts = [0, 0, 0, 0];
  for (const p of list) counts[p.state]++;
  const sel = selected ? procs[selected] : undefined;

  return (
    <>
      <PageHeader
        title={
          <span class="title-with-badge">
            Workflow {shortId(graph.processgraphid, 12)} <StateBadge state={graph.state} />
          </span>
        }
        sub={
          <span class="id-line">
            <Mono>{graph.processgraphid}</Mono> <CopyButton text={graph.processgraphid} />
          </span>
        }
        actions={<LiveBadge mode={mode} />}
      />
      {error && <ErrorBox error={error} onRetry={reload} compact />}
      <div class="wf-summary">
        <Progress counts={counts} total={ids.length} />
        <div class="wf-facts">
          <Fact label="Processes" value={String(ids.length)} />
          <Fact label="Initiator" value={graph.initiatorname || "—"} />
          <Fact label="Submitted" value={formatDateTime(parseTime(graph.submissiontime))} />
          <Fact label="Duration" value={formatSeconds(graphDuration(graph, now))} />
        </div>
      </div>
      <div class={sel ? "wf-body with-side" : "wf-body"}>
        <Panel
          title={<>Graph <span class="muted small hint-inline">select a node for its input and output</span></>}
          class="dag-panel"
          actions={
            <>
              <Legend />
              <button class="btn btn-ghost btn-small" onClick={() => setFit(!fit)}>
                {fit ? "Actual size" : "Fit to width"}
              </button>
            </>
          }
        >
          {ids.length === 0 ? (
            <Empty title="This workflow has no processes" />
          ) : list.length < ids.length && list.length === 0 ? (
            <Loading what="Loading processes" />
          ) : (
            <div class="dag-scroll">
              <Dag ids={ids} processes={procs} selected={selected} onSelect={(pid) => setQuery({ node: pid === selected ? null : pid })} now={now} fit={fit} />
            </div>
          )}
        </Panel>
        {sel && (
          <aside class="wf-side">
            <NodeDetails p={sel} now={now} onClose={() => setQuery({ node: null })} />
          </aside>
        )}
      </div>
    </>
  );
}

function Fact({ label, value }: { label: string; value: string }) {
  return (
    <div class="fact">
      <div class="fact-label">{label}</div>
      <div class="fact-value">{value}</div>
    </div>
  );
}

function Progress({ counts, total }: { counts: number[]; total: number }) {
  const done = counts[2];
  return (
    <div class="progress-block" data-testid="wf-progress">
      <div class="progress-text">
        <strong>
          {done} of {total}
        </strong>{" "}
        successful
        {STATE_NAMES.map((name, i) =>
          i !== 2 && counts[i] ? (
            <span key={name} class={`progress-extra text-${name}`}>
              · {counts[i]} {STATE_LABELS[name].toLowerCase()}
            </span>
          ) : null,
        )}
      </div>
      <div class="progress-bar">
        {[2, 1, 3, 0].map((s) =>
          counts[s] ? <div key={s} class={`seg seg-${STATE_NAMES[s]}`} style={{ width: `${(100 * counts[s]) / Math.max(1, total)}%` }} /> : null,
        )}
      </div>
    </div>
  );
}

function Legend() {
  return (
    <span class="legend">
      {STATE_NAMES.map((n) => (
        <span key={n} class="legend-item">
          <span class={`dot dot-${n}`} />
          {STATE_LABELS[n]}
        </span>
      ))}
    </span>
  );
}

function NodeDetails({ p, now, onClose }: { p: Process; now: number; onClose: () => void }) {
  const t = timings(p, now);
  return (
    <Panel
      title={
        <span class="title-with-badge">
          {p.spec.nodename || p.spec.funcname} <StateBadge state={p.state} />
        </span>
      }
      actions={
        <button class="btn btn-ghost btn-small" onClick={onClose} aria-label="Close">
          ✕
        </button>
      }
    >
      <div data-testid="node-details">
        <KeyValues
          rows={[
            ["Function", p.spec.funcname],
            ["Executor type", p.spec.conditions.executortype],
            ["Queued", formatSeconds(t.waited)],
            ["Ran", formatSeconds(t.ran)],
            ["Retries", String(p.retries)],
          ]}
        />
        <h3 class="side-h">Input</h3>
        <Values values={p.in} empty="No input" />
        <h3 class="side-h">Output</h3>
        <Values values={p.out} empty={isFinal(p) ? "No output" : "Not finished yet"} />
        {(p.errors ?? []).length > 0 && (
          <>
            <h3 class="side-h text-failed">Errors</h3>
            <ul class="errors">
              {(p.errors ?? []).map((e, i) => (
                <li key={i}>{e}</li>
              ))}
            </ul>
          </>
        )}
        <Link href={`/processes/${p.processid}`} class="btn btn-primary btn-block open-process" data-testid="open-process">
          Open process page ›
        </Link>
      </div>
    </Panel>
  );
}
