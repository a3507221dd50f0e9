import type { ComponentChildren } from "preact";
import { location, Link, navigate } from "../router";
import { session, signOut } from "../session";
import { shortId } from "../format";

const NAV = [
  { href: "/", label: "Overview", icon: "◎", match: (p: string) => p === "/" },
  { href: "/processes", label: "Processes", icon: "▤", match: (p: string) => p.startsWith("/processes") },
  { href: "/workflows", label: "Workflows", icon: "⋔", match: (p: string) => p.startsWith("/workflows") },
  { href: "/executors", label: "Executors", icon: "⚙", match: (p: string) => p.startsWith("/executors") },
  { href: "/functions", label: "Functions", icon: "ƒ", match: (p: string) => p.startsWith("/functions") },
];

export function Logo() {
  return (
    <svg class="logo" viewBox="0 0 32 32" aria-hidden="true">
      <circle cx="16" cy="16" r="15" fill="#0f766e" />
      <circle cx="11" cy="13" r="4" fill="#ccfbf1" />
      <circle cx="21" cy="12" r="3" fill="#99f6e4" />
      <circle cx="18" cy="21" r="5" fill="#5eead4" />
    </svg>
  );
}

export function Layout({ children }: { children: ComponentChildren }) {
  const s = session.value;
  const path = location.value.path;
  return (
    <div class="shell">
      <aside class="sidebar">
        <Link href="/" class="brand">
          <Logo />
          <span>petri</span>
        </Link>
        <nav>
          {NAV.map((n) => (
            <Link key={n.href} href={n.href} class={n.match(path) ? "nav-item active" : "nav-item"} data-nav={n.label}>
              <span class="nav-icon">{n.icon}</span>
              {n.label}
            </Link>
          ))}
        </nav>
        {s && (
          <div class="sidebar-foot">
            <div class="who">
              <div class="who-label">Colony</div>
              <div class="who-colony" data-testid="colony-name">
                {s.colony}
              </div>
              <div class="who-label">Signed in as</div>
              <code class="who-id" title={s.client.key.id}>
                {shortId(s.client.key.id, 16)}…
              </code>
              {s.owner && <div class="who-owner">+ colony owner key</div>}
            </div>
            <button
              class="btn btn-dark btn-small"
              onClick={() => {
                signOut();
                navigate("/signin");
              }}
            >
              Sign out
            </button>
          </div>
        )}
      </aside>
      <main class="content">{children}</main>
    </div>
  );
}
