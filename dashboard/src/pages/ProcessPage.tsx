import type { ComponentChildren } from "preact";
import type { Client } from "../api/client";
import type { Attribute, Process } from "../api/types";
import { RUNNING, WAITING } from "../api/types";
import { LiveBadge } from "../components/LiveBadge";
import { CopyButton, Empty, ErrorBox, Json, KeyValues, Loading, Mono, PageHeader, Panel, StateBadge, Values } from "../components/ui";
import { formatDateTime, formatSeconds, inline, parseTime, relative, shortId } from "../format";
import { useDocumentTitle, useNow, useQuery } from "../hooks";
import { isFinal, useLiveProcess } from "../live";
import { Link } from "../router";
import { processTitle, timings } from "./Processes";

const ATTRIBUTE_TYPES = ["in", "out", "error", "env"];

function limit(n: number, unit = "s"): string {
  return n > 0 ? `${n} ${unit}` : "no limit";
}

export function ProcessPage({ client, id }: { client: Client; id: string }) {
  const now = useNow(1000);
  const live = useLiveProcess(client, id);
  const p = live.process;
  useDocumentTitle(p ? `${processTitle(p)} process` : "Process");
  const executors = useQuery(() => client.executors(), [client]);
  const running = p?.state === RUNNING;
  const logs = useQuery(() => client.logs(id), [client, id, p?.state], running ? 3000 : 0);
  const relatives = useQuery(() => relatedNames(client, p), [client, p?.parents?.join(), p?.children?.join()]);

  if (live.error && !p) {
    return (
      <>
        <PageHeader title="Process" sub={<Mono>{id}</Mono>} />
        <ErrorBox error={live.error} onRetry={live.reload} />
      </>
    );
  }
  if (!p) return <Loading what="Loading the process" />;

  const t = timings(p, now);
  const executor = executors.data?.find((e) => e.executorid === p.assignedexecutorid);
  const c = p.spec.conditions;
  const errors = p.errors ?? [];

  return (
    <>
      <PageHeader
        title={
          <span class="title-with-badge">
            {processTitle(p)}
            {p.spec.nodename && p.spec.nodename !== processTitle(p) && <span class="title-node">node {p.spec.nodename}</span>}
            <StateBadge state={p.state} />
          </span>
        }
        sub={
          <span class="id-line">
            Process <Mono>{p.processid}</Mono> <CopyButton text={p.processid} />
            {p.processgraphid && (
              <>
                · in workflow <Link href={`/workflows/${p.processgraphid}`}>{shortId(p.processgraphid, 12)}</Link>
              </>
            )}
          </span>
        }
        actions={<LiveBadge mode={live.mode} />}
      />
      {live.error && <ErrorBox error={live.error} onRetry={live.reload} compact />}
      <Timeline p={p} now={now} />
      <div class="grid-2-1">
        <div class="stack">
          {errors.length > 0 && (
            <Panel title="Errors" class="panel-error">
              <ul class="errors" data-testid="process-errors">
                {errors.map((e, i) => (
                  <li key={i}>{e}</li>
                ))}
              </ul>
            </Panel>
          )}
          <div class="grid-2 tight">
            <Panel title="Input">
              <Values values={p.in} testid="process-input" empty={p.parents?.length ? (p.state === WAITING ? "Set from the parents' output when it starts" : "No input") : "No input"} />
            </Panel>
            <Panel title="Output">
              <Values values={p.out} testid="process-output" empty={isFinal(p) ? "No output" : "Not finished yet"} />
            </Panel>
          </div>
          <Panel title="Function">
            <KeyValues
              rows={[
                ["Function", <strong>{p.spec.funcname || "—"}</strong>],
                ["Node name", p.spec.nodename || "—"],
                ["Arguments", p.spec.args && p.spec.args.length ? <code class="wrap">{inline(p.spec.args)}</code> : <span class="muted">none</span>],
                [
                  "Keyword arguments",
                  p.spec.kwargs && Object.keys(p.spec.kwargs).length ? <KwArgs kwargs={p.spec.kwargs} /> : <span class="muted">none</span>,
                ],
                ["Label", p.spec.label || <span class="muted">none</span>],
                ["Environment", p.spec.env && Object.keys(p.spec.env).length ? <KwArgs kwargs={p.spec.env} /> : <span class="muted">none</span>],
              ]}
            />
            <details class="raw">
              <summary>Full function spec (JSON)</summary>
              <Json value={p.spec} />
            </details>
          </Panel>
          <Panel
            title={`Logs${logs.data ? ` (${logs.data.length})` : ""}`}
            actions={running ? <span class="muted small">refreshing while running</span> : undefined}
            flush
          >
            {logs.error && !logs.data ? (
              <ErrorBox error={logs.error} onRetry={logs.reload} compact />
            ) : !logs.data ? (
              <Loading />
            ) : logs.data.length === 0 ? (
              <Empty title="No log lines">Executors add them with <code>addlogmsg</code> while the process runs.</Empty>
            ) : (
              <div class="logs" data-testid="process-logs">
                {logs.data.map((l, i) => (
                  <div class="log-line" key={i}>
                    <span class="log-time">{formatDateTime(l.timestamp / 1e6)}</span>
                    <span class="log-exec">{l.executorname}</span>
                    <span class="log-msg">{l.message}</span>
                  </div>
                ))}
              </div>
            )}
          </Panel>
        </div>
        <div class="stack">
          <Panel title="Execution">
            <KeyValues
              rows={[
                ["State", <StateBadge state={p.state} />],
                ["Executor type", c.executortype],
                [
                  "Assigned executor",
                  p.assignedexecutorid ? (
                    <span title={p.assignedexecutorid}>{executor?.executorname ?? <Mono>{shortId(p.assignedexecutorid, 12)}</Mono>}</span>
                  ) : (
                    <span class="muted">not assigned</span>
                  ),
                ],
                ["Initiator", p.initiatorname || <span class="muted">—</span>],
                ["Priority", p.spec.priority],
                ["Retries", `${p.retries} of ${p.spec.maxretries >= 0 ? p.spec.maxretries : "unlimited"}`],
                ["Max wait", limit(p.spec.maxwaittime)],
                ["Max run time", limit(p.spec.maxexectime)],
                ["Wait deadline", formatDateTime(parseTime(p.waitdeadline))],
                ["Run deadline", formatDateTime(parseTime(p.execdeadline))],
              ]}
            />
          </Panel>
          <Panel title="Conditions">
            <KeyValues
              rows={[
                ["Colony", c.colonyname],
                ["Executor type", c.executortype],
                ["Executor names", c.executornames?.length ? c.executornames.join(", ") : <span class="muted">any</span>],
                ["Location", c.locationname || <span class="muted">any</span>],
                ["Dependencies", c.dependencies?.length ? c.dependencies.join(", ") : <span class="muted">none</span>],
                ["CPU / memory", `${c.cpu ?? "—"} / ${c.mem ?? "—"}`],
                ["Nodes × processes", `${c.nodes ?? 0} × ${c.processespernode ?? 0}`],
                ["GPUs", c.gpu && c.gpu.count ? `${c.gpu.count} × ${c.gpu.name || "any"} (${c.gpu.mem})` : "none"],
                ["Wall time", c.walltime ? `${c.walltime} s` : "—"],
              ]}
            />
          </Panel>
          {p.processgraphid && (
            <Panel title="In the workflow">
              <KeyValues
                rows={[
                  ["Parents", <ProcessLinks ids={p.parents} names={relatives.data} />],
                  ["Children", <ProcessLinks ids={p.children} names={relatives.data} />],
                ]}
              />
            </Panel>
          )}
          <Panel title={`Attributes (${p.attributes?.length ?? 0})`} flush>
            <Attributes list={p.attributes ?? []} />
          </Panel>
        </div>
      </div>
      <Panel title="Raw process (JSON)">
        <details class="raw">
          <summary>Show the process as the broker returns it</summary>
          <Json value={p} />
        </details>
      </Panel>
      <div class="muted small footnote">Submitted {relative(t.submitted, now)}.</div>
    </>
  );
}

