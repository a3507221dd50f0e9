import { useEffect, useState } from "preact/hooks";
import type { Client } from "../api/client";
import type { Executor } from "../api/types";
import { EXECUTOR_APPROVED, EXECUTOR_PENDING, EXECUTOR_REJECTED, EXECUTOR_REMOVED, RUNNING } from "../api/types";
import { Empty, ErrorBox, Freshness, Loading, Mono, PageHeader, Panel, Pill, Spinner, Tabs } from "../components/ui";
import { executorStateName, formatDateTime, parseTime, relative, shortId } from "../format";
import { useDocumentTitle, useNow, useQuery } from "../hooks";
import { location, setQuery } from "../router";
import { session, setOwnerKey } from "../session";
import { isOnline, ONLINE_WINDOW_MS } from "./Overview";
import { verifyOwner } from "./SignIn";

type Action = "approve" | "reject" | "remove";

const TONES: Record<number, "green" | "amber" | "red" | "gray"> = {
  [EXECUTOR_PENDING]: "amber",
  [EXECUTOR_APPROVED]: "green",
  [EXECUTOR_REJECTED]: "red",
  [EXECUTOR_REMOVED]: "gray",
};

const FILTERS = [
  { value: "all", label: "All", states: [0, 1, 2, 3] },
  { value: "pending", label: "Pending", states: [EXECUTOR_PENDING] },
  { value: "approved", label: "Approved", states: [EXECUTOR_APPROVED] },
  { value: "rejected", label: "Rejected", states: [EXECUTOR_REJECTED] },
  { value: "removed", label: "Removed", states: [EXECUTOR_REMOVED] },
];

