import { useEffect, useState } from "preact/hooks";
import type { Client } from "../api/client";
import type { Process, ProcessState } from "../api/types";
import { Empty, ErrorBox, Freshness, Loading, Mono, PageHeader, Pager, Panel, Tabs } from "../components/ui";
import { between, formatSeconds, parseTime, relative, shortId, STATE_LABELS, STATE_NAMES } from "../format";
import { useDocumentTitle, useNow, useQuery } from "../hooks";
import { Link, location, navigate, setQuery } from "../router";

const PAGE_SIZE = 25;
/** The protocol returns at most this many processes per query. */
const MAX_COUNT = 100;

export function processTitle(p: Process): string {
  return p.spec.funcname || p.spec.nodename || shortId(p.processid);
}

/** How long a process waited and ran, measured up to `now` while it is still going. */
export function timings(p: Process, now: number) {
  const submitted = parseTime(p.submissiontime);
  const started = parseTime(p.starttime);
  const ended = parseTime(p.endtime);
  const waited = p.state === 0 ? between(submitted, now) : between(submitted, started);
  const ran = p.state === 1 ? between(started, now) : p.state === 0 ? null : between(started, ended);
  return { submitted, started, ended, waited, ran };
}

export function Processes({ client }: { client: Client }) {
  useDocumentTitle("Processes");
  const now = useNow(1000);
  const q = location.value.query;
  const state = Number(q.get("state") ?? "1") as ProcessState;
  const executortype = q.get("type") ?? "";
  const label = q.get("label") ?? "";
  const search = q.get("q") ?? "";
  const page = Math.max(0, Number(q.get("page") ?? "0") || 0);

  const stats = useQuery(() => client.colonyStats(), [client], 5000);
  const list = useQuery(() => client.processes(state, MAX_COUNT, { executortype, label }), [client, state, executortype, label], 4000);
  const executors = useQuery(() => client.executors(), [client]);
  const types = [...new Set((executors.data ?? []).map((e) => e.executortype))].sort();

  const counts = stats.data
    ? [stats.data.waitingprocesses, stats.data.runningprocesses, stats.data.successfulprocesses, stats.data.failedprocesses]
    : undefined;

  const needle = search.trim().toLowerCase();
  const rows = (list.data ?? []).filter(
    (p) =>
      !needle ||
      p.processid.startsWith(needle) ||
      p.spec.funcname.toLowerCase().includes(needle) ||
      (p.spec.nodename ?? "").toLowerCase().includes(needle) ||
      (p.initiatorname ?? "").toLowerCase().includes(needle),
  );
  const pageRows = rows.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
  const filtered = Boolean(executortype || label || needle);

  return (
    <>
      <PageHeader
        title="Processes"
        sub="Function calls in this colony, by state"
        actions={<Freshness updatedAt={list.updatedAt} error={list.error} onRefresh={list.reload} now={now} />}
      />
      <Tabs
        value={state}
        onChange={(v) => setQuery({ state: v, page: null })}
        tabs={STATE_NAMES.map((name, i) => ({ value: i as ProcessState, label: STATE_LABELS[name], count: counts?.[i], tone: name }))}
      />
      <div class="filters">
        <SearchBox value={search} onChange={(v) => setQuery({ q: v, page: null })} placeholder="Filter by function, node, initiator or id" />
        <label class="filter">
          <span>Executor type</span>
          <select value={executortype} onChange={(e) => setQuery({ type: e.currentTarget.value, page: null })}>
            <option value="">Any</option>
            {[...new Set([...types, executortype].filter(Boolean))].map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <SearchBox value={label} onChange={(v) => setQuery({ label: v, page: null })} placeholder="Label" small />
        {filtered && (
          <button class="btn btn-ghost btn-small" onClick={() => navigate(`/processes?state=${state}`, true)}>
            Clear filters
          </button>
        )}
      </div>
      <Panel flush>
        {list.error && !list.data ? (
          <ErrorBox error={list.error} onRetry={list.reload} />
        ) : !list.data ? (
          <Loading what="Loading processes" />
        ) : rows.length === 0 ? (
          <Empty title={filtered ? "No processes match these filters" : `No ${STATE_LABELS[STATE_NAMES[state]].toLowerCase()} processes`}>
            {filtered ? "Try clearing the filters." : "Processes appear here as soon as they reach this state."}
          </Empty>
        ) : (
          <>
            <table class="table table-hover" data-testid="process-table">
              <thead>
                <tr>
                  <th>Function</th>
                  <th>Executor type</th>
                  <th>Initiator</th>
                  <th>Submitted</th>
                  <th class="right">{state === 0 ? "Waiting for" : "Waited"}</th>
                  <th class="right">{state === 1 ? "Running for" : "Ran"}</th>
                  <th class="right">Retries</th>
                  <th>Process</th>
                </tr>
              </thead>
              <tbody>
                {pageRows.map((p) => {
                  const t = timings(p, now);
                  return (
                    <tr key={p.processid} class="row-link" onClick={() => navigate(`/processes/${p.processid}`)}>
                      <td>
                        <Link href={`/processes/${p.processid}`} class="strong">
                          {processTitle(p)}
                        </Link>
                        {p.spec.nodename && p.spec.nodename !== p.spec.funcname && <div class="muted small">node {p.spec.nodename}</div>}
                      </td>
                      <td>{p.spec.conditions.executortype}</td>
                      <td>{p.initiatorname || <span class="muted">—</span>}</td>
                      <td title={p.submissiontime}>{relative(t.submitted, now)}</td>
                      <td class="right num">{formatSeconds(t.waited)}</td>
                      <td class="right num">{formatSeconds(t.ran)}</td>
                      <td class="right num">{p.retries}</td>
                      <td>
                        <Mono title={p.processid}>{shortId(p.processid, 10)}</Mono>
                        {p.processgraphid && <span class="tag">workflow</span>}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            <Pager
              page={Math.min(page, Math.max(0, Math.ceil(rows.length / PAGE_SIZE) - 1))}
              pageSize={PAGE_SIZE}
              total={rows.length}
              onPage={(p) => setQuery({ page: p || null })}
              note={(list.data.length >= MAX_COUNT ? `the ${MAX_COUNT} ${state === 0 ? "first in the queue" : state === 1 ? "longest running" : "most recent"}` : "") || undefined}
            />
          </>
        )}
      </Panel>
    </>
  );
}

/** A text input that reports its value after typing pauses. */
export function SearchBox({ value, onChange, placeholder, small }: { value: string; onChange: (v: string) => void; placeholder: string; small?: boolean }) {
  const [text, setText] = useState(value);
  useEffect(() => setText(value), [value]);
  useEffect(() => {
    if (text === value) return;
    const t = window.setTimeout(() => onChange(text), 300);
    return () => window.clearTimeout(t);
  }, [text]);
  return (
    <input
      class={small ? "search small" : "search"}
      type="search"
      value={text}
      placeholder={placeholder}
      onInput={(e) => setText(e.currentTarget.value)}
      spellcheck={false}
    />
  );
}
