import type { Client } from "../api/client";
import type { Executor, Process, ProcessGraph } from "../api/types";
import { EXECUTOR_APPROVED, FAILED, SUCCESSFUL } from "../api/types";
import { Empty, ErrorBox, Freshness, Loading, Mono, PageHeader, Panel, StateBadge } from "../components/ui";
import { between, formatSeconds, parseTime, plural, relative, shortId, STATE_LABELS, STATE_NAMES } from "../format";
import { useDocumentTitle, useNow, useQuery } from "../hooks";
import { Link } from "../router";

/** An executor counts as online when it has asked for work this recently. */
export const ONLINE_WINDOW_MS = 5 * 60 * 1000;

export function isOnline(e: Executor, now: number): boolean {
  const heard = parseTime(e.lastheardfromtime);
  return e.state === EXECUTOR_APPROVED && heard !== null && now - heard < ONLINE_WINDOW_MS;
}

const MINUTES = 30;

async function recentCompletions(client: Client): Promise<{ ok: Process[]; failed: Process[] }> {
  const [ok, failed] = await Promise.all([client.processes(SUCCESSFUL, 100), client.processes(FAILED, 100)]);
  return { ok, failed };
}

async function recentWorkflows(client: Client): Promise<ProcessGraph[]> {
  const lists = await Promise.all([0, 1, 2, 3].map((s) => client.graphs(s as 0, 8)));
  return lists
    .flat()
    .sort((a, b) => (parseTime(b.submissiontime) ?? 0) - (parseTime(a.submissiontime) ?? 0))
    .slice(0, 6);
}

