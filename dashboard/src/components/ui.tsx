// Small building blocks shared by the pages.
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { ApiError, NetworkError } from "../api/client";
import { STATE_LABELS, stateName } from "../format";

export function StateBadge({ state, label }: { state: number; label?: string }) {
  const name = stateName(state);
  return (
    <span class={`badge badge-${name}`} data-state={name}>
      <span class="dot" />
      {label ?? STATE_LABELS[name]}
    </span>
  );
}

export function Pill({ tone, children }: { tone: "green" | "amber" | "red" | "gray" | "blue"; children: ComponentChildren }) {
  return <span class={`pill pill-${tone}`}>{children}</span>;
}

export function Spinner() {
  return <span class="spinner" aria-hidden="true" />;
}

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <div class="state-box" role="status">
      <Spinner /> {what}…
    </div>
  );
}

/** Turns an error into a sentence a user can act on. */
export function explain(error: Error): { title: string; detail: string } {
  if (error instanceof NetworkError) {
    return { title: "Cannot reach the petri server", detail: `${error.message}. Is the broker still running?` };
  }
  if (error instanceof ApiError) {
    if (error.accessDenied) {
      return {
        title: "Access denied",
        detail: `${error.message}. The key you signed in with must belong to a member of the colony (an approved executor or a user).`,
      };
    }
    if (error.status === 404) return { title: "Not found", detail: error.message };
    return { title: `The server refused the request (${error.status})`, detail: error.message };
  }
  return { title: "Something went wrong", detail: error.message };
}

export function ErrorBox({ error, onRetry, compact }: { error: Error; onRetry?: () => void; compact?: boolean }) {
  const { title, detail } = explain(error);
  return (
    <div class={compact ? "error-box compact" : "error-box"} role="alert">
      <div>
        <strong>{title}</strong>
        <div class="error-detail">{detail}</div>
      </div>
      {onRetry && (
        <button class="btn btn-small" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="empty">
      <div class="empty-title">{title}</div>
      {children && <div class="empty-body">{children}</div>}
    </div>
  );
}

export function Panel({
  title,
  actions,
  children,
  class: cls,
  flush,
}: {
  title?: ComponentChildren;
  actions?: ComponentChildren;
  children: ComponentChildren;
  class?: string;
  flush?: boolean;
}) {
  return (
    <section class={`panel ${cls ?? ""}`}>
      {(title || actions) && (
        <header class="panel-head">
          <h2>{title}</h2>
          {actions && <div class="panel-actions">{actions}</div>}
        </header>
      )}
      <div class={flush ? "panel-body flush" : "panel-body"}>{children}</div>
    </section>
  );
}

export function KeyValues({ rows }: { rows: [ComponentChildren, ComponentChildren][] }) {
  return (
    <dl class="kv">
      {rows.map(([k, v], i) => (
        <div class="kv-row" key={i}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

export function Json({ value, testid }: { value: unknown; testid?: string }) {
  return (
    <pre class="json" data-testid={testid}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

/** A list of values (process input or output), one per row with its index. */
export function Values({ values, empty, testid }: { values: unknown[] | null | undefined; empty: string; testid?: string }) {
  if (!values || values.length === 0) {
    return (
      <div class="muted" data-testid={testid} data-empty="true">
        {empty}
      </div>
    );
  }
  return (
    <ol class="values" data-testid={testid}>
      {values.map((v, i) => (
        <li key={i}>
          <span class="value-index">{i}</span>
          <code class="value">{typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v, null, 1)}</code>
        </li>
      ))}
    </ol>
  );
}

export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      window.setTimeout(() => setCopied(false), 1200);
    } catch {
      window.prompt("Copy this:", text);
    }
  };
  return (
    <button class="btn btn-ghost btn-small" onClick={copy} title={`Copy ${text}`}>
      {copied ? "Copied" : label}
    </button>
  );
}

export function Mono({ children, title }: { children: ComponentChildren; title?: string }) {
  return (
    <code class="mono" title={title}>
      {children}
    </code>
  );
}

export function Pager({
  page,
  pageSize,
  total,
  onPage,
  note,
}: {
  page: number;
  pageSize: number;
  total: number;
  onPage: (p: number) => void;
  note?: string;
}) {
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const from = total === 0 ? 0 : page * pageSize + 1;
  const to = Math.min(total, (page + 1) * pageSize);
  return (
    <div class="pager">
      <span class="muted">
        {from}–{to} of {total}
        {note ? ` · ${note}` : ""}
      </span>
      <div class="pager-buttons">
        <button class="btn btn-small" disabled={page <= 0} onClick={() => onPage(page - 1)}>
          ‹ Previous
        </button>
        <span class="pager-page">
          Page {page + 1} of {pages}
        </span>
        <button class="btn btn-small" disabled={page >= pages - 1} onClick={() => onPage(page + 1)}>
          Next ›
        </button>
      </div>
    </div>
  );
}

export function Tabs<T extends string | number>({
  tabs,
  value,
  onChange,
}: {
  tabs: { value: T; label: ComponentChildren; count?: number; tone?: string }[];
  value: T;
  onChange: (v: T) => void;
}) {
  return (
    <div class="tabs" role="tablist">
      {tabs.map((t) => (
        <button
          key={String(t.value)}
          role="tab"
          aria-selected={t.value === value}
          class={`tab ${t.value === value ? "active" : ""} ${t.tone ? `tab-${t.tone}` : ""}`}
          onClick={() => onChange(t.value)}
        >
          {t.label}
          {t.count !== undefined && <span class="tab-count">{t.count.toLocaleString()}</span>}
        </button>
      ))}
    </div>
  );
}

export function PageHeader({ title, sub, actions }: { title: ComponentChildren; sub?: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <div class="page-header">
      <div>
        <h1>{title}</h1>
        {sub && <div class="page-sub">{sub}</div>}
      </div>
      {actions && <div class="page-actions">{actions}</div>}
    </div>
  );
}

/** "Updated 3 s ago" with a refresh button; shows a stale warning on error. */
export function Freshness({ updatedAt, error, onRefresh, now }: { updatedAt: number | null; error: Error | null; onRefresh: () => void; now: number }) {
  const age = updatedAt ? Math.max(0, Math.round((now - updatedAt) / 1000)) : null;
  return (
    <div class="freshness">
      {error && updatedAt ? (
        <span class="stale" title={error.message}>
          Refresh failed; showing data from {age} s ago
        </span>
      ) : (
        <span class="muted">{age === null ? "Loading…" : age < 2 ? "Updated just now" : `Updated ${age} s ago`}</span>
      )}
      <button class="btn btn-ghost btn-small" onClick={onRefresh} title="Refresh now">
        ↻ Refresh
      </button>
    </div>
  );
}
