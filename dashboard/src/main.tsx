import { render } from "preact";
import { useEffect } from "preact/hooks";
import { Layout } from "./components/Layout";
import { Empty, PageHeader } from "./components/ui";
import { Executors } from "./pages/Executors";
import { Functions } from "./pages/Functions";
import { Overview } from "./pages/Overview";
import { ProcessPage } from "./pages/ProcessPage";
import { Processes } from "./pages/Processes";
import { SignIn } from "./pages/SignIn";
import { WorkflowPage } from "./pages/WorkflowPage";
import { Workflows } from "./pages/Workflows";
import { Link, location, match, navigate } from "./router";
import { session } from "./session";
import "./styles.css";

function NotFound() {
  return (
    <>
      <PageHeader title="Page not found" />
      <Empty title={`Nothing lives at ${location.value.path}`}>
        <Link href="/">Go to the overview</Link>
      </Empty>
    </>
  );
}

function App() {
  const { path } = location.value;
  const s = session.value;

  useEffect(() => {
    if (!s && path !== "/signin") {
      const next = path + window.location.search;
      navigate(`/signin${next !== "/" ? `?next=${encodeURIComponent(next)}` : ""}`, true);
    }
  }, [s, path]);

  if (path === "/signin") return <SignIn />;
  if (!s) return null;
  const client = s.client;

  let page;
  let m: Record<string, string> | null;
  if (path === "/") page = <Overview client={client} />;
  else if (path === "/processes") page = <Processes client={client} />;
  else if ((m = match("/processes/:id", path))) page = <ProcessPage key={m.id} client={client} id={m.id} />;
  else if (path === "/workflows") page = <Workflows client={client} />;
  else if ((m = match("/workflows/:id", path))) page = <WorkflowPage key={m.id} client={client} id={m.id} />;
  else if (path === "/executors") page = <Executors client={client} />;
  else if (path === "/functions") page = <Functions client={client} />;
  else page = <NotFound />;
  return <Layout>{page}</Layout>;
}

render(<App />, document.getElementById("app")!);
