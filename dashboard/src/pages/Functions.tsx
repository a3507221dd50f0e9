import type { Client } from "../api/client";
import type { ColonyFunction } from "../api/types";
import { Empty, ErrorBox, Freshness, Loading, PageHeader, Panel } from "../components/ui";
import { formatSeconds } from "../format";
import { useDocumentTitle, useNow, useQuery } from "../hooks";
import { Link } from "../router";

interface Group {
  funcname: string;
  calls: number;
  rows: ColonyFunction[];
}

function group(list: ColonyFunction[]): Group[] {
  const by = new Map<string, Group>();
  for (const f of list) {
    const g = by.get(f.funcname) ?? { funcname: f.funcname, calls: 0, rows: [] };
    g.calls += f.counter;
    g.rows.push(f);
    by.set(f.funcname, g);
  }
  for (const g of by.values()) g.rows.sort((a, b) => b.counter - a.counter || a.executorname.localeCompare(b.executorname));
  return [...by.values()].sort((a, b) => b.calls - a.calls || a.funcname.localeCompare(b.funcname));
}

/** Min, average and max in one cell; the bar shows the average against the slowest average. */
function Timing({ min, avg, max, scale, calls }: { min: number; avg: number; max: number; scale: number; calls: number }) {
  if (!calls) return <span class="muted">no calls yet</span>;
  return (
    <div class="timing">
      <div class="timing-nums">
        <span class="muted">{formatSeconds(min)}</span>
        <strong>{formatSeconds(avg)}</strong>
        <span class="muted">{formatSeconds(max)}</span>
      </div>
      <div class="timing-bar">
        <div style={{ width: `${Math.max(2, Math.min(100, (100 * avg) / Math.max(scale, 1e-9)))}%` }} />
      </div>
    </div>
  );
}

export function Functions({ client }: { client: Client }) {
  useDocumentTitle("Functions");
  const now = useNow(1000);
  const list = useQuery(() => client.functions(), [client], 8000);
  const executors = useQuery(() => client.executors(), [client], 30000);
  const typeOf = (f: ColonyFunction) =>
    f.executortype || executors.data?.find((e) => e.executorname === f.executorname)?.executortype || "—";
  const groups = group(list.data ?? []);
  const maxExec = Math.max(0, ...(list.data ?? []).map((f) => f.avgexectime));
  const maxWait = Math.max(0, ...(list.data ?? []).map((f) => f.avgwaittime));

  return (
    <>
      <PageHeader
        title="Functions"
        sub="What executors declared they can run, with call counts and timings of successful calls"
        actions={<Freshness updatedAt={list.updatedAt} error={list.error} onRefresh={list.reload} now={now} />}
      />
      <Panel flush>
        {list.error && !list.data ? (
          <ErrorBox error={list.error} onRetry={list.reload} />
        ) : !list.data ? (
          <Loading what="Loading functions" />
        ) : groups.length === 0 ? (
          <Empty title="No functions registered">Executors declare functions with <code>addfunctionmsg</code> when they start.</Empty>
        ) : (
          <table class="table functions" data-testid="function-table">
            <thead>
              <tr>
                <th>Function</th>
                <th>Executor</th>
                <th class="right">Calls</th>
                <th class="timing-head">
                  Time in queue <span class="muted">min · avg · max</span>
                </th>
                <th class="timing-head">
                  Run time <span class="muted">min · avg · max</span>
                </th>
              </tr>
            </thead>
            {groups.map((g) => (
              <tbody key={g.funcname} class="fn-group" data-function={g.funcname}>
                {g.rows.map((f, i) => (
                  <tr key={f.functionid}>
                    {i === 0 && (
                      <td rowSpan={g.rows.length} class="fn-name">
                        <div class="strong">{g.funcname}</div>
                        <div class="muted small" data-testid="function-calls">
                          {g.calls.toLocaleString()} call{g.calls === 1 ? "" : "s"} on {g.rows.length} executor{g.rows.length === 1 ? "" : "s"}
                        </div>
                      </td>
                    )}
                    <td class="nowrap">
                      <Link href="/executors">{f.executorname}</Link>
                      <div class="muted small">{typeOf(f)}</div>
                    </td>
                    <td class="right num">{f.counter.toLocaleString()}</td>
                    <td>
                      <Timing min={f.minwaittime} avg={f.avgwaittime} max={f.maxwaittime} scale={maxWait} calls={f.counter} />
                    </td>
                    <td>
                      <Timing min={f.minexectime} avg={f.avgexectime} max={f.maxexectime} scale={maxExec} calls={f.counter} />
                    </td>
                  </tr>
                ))}
              </tbody>
            ))}
          </table>
        )}
      </Panel>
      <p class="muted small footnote">
        The broker keeps these figures per executor; its average is a running blend of the latest calls, as in Colonies.
      </p>
    </>
  );
}
