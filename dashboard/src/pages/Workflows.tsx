import type { Client } from "../api/client";
import type { ProcessGraph, ProcessState } from "../api/types";
import { Empty, ErrorBox, Freshness, Loading, Mono, PageHeader, Pager, Panel, StateBadge, Tabs } from "../components/ui";
import { between, formatSeconds, parseTime, relative, shortId, STATE_LABELS, STATE_NAMES } from "../format";
import { useDocumentTitle, useNow, useQuery } from "../hooks";
import { Link, location, navigate, setQuery } from "../router";

const PAGE_SIZE = 25;

async function loadGraphs(client: Client, state: number | null): Promise<ProcessGraph[]> {
  const states = state === null ? [0, 1, 2, 3] : [state];
  const lists = await Promise.all(states.map((s) => client.graphs(s as ProcessState, 100)));
  return lists.flat().sort((a, b) => (parseTime(b.submissiontime) ?? 0) - (parseTime(a.submissiontime) ?? 0));
}

export function graphDuration(g: ProcessGraph, now: number): number | null {
  const start = parseTime(g.starttime);
  const end = parseTime(g.endtime);
  if (start === null) return null;
  return g.state === 1 || end === null ? between(start, now) : between(start, end);
}

export function Workflows({ client }: { client: Client }) {
  useDocumentTitle("Workflows");
  const now = useNow(1000);
  const q = location.value.query;
  const raw = q.get("state");
  const state = raw === null || raw === "" ? null : Number(raw);
  const page = Math.max(0, Number(q.get("page") ?? "0") || 0);
  const stats = useQuery(() => client.colonyStats(), [client], 5000);
  const list = useQuery(() => loadGraphs(client, state), [client, state], 4000);
  const s = stats.data;
  const counts = s ? [s.waitingworkflows, s.runningworkflows, s.successfulworkflows, s.failedworkflows] : undefined;
  const rows = list.data ?? [];
  const pageRows = rows.slice(page * PAGE_SIZE, (page + 1) * PAGE_SIZE);

  return (
    <>
      <PageHeader
        title="Workflows"
        sub="Process graphs (DAGs) submitted to this colony"
        actions={<Freshness updatedAt={list.updatedAt} error={list.error} onRefresh={list.reload} now={now} />}
      />
      <Tabs
        value={state === null ? "all" : String(state)}
        onChange={(v) => setQuery({ state: v === "all" ? null : v, page: null })}
        tabs={[
          { value: "all", label: "All", count: counts?.reduce((a, b) => a + b, 0) },
          ...STATE_NAMES.map((name, i) => ({ value: String(i), label: STATE_LABELS[name], count: counts?.[i], tone: name })),
        ]}
      />
      <Panel flush>
        {list.error && !list.data ? (
          <ErrorBox error={list.error} onRetry={list.reload} />
        ) : !list.data ? (
          <Loading what="Loading workflows" />
        ) : rows.length === 0 ? (
          <Empty title={state === null ? "No workflows yet" : `No ${STATE_LABELS[STATE_NAMES[state]].toLowerCase()} workflows`}>
            Submit a workflow with <code>petri workflow submit --spec workflow.json</code> or pycolonies' <code>submit_workflow</code>.
          </Empty>
        ) : (
          <>
            <table class="table table-hover" data-testid="workflow-table">
              <thead>
                <tr>
                  <th>State</th>
                  <th>Workflow</th>
                  <th class="right">Processes</th>
                  <th>Initiator</th>
                  <th>Submitted</th>
                  <th class="right">Duration</th>
                </tr>
              </thead>
              <tbody>
                {pageRows.map((g) => (
                  <tr key={g.processgraphid} class="row-link" onClick={() => navigate(`/workflows/${g.processgraphid}`)}>
                    <td>
                      <StateBadge state={g.state} />
                    </td>
                    <td>
                      <Link href={`/workflows/${g.processgraphid}`}>
                        <Mono title={g.processgraphid}>{shortId(g.processgraphid, 16)}</Mono>
                      </Link>
                    </td>
                    <td class="right num">{g.processids?.length ?? 0}</td>
                    <td>{g.initiatorname || <span class="muted">—</span>}</td>
                    <td title={g.submissiontime}>{relative(parseTime(g.submissiontime), now)}</td>
                    <td class="right num">{formatSeconds(graphDuration(g, now))}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager
              page={Math.min(page, Math.max(0, Math.ceil(rows.length / PAGE_SIZE) - 1))}
              pageSize={PAGE_SIZE}
              total={rows.length}
              onPage={(p) => setQuery({ page: p || null })}
              note={rows.length >= 100 ? "at most 100 per state" : undefined}
            />
          </>
        )}
      </Panel>
    </>
  );
}