export function Overview({ client }: { client: Client }) {
  useDocumentTitle("Overview");
  const now = useNow(1000);
  const stats = useQuery(() => client.colonyStats(), [client], 3000);
  const executors = useQuery(() => client.executors(), [client], 8000);
  const done = useQuery(() => recentCompletions(client), [client], 8000);
  const workflows = useQuery(() => recentWorkflows(client), [client], 8000);

  if (stats.error && !stats.data) {
    return (
      <>
        <PageHeader title="Overview" />
        <ErrorBox error={stats.error} onRetry={stats.reload} />
      </>
    );
  }
  const s = stats.data;
  const procCounts = s ? [s.waitingprocesses, s.runningprocesses, s.successfulprocesses, s.failedprocesses] : null;
  const wfCounts = s ? [s.waitingworkflows, s.runningworkflows, s.successfulworkflows, s.failedworkflows] : null;
  const online = executors.data?.filter((e) => isOnline(e, now)).length;

  return (
    <>
      <PageHeader
        title={`Colony ${client.colony}`}
        sub="Processes, workflows and executors at a glance"
        actions={<Freshness updatedAt={stats.updatedAt} error={stats.error} onRefresh={stats.reload} now={now} />}
      />
      <div class="section-label">Processes</div>
      <div class="stat-grid" data-testid="process-stats">
        {STATE_NAMES.map((name, i) => (
          <Link key={name} href={`/processes?state=${i}`} class={`stat-card stat-${name}`} data-stat={name}>
            <div class="stat-label">
              <span class={`dot dot-${name}`} /> {STATE_LABELS[name]}
            </div>
            <div class="stat-value">{procCounts ? procCounts[i].toLocaleString() : "–"}</div>
          </Link>
        ))}
      </div>
      <div class="grid-2-1">
        <Panel title="Throughput" actions={<span class="muted">completions per minute, last {MINUTES} minutes</span>}>
          {done.error && !done.data ? (
            <ErrorBox error={done.error} onRetry={done.reload} compact />
          ) : !done.data ? (
            <Loading />
          ) : (
            <Throughput ok={done.data.ok} failed={done.data.failed} now={now} />
          )}
        </Panel>
        <Panel title="Workflows and executors">
          <div class="mini-stats">
            {STATE_NAMES.map((name, i) => (
              <Link key={name} href={`/workflows?state=${i}`} class="mini-stat">
                <span class={`dot dot-${name}`} />
                <span class="mini-label">{STATE_LABELS[name]} workflows</span>
                <span class="mini-value">{wfCounts ? wfCounts[i].toLocaleString() : "–"}</span>
              </Link>
            ))}
            <div class="mini-divider" />
            <Link href="/executors" class="mini-stat" data-testid="executors-online">
              <span class="dot dot-online" />
              <span class="mini-label">Executors online</span>
              <span class="mini-value">{online ?? "–"}</span>
            </Link>
            <Link href="/executors" class="mini-stat">
              <span class="dot dot-successful" />
              <span class="mini-label">Approved executors</span>
              <span class="mini-value">{s ? s.activeexecutors : "–"}</span>
            </Link>
            <Link href="/executors" class="mini-stat">
              <span class="dot dot-waiting" />
              <span class="mini-label">Registered executors</span>
              <span class="mini-value">{s ? s.executors : "–"}</span>
            </Link>
          </div>
        </Panel>
      </div>
      <div class="grid-2">
        <Panel title="Recent workflows" actions={<Link href="/workflows">All workflows ›</Link>} flush>
          {workflows.error && !workflows.data ? (
            <ErrorBox error={workflows.error} onRetry={workflows.reload} compact />
          ) : !workflows.data ? (
            <Loading />
          ) : workflows.data.length === 0 ? (
            <Empty title="No workflows yet">Submit one with <code>petri workflow submit --spec workflow.json</code>.</Empty>
          ) : (
            <table class="table">
              <tbody>
                {workflows.data.map((g) => (
                  <tr key={g.processgraphid} class="row-link">
                    <td>
                      <StateBadge state={g.state} />
                    </td>
                    <td>
                      <Link href={`/workflows/${g.processgraphid}`}>
                        <Mono>{shortId(g.processgraphid, 12)}</Mono>
                      </Link>
                    </td>
                    <td class="muted">{plural(g.processids?.length ?? 0, "process", "processes")}</td>
                    <td class="muted right" title={g.submissiontime}>
                      {relative(parseTime(g.submissiontime), now)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Panel>
        <Panel title="Recent failures" actions={<Link href="/processes?state=3">All failed ›</Link>} flush>
          {done.error && !done.data ? (
            <ErrorBox error={done.error} onRetry={done.reload} compact />
          ) : !done.data ? (
            <Loading />
          ) : done.data.failed.length === 0 ? (
            <Empty title="No failed processes">Nothing has failed in this colony.</Empty>
          ) : (
            <table class="table">
              <tbody>
                {done.data.failed.slice(0, 6).map((p) => (
                  <tr key={p.processid}>
                    <td>
                      <Link href={`/processes/${p.processid}`}>{p.spec.funcname || p.spec.nodename || shortId(p.processid)}</Link>
                    </td>
                    <td class="error-cell" title={(p.errors ?? []).join("\n")}>
                      {(p.errors ?? [])[0] ?? "failed"}
                    </td>
                    <td class="muted right">{relative(parseTime(p.endtime), now)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Panel>
      </div>
    </>
  );
}

function Throughput({ ok, failed, now }: { ok: Process[]; failed: Process[]; now: number }) {
  const minute = 60_000;
  const end = Math.ceil(now / minute) * minute;
  const start = end - MINUTES * minute;
  const buckets = Array.from({ length: MINUTES }, () => ({ ok: 0, failed: 0 }));
  const put = (list: Process[], field: "ok" | "failed") => {
    for (const p of list) {
      const t = parseTime(p.endtime);
      if (t === null || t < start || t >= end) continue;
      buckets[Math.floor((t - start) / minute)][field]++;
    }
  };
  put(ok, "ok");
  put(failed, "failed");
  const max = Math.max(1, ...buckets.map((b) => b.ok + b.failed));
  const last5 = ok.filter((p) => (parseTime(p.endtime) ?? 0) > now - 5 * minute).length;
  const execs = ok.map((p) => between(parseTime(p.starttime), parseTime(p.endtime))).filter((x): x is number => x !== null);
  const waits = ok.map((p) => between(parseTime(p.submissiontime), parseTime(p.starttime))).filter((x): x is number => x !== null);
  const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  // Only the latest 100 per state are fetched; say so when the window is full.
  const capped = ok.length === 100 && (parseTime(ok[ok.length - 1].endtime) ?? 0) > start;
  const W = 600;
  const H = 120;
  const bw = W / MINUTES;
  return (
    <div class="throughput">
      <div class="throughput-figures">
        <div>
          <div class="figure">{(last5 / 5).toFixed(1)}</div>
          <div class="muted">successful / min (last 5 min)</div>
        </div>
        <div>
          <div class="figure">{formatSeconds(avg(execs))}</div>
          <div class="muted">average run time</div>
        </div>
        <div>
          <div class="figure">{formatSeconds(avg(waits))}</div>
          <div class="muted">average time in queue</div>
        </div>
      </div>
      <svg class="bars" viewBox={`0 -8 ${W} ${H + 26}`} role="img" aria-label="completions per minute">
        <line x1="0" y1={H} x2={W} y2={H} class="axis" />
        <line x1="0" y1="8" x2={W} y2="8" class="grid" />
        <text x="0" y="5" class="axis-label">
          {max}/min
        </text>
        {buckets.map((b, i) => {
          const hOk = (b.ok / max) * (H - 8);
          const hFail = (b.failed / max) * (H - 8);
          return (
            <g key={i}>
              <title>{`${MINUTES - i} min ago: ${b.ok} successful, ${b.failed} failed`}</title>
              <rect x={i * bw + 2} y={H - hOk} width={bw - 4} height={hOk} class="bar-ok" rx="2" />
              <rect x={i * bw + 2} y={H - hOk - hFail} width={bw - 4} height={hFail} class="bar-failed" rx="2" />
            </g>
          );
        })}
        {buckets.every((b) => b.ok + b.failed === 0) && (
          <text x={W / 2} y={H / 2} class="chart-empty" text-anchor="middle">
            No process finished in the last {MINUTES} minutes
          </text>
        )}
        <text x="0" y={H + 14} class="axis-label">
          −{MINUTES} min
        </text>
        <text x={W} y={H + 14} class="axis-label" text-anchor="end">
          now
        </text>
      </svg>
      {capped && <div class="muted small">Based on the latest 100 successful and 100 failed processes.</div>}
    </div>
  );
}