export function Executors({ client }: { client: Client }) {
  useDocumentTitle("Executors");
  const now = useNow(1000);
  const list = useQuery(() => client.executors(), [client], 5000);
  const running = useQuery(() => client.processes(RUNNING, 100), [client], 5000);
  const owner = session.value?.owner ?? null;
  const [notice, setNotice] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const filter = location.value.query.get("show") ?? "all";
  const states = FILTERS.find((f) => f.value === filter)?.states ?? FILTERS[0].states;

  const act = async (e: Executor, action: Action) => {
    if (!owner) return;
    setBusy(`${e.executorname}:${action}`);
    setNotice(null);
    try {
      await client.changeExecutor(action, e.executorname, owner);
      const past = { approve: "Approved", reject: "Rejected", remove: "Removed" }[action];
      setNotice({ ok: true, text: `${past} executor ${e.executorname}.` });
      list.reload();
    } catch (err) {
      setNotice({ ok: false, text: `Could not ${action} ${e.executorname}: ${(err as Error).message}` });
    } finally {
      setBusy(null);
    }
  };

  const runningBy = new Map<string, number>();
  for (const p of running.data ?? []) runningBy.set(p.assignedexecutorid, (runningBy.get(p.assignedexecutorid) ?? 0) + 1);
  const all = list.data ?? [];
  const rows = all.filter((e) => states.includes(e.state)).sort((a, b) => a.state - b.state || a.executorname.localeCompare(b.executorname));
  const count = (s: number[]) => all.filter((e) => s.includes(e.state)).length;

  return (
    <>
      <PageHeader
        title="Executors"
        sub={`Workers registered in this colony; online means approved and asked for work in the last ${ONLINE_WINDOW_MS / 60000} minutes`}
        actions={<Freshness updatedAt={list.updatedAt} error={list.error} onRefresh={list.reload} now={now} />}
      />
      <OwnerKey client={client} />
      {notice && (
        <div class={notice.ok ? "notice notice-ok" : "notice notice-error"} role="status" data-testid="executor-notice">
          {notice.text}
        </div>
      )}
      <Tabs
        value={filter}
        onChange={(v) => setQuery({ show: v === "all" ? null : v })}
        tabs={FILTERS.map((f) => ({ value: f.value, label: f.label, count: list.data ? count(f.states) : undefined }))}
      />
      <Panel flush>
        {list.error && !list.data ? (
          <ErrorBox error={list.error} onRetry={list.reload} />
        ) : !list.data ? (
          <Loading what="Loading executors" />
        ) : rows.length === 0 ? (
          <Empty title={filter === "all" ? "No executors registered" : `No ${filter} executors`}>
            Executors register themselves with <code>addexecutormsg</code> (signed by the colony owner) and then wait for approval.
          </Empty>
        ) : (
          <div class="table-scroll">
          <table class="table" data-testid="executor-table">
            <thead>
              <tr>
                <th>Executor</th>
                <th>State</th>
                <th class="right">Running</th>
                <th>Activity</th>
                <th class="right">Actions</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((e) => (
                <tr key={e.executorid + e.executorname} data-executor={e.executorname} data-state={executorStateName(e.state)}>
                  <td class="nowrap">
                    <div class="exec-name">
                      <span class={`dot ${isOnline(e, now) ? "dot-online" : "dot-offline"}`} title={isOnline(e, now) ? "online" : "offline"} />
                      <span class="strong">{e.executorname}</span>
                    </div>
                    <div class="exec-sub">
                      <span class="exec-type">{e.executortype}</span>
                      {e.locationname && <span> · {e.locationname}</span>} · <Mono title={e.executorid}>{shortId(e.executorid, 12)}</Mono>
                    </div>
                  </td>
                  <td>
                    <Pill tone={TONES[e.state] ?? "gray"}>{executorStateName(e.state)}</Pill>
                  </td>
                  <td class="right num">{runningBy.get(e.executorid) ?? 0}</td>
                  <td class="nowrap">
                    <div title={formatDateTime(parseTime(e.lastheardfromtime))}>
                      {parseTime(e.lastheardfromtime) === null ? "never asked for work" : `heard ${relative(parseTime(e.lastheardfromtime), now)}`}
                    </div>
                    <div class="muted small" title={formatDateTime(parseTime(e.commissiontime))}>
                      registered {relative(parseTime(e.commissiontime), now)}
                    </div>
                  </td>
                  <td class="right actions nowrap">
                    <Actions e={e} owner={Boolean(owner)} busy={busy} onAct={(a) => void act(e, a)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          </div>
        )}
      </Panel>
    </>
  );
}

function Actions({ e, owner, busy, onAct }: { e: Executor; owner: boolean; busy: string | null; onAct: (a: Action) => void }) {
  const [confirm, setConfirm] = useState(false);
  useEffect(() => {
    if (!confirm) return;
    const t = window.setTimeout(() => setConfirm(false), 5000);
    return () => window.clearTimeout(t);
  }, [confirm]);
  const title = owner ? undefined : "Enter the colony owner key above to manage executors";
  const working = (a: Action) => busy === `${e.executorname}:${a}`;
  const button = (a: Action, label: string, cls: string) => (
    <button class={`btn btn-small ${cls}`} disabled={!owner || busy !== null} title={title} onClick={() => onAct(a)} data-action={a}>
      {working(a) ? <Spinner /> : label}
    </button>
  );
  if (e.state === EXECUTOR_REMOVED) return <span class="muted small">removed</span>;
  return (
    <span class="action-group">
      {e.state !== EXECUTOR_APPROVED && button("approve", "Approve", "btn-success")}
      {e.state !== EXECUTOR_REJECTED && button("reject", "Reject", "")}
      {confirm ? (
        <button
          class="btn btn-small btn-danger"
          disabled={!owner || busy !== null}
          onClick={() => {
            setConfirm(false);
            onAct("remove");
          }}
          data-action="confirm-remove"
        >
          {working("remove") ? <Spinner /> : "Confirm removal"}
        </button>
      ) : (
        <button class="btn btn-small btn-danger-ghost" disabled={!owner || busy !== null} title={title} onClick={() => setConfirm(true)} data-action="remove">
          Remove
        </button>
      )}
    </span>
  );
}

/** The colony owner's key: entered here (or at sign-in), checked against the colony id, kept in this browser. */
function OwnerKey({ client }: { client: Client }) {
  const owner = session.value?.owner ?? null;
  const [text, setText] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  if (owner) {
    return (
      <div class="owner-bar owner-on" data-testid="owner-key-active">
        <span>
          <strong>Colony owner key in use</strong> <span class="muted">(id {shortId(owner.id, 12)}…): you can approve, reject and remove executors.</span>
        </span>
        <button class="btn btn-ghost btn-small" onClick={() => setOwnerKey(null)}>
          Forget key
        </button>
      </div>
    );
  }
  const use = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await verifyOwner(client, text);
      setOwnerKey(text);
      setText("");
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="owner-bar" onSubmit={use} data-testid="owner-key-form">
      <span class="owner-text">
        <strong>Managing executors needs the colony owner's key.</strong>{" "}
        <span class="muted">It is checked against the colony id and kept only in this browser.</span>
      </span>
      <input
        type="password"
        name="ownerkey"
        class="mono-input"
        placeholder="colony owner private key"
        value={text}
        onInput={(ev) => setText(ev.currentTarget.value)}
        autoComplete="off"
        spellcheck={false}
      />
      <button class="btn btn-small btn-primary" type="submit" disabled={busy || !text.trim()}>
        {busy ? <Spinner /> : "Use key"}
      </button>
      {error && <span class="text-red small owner-error">{error}</span>}
    </form>
  );
}
