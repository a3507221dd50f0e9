// A workflow's DAG laid out by dagre and drawn as SVG, nodes coloured by state.
import dagre from "@dagrejs/dagre";
import { useMemo } from "preact/hooks";
import type { Process } from "../api/types";
import { formatSeconds, shortId, stateName } from "../format";
import { timings } from "../pages/Processes";

const NODE_W = 212;
const NODE_H = 62;
const MARGIN = 24;

interface Layout {
  width: number;
  height: number;
  nodes: Map<string, { x: number; y: number }>;
  edges: { from: string; to: string; points: { x: number; y: number }[] }[];
}

/** Left to right: workflows are read as stages, and a laptop screen is wider than tall. */
function layout(ids: string[], edges: [string, string][]): Layout {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 76, marginx: MARGIN, marginy: MARGIN });
  g.setDefaultEdgeLabel(() => ({}));
  // dagre's ordering pass lays siblings out in reverse insertion order, so
  // inserting in reverse keeps them in submission order (lumi-0 above lumi-1).
  for (const id of [...ids].reverse()) g.setNode(id, { width: NODE_W, height: NODE_H });
  for (const [a, b] of [...edges].reverse()) g.setEdge(a, b);
  dagre.layout(g);
  const nodes = new Map<string, { x: number; y: number }>();
  for (const id of ids) {
    const n = g.node(id);
    nodes.set(id, { x: n.x, y: n.y });
  }
  const drawn = edges.map(([from, to]) => {
    const a = nodes.get(from)!;
    const b = nodes.get(to)!;
    // Leave the source on its right side and enter the target on its left;
    // an edge that skips ranks keeps dagre's bends in between.
    const bends = ((g.edge(from, to)?.points ?? []) as { x: number; y: number }[]).slice(1, -1);
    const start = { x: a.x + NODE_W / 2, y: a.y };
    const end = { x: b.x - NODE_W / 2 - 1, y: b.y };
    return { from, to, points: [start, ...(bends.length > 1 ? bends : []), end] };
  });
  const graph = g.graph();
  return { width: Math.max(graph.width ?? 0, NODE_W + 2 * MARGIN), height: Math.max(graph.height ?? 0, NODE_H + 2 * MARGIN), nodes, edges: drawn };
}

/** A horizontal S-curve between two points, or a smooth path through more. */
function path(points: { x: number; y: number }[]): string {
  if (points.length === 0) return "";
  if (points.length === 2) {
    const [a, b] = points;
    const dx = Math.max(24, (b.x - a.x) / 2);
    return `M${a.x},${a.y} C${a.x + dx},${a.y} ${b.x - dx},${b.y} ${b.x},${b.y}`;
  }
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length - 1; i++) {
    const p = points[i];
    const n = points[i + 1];
    d += ` Q${p.x},${p.y} ${(p.x + n.x) / 2},${(p.y + n.y) / 2}`;
  }
  const last = points[points.length - 1];
  return d + ` L${last.x},${last.y}`;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const STATE_TEXT = ["waiting", "running", "successful", "failed"];

export function Dag({
  ids,
  processes,
  selected,
  onSelect,
  now,
  fit,
}: {
  ids: string[];
  processes: Record<string, Process>;
  selected: string | null;
  onSelect: (id: string) => void;
  now: number;
  fit: boolean;
}) {
  // The layout depends only on the structure, so nodes do not move as states change.
  const known = ids.filter((id) => processes[id]);
  const edgeList: [string, string][] = [];
  for (const id of known) {
    for (const parent of processes[id].parents ?? []) if (processes[parent]) edgeList.push([parent, id]);
  }
  const structure = known.join(",") + "|" + edgeList.map((e) => e.join(">")).join(",");
  const l = useMemo(() => layout(known, edgeList), [structure]);

  return (
    <svg
      class={fit ? "dag fit" : "dag"}
      viewBox={`0 0 ${l.width} ${l.height}`}
      width={l.width}
      height={l.height}
      role="img"
      aria-label="workflow graph"
      data-testid="dag"
    >
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
          <path d="M0,0 L10,5 L0,10 z" class="arrow-head" />
        </marker>
      </defs>
      {l.edges.map((e) => {
        const src = processes[e.from];
        const cls = `dag-edge edge-${stateName(src?.state ?? 0)}`;
        return <path key={`${e.from}>${e.to}`} d={path(e.points)} class={cls} marker-end="url(#arrow)" />;
      })}
      {known.map((id) => {
        const p = processes[id];
        const pos = l.nodes.get(id);
        if (!pos) return null;
        const name = stateName(p.state);
        const t = timings(p, now);
        const meta =
          p.state === 0
            ? p.waitforparents
              ? "waiting for parents"
              : `queued ${formatSeconds(t.waited)}`
            : p.state === 1
              ? `running ${formatSeconds(t.ran)}`
              : p.state === 2
                ? `done in ${formatSeconds(t.ran)}`
                : "failed";
        return (
          <g
            key={id}
            class={`dag-node node-${name} ${selected === id ? "selected" : ""}`}
            transform={`translate(${pos.x - NODE_W / 2},${pos.y - NODE_H / 2})`}
            onClick={() => onSelect(id)}
            data-testid="dag-node"
            data-state={STATE_TEXT[p.state]}
            data-nodename={p.spec.nodename}
            data-processid={id}
            tabIndex={0}
            onKeyDown={(e) => {
              if (e.key === "Enter" || e.key === " ") onSelect(id);
            }}
          >
            <title>{`${p.spec.nodename || p.spec.funcname} (${STATE_TEXT[p.state]})\n${id}`}</title>
            <rect class="node-box" width={NODE_W} height={NODE_H} rx="8" />
            <rect class="node-strip" width="6" height={NODE_H} rx="3" />
            <text class="node-title" x="16" y="21">
              {clip(p.spec.nodename || p.spec.funcname || shortId(id), 22)}
            </text>
            <text class="node-sub" x="16" y="37">
              {clip(p.spec.conditions.executortype, 31)}
            </text>
            <text class="node-meta" x="16" y="53">
              {clip(p.spec.nodename ? `${p.spec.funcname} · ${meta}` : meta, 34)}
            </text>
            <StateIcon state={p.state} x={NODE_W - 20} y={18} />
          </g>
        );
      })}
    </svg>
  );
}

function StateIcon({ state, x, y }: { state: number; x: number; y: number }) {
  if (state === 2) {
    return (
      <g transform={`translate(${x},${y})`} class="icon icon-successful">
        <circle r="8" />
        <path d="M-3.5,0 L-1,2.8 L3.8,-2.6" />
      </g>
    );
  }
  if (state === 3) {
    return (
      <g transform={`translate(${x},${y})`} class="icon icon-failed">
        <circle r="8" />
        <path d="M-3,-3 L3,3 M3,-3 L-3,3" />
      </g>
    );
  }
  if (state === 1) {
    return (
      <g transform={`translate(${x},${y})`} class="icon icon-running">
        <circle r="7" class="spin-track" />
        <path d="M0,-7 A7,7 0 0 1 7,0" class="spin-arc" />
      </g>
    );
  }
  return (
    <g transform={`translate(${x},${y})`} class="icon icon-waiting">
      <circle r="7" />
    </g>
  );
}