async function relatedNames(client: Client, p: Process | undefined): Promise<Record<string, string>> {
  if (!p) return {};
  const ids = [...(p.parents ?? []), ...(p.children ?? [])].slice(0, 40);
  const found = await Promise.all(ids.map((id) => client.process(id).catch(() => null)));
  const names: Record<string, string> = {};
  for (const r of found) if (r) names[r.processid] = r.spec.nodename || r.spec.funcname;
  return names;
}

function ProcessLinks({ ids, names }: { ids: string[] | null; names?: Record<string, string> }) {
  if (!ids || ids.length === 0) return <span class="muted">none</span>;
  return (
    <span class="links">
      {ids.map((id) => (
        <Link key={id} href={`/processes/${id}`} class="chip" title={id}>
          {names?.[id] ?? shortId(id)}
        </Link>
      ))}
    </span>
  );
}

function KwArgs({ kwargs }: { kwargs: Record<string, unknown> }) {
  return (
    <table class="kwargs">
      <tbody>
        {Object.entries(kwargs).map(([k, v]) => (
          <tr key={k}>
            <th>{k}</th>
            <td>
              <code class="wrap">{inline(v)}</code>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Attributes({ list }: { list: Attribute[] }) {
  if (list.length === 0) return <Empty title="No attributes" />;
  return (
    <table class="table">
      <thead>
        <tr>
          <th>Key</th>
          <th>Value</th>
          <th>Type</th>
        </tr>
      </thead>
      <tbody>
        {list.map((a) => (
          <tr key={a.attributeid}>
            <td class="strong">{a.key}</td>
            <td>
              <code class="wrap">{a.value}</code>
            </td>
            <td class="muted">{ATTRIBUTE_TYPES[a.attributetype] ?? a.attributetype}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Submitted → started → ended, with the time spent queued and running. */
function Timeline({ p, now }: { p: Process; now: number }) {
  const t = timings(p, now);
  const step = (label: string, at: number | null, active: boolean, children?: ComponentChildren) => (
    <div class={`tl-step ${at !== null ? "reached" : ""} ${active ? "active" : ""}`}>
      <div class="tl-dot" />
      <div class="tl-label">{label}</div>
      <div class="tl-time" title={at !== null ? new Date(at).toISOString() : undefined}>
        {formatDateTime(at)}
      </div>
      {children}
    </div>
  );
  return (
    <div class="timeline" data-testid="timeline">
      {step("Submitted", t.submitted, p.state === WAITING)}
      <div class="tl-gap">
        <div class="tl-bar" />
        <div class="tl-dur">{t.waited !== null ? `queued ${formatSeconds(t.waited)}` : ""}</div>
      </div>
      {step("Started", t.started, p.state === RUNNING)}
      <div class="tl-gap">
        <div class="tl-bar" />
        <div class="tl-dur">{t.ran !== null ? `ran ${formatSeconds(t.ran)}` : ""}</div>
      </div>
      {step(p.state === 3 ? "Failed" : "Finished", isFinal(p) ? t.ended : null, false)}
      <div class="tl-retries">
        <div class="tl-label">Retries</div>
        <div class="tl-big">{p.retries}</div>
      </div>
    </div>
  );
}
